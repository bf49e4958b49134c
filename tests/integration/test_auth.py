"""Credentials: every route but /health needs them; Basic and Bearer both work."""

from __future__ import annotations

import time

import httpx
import pytest

from tests.integration.snapshot import snapshot
from tests.server import ROOT_KEY, XoloServer

ROUTES = [
    ("GET", "/metrics"),
    ("GET", "/openapi.json"),
    ("POST", "/v1/auth/token"),
    ("GET", "/v1/buckets"),
    ("PUT", "/v1/buckets/some-bucket"),
    ("GET", "/v1/buckets/some-bucket"),
    ("DELETE", "/v1/buckets/some-bucket"),
    ("GET", "/v1/buckets/some-bucket/objects"),
    ("PUT", "/v1/buckets/some-bucket/objects/k"),
    ("POST", "/v1/buckets/some-bucket/objects/k"),
    ("GET", "/v1/buckets/some-bucket/objects/k"),
    ("DELETE", "/v1/buckets/some-bucket/objects/k"),
    ("POST", "/v1/buckets/some-bucket/uploads"),
    ("PUT", "/v1/uploads/some-upload"),
    ("POST", "/v1/chunks/has"),
    ("PUT", "/v1/chunks/" + "0" * 64),
    ("GET", "/v1/chunks/" + "0" * 64),
]


def test_health_needs_no_credentials(server: XoloServer) -> None:
    doc = httpx.get(f"{server.url}/health").json()
    assert doc["status"] == "ok" and doc["role"] == "single" and doc["version"]
    assert doc["uptime_seconds"] >= 0 and doc["disk_free_bytes"] > 0


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_credentials(server: XoloServer, method: str, path: str) -> None:
    with httpx.Client(base_url=server.url) as anon:
        r = anon.request(method, path, content=b"x")
        assert r.status_code == 401, (method, path, r.text)
        assert r.json()["error"]["code"] == "Unauthenticated"
        r = anon.request(method, path, content=b"x", auth=(ROOT_KEY, "wrong"))
        assert r.status_code == 401 and r.json()["error"]["code"] == "InvalidCredentials"
        r = anon.request(method, path, content=b"x", auth=("NOSUCHKEY", "wrong"))
        assert r.status_code == 401
        r = anon.request(method, path, headers={"authorization": "Bearer not.a.token"})
        assert r.status_code == 401
        r = anon.request(method, path, headers={"authorization": "Digest abc"})
        assert r.status_code == 401


def test_wrong_credentials_change_nothing(
    server: XoloServer, http: httpx.Client, bucket: str
) -> None:
    http.put(f"/v1/buckets/{bucket}/objects/keep", content=b"original")
    before = snapshot(http, bucket)
    with httpx.Client(base_url=server.url, auth=(ROOT_KEY, "wrong")) as bad:
        assert bad.put(f"/v1/buckets/{bucket}/objects/keep", content=b"evil").status_code == 401
        assert bad.put(f"/v1/buckets/{bucket}/objects/new", content=b"evil").status_code == 401
        assert bad.delete(f"/v1/buckets/{bucket}/objects/keep").status_code == 401
        assert bad.delete(f"/v1/buckets/{bucket}").status_code == 401
    assert snapshot(http, bucket) == before


def test_bearer_tokens(server: XoloServer, http: httpx.Client, bucket: str) -> None:
    doc = http.post("/v1/auth/token").json()
    assert doc["token_type"] == "Bearer" and doc["expires_at"].endswith("Z")
    bearer = {"authorization": f"Bearer {doc['token']}"}
    with httpx.Client(base_url=server.url, headers=bearer) as client:
        assert client.put(f"/v1/buckets/{bucket}/objects/t", content=b"tok").status_code == 200
        assert client.get(f"/v1/buckets/{bucket}/objects/t").content == b"tok"
    short = http.post("/v1/auth/token", json={"ttl": 1}).json()["token"]
    time.sleep(2.1)
    r = httpx.get(f"{server.url}/v1/buckets", headers={"authorization": f"Bearer {short}"})
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]
    assert http.post("/v1/auth/token", json={"ttl": 0}).status_code == 400
    assert http.post("/v1/auth/token", json={"ttl": 10**9}).status_code == 400
    tampered = doc["token"][:-2] + ("AA" if not doc["token"].endswith("AA") else "BB")
    r = httpx.get(f"{server.url}/v1/buckets", headers={"authorization": f"Bearer {tampered}"})
    assert r.status_code == 401


def test_public_read_buckets(server: XoloServer, http: httpx.Client, bucket: str) -> None:
    http.put(f"/v1/buckets/{bucket}/objects/pub", content=b"hello")
    with httpx.Client(base_url=server.url) as anon:
        assert anon.get(f"/v1/buckets/{bucket}/objects/pub").status_code == 401
        assert http.put(f"/v1/buckets/{bucket}", json={"public_read": True}).status_code == 200
        assert anon.get(f"/v1/buckets/{bucket}/objects/pub").content == b"hello"
        assert anon.get(f"/v1/buckets/{bucket}/objects").json()["objects"][0]["key"] == "pub"
        assert anon.put(f"/v1/buckets/{bucket}/objects/pub", content=b"evil").status_code == 401
        assert anon.delete(f"/v1/buckets/{bucket}/objects/pub").status_code == 401
    assert http.get(f"/v1/buckets/{bucket}/objects/pub").content == b"hello"


def test_metrics_and_openapi(http: httpx.Client) -> None:
    http.get("/v1/buckets")
    text = http.get("/metrics").text
    assert 'xolo_http_requests_total{method="GET",route="buckets",status="200"}' in text
    assert "xolo_http_request_seconds_bucket" in text
    doc = http.get("/openapi.json").json()
    assert doc["openapi"].startswith("3.")
    for path in ["/v1/buckets/{bucket}/objects/{key}", "/v1/chunks/has", "/v1/uploads/{upload_id}"]:
        assert path in doc["paths"]
