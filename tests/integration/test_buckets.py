from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.server import XoloServer


def test_bucket_lifecycle(http: httpx.Client) -> None:
    r = http.put("/v1/buckets/life-cycle", json={"replication": 2})
    assert r.status_code == 201
    assert r.json()["settings"] == {"replication": 2, "write_quorum": None, "public_read": False}
    r = http.put("/v1/buckets/life-cycle", json={"replication": 3, "public_read": True})
    assert r.status_code == 200 and r.json()["settings"]["replication"] == 3
    assert "life-cycle" in [b["name"] for b in http.get("/v1/buckets").json()["buckets"]]
    http.put("/v1/buckets/life-cycle/objects/a", content=b"12345")
    http.put("/v1/buckets/life-cycle/objects/b/c", content=b"1" * 5000)
    doc = http.get("/v1/buckets/life-cycle").json()
    assert (doc["object_count"], doc["bytes"]) == (2, 5005)
    r = http.delete("/v1/buckets/life-cycle")
    assert r.status_code == 409 and r.json()["error"]["code"] == "BucketNotEmpty"
    http.delete("/v1/buckets/life-cycle/objects/a")
    http.delete("/v1/buckets/life-cycle/objects/b/c")
    assert http.delete("/v1/buckets/life-cycle").status_code == 204
    assert http.get("/v1/buckets/life-cycle").status_code == 404
    assert http.delete("/v1/buckets/life-cycle").status_code == 404


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("ab", "3 to 63"),
        ("Upper", "lowercase"),
        ("a..b", "adjacent"),
        ("10.0.0.1", "IP address"),
        ("bad_name", "lowercase"),
        ("-dash", "begin and end"),
    ],
)
def test_bad_bucket_names(http: httpx.Client, name: str, rule: str) -> None:
    r = http.put(f"/v1/buckets/{name}")
    assert r.status_code == 400
    err = r.json()["error"]
    assert err["code"] == "InvalidBucketName" and rule in err["message"] and err["request_id"]
    assert name not in [b["name"] for b in http.get("/v1/buckets").json()["buckets"]]


@pytest.mark.parametrize(
    "body",
    [
        b"[1]",
        b"{not json",
        b'{"replication": 0}',
        b'{"replication": "2"}',
        b'{"colour": "red"}',
        b'{"public_read": "yes"}',
    ],
)
def test_bad_bucket_settings(http: httpx.Client, body: bytes) -> None:
    r = http.put("/v1/buckets/settings-test", content=body)
    assert r.status_code == 400, r.text
    assert http.get("/v1/buckets/settings-test").status_code == 404


def test_a_settings_update_changes_only_the_settings_it_names(http: httpx.Client) -> None:
    http.put("/v1/buckets/partial-update", json={"replication": 3, "public_read": True})
    r = http.put("/v1/buckets/partial-update")  # no body: nothing to change
    assert r.status_code == 200
    assert r.json()["settings"] == {"replication": 3, "write_quorum": None, "public_read": True}
    r = http.put("/v1/buckets/partial-update", json={"write_quorum": 2})
    assert r.json()["settings"] == {"replication": 3, "write_quorum": 2, "public_read": True}
    r = http.put("/v1/buckets/partial-update", json={"write_quorum": 4})
    assert r.status_code == 400 and "may not exceed" in r.json()["error"]["message"]
    assert http.get("/v1/buckets/partial-update").json()["settings"]["write_quorum"] == 2


def test_exactly_one_of_racing_creations_answers_201(server: XoloServer) -> None:
    def create(i: int) -> int:
        with server.client() as c:
            body = {"replication": 1 + i % 3, "public_read": i % 2 == 0}
            return c.put("/v1/buckets/raced-creation", json=body).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(create, range(16)))
    assert sorted(codes) == [200] * 15 + [201]


def test_unknown_bucket(http: httpx.Client) -> None:
    for method, path in [
        ("GET", "/v1/buckets/nope-nope"),
        ("GET", "/v1/buckets/nope-nope/objects"),
        ("PUT", "/v1/buckets/nope-nope/objects/k"),
        ("GET", "/v1/buckets/nope-nope/objects/k"),
        ("POST", "/v1/buckets/nope-nope/objects/k"),
        ("DELETE", "/v1/buckets/nope-nope/objects/k"),
    ]:
        r = http.request(method, path, content=b"x")
        assert r.status_code == 404 and r.json()["error"]["code"] == "NoSuchBucket", (method, path)
    r = http.post("/v1/buckets/nope-nope/uploads", json={"key": "k", "size": 1, "sha256": "0" * 64})
    assert r.status_code == 404
    assert "nope-nope" not in [b["name"] for b in http.get("/v1/buckets").json()["buckets"]]


def test_unknown_route_and_method(http: httpx.Client) -> None:
    r = http.get("/v2/nothing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "NotFound"
    r = http.patch("/v1/buckets")
    assert r.status_code == 405 and r.json()["error"]["code"] == "MethodNotAllowed"
