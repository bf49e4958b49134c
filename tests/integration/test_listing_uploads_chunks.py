from __future__ import annotations

import hashlib
import os
import time

import httpx
import pytest

from tests.integration.snapshot import snapshot
from tests.server import XoloServer


def test_listing_pages_prefixes_and_cursor(http: httpx.Client, bucket: str) -> None:
    keys = ["a/1", "a/2", "a/b/3", "b", "c/4", "c/5", "d"]
    for k in keys:
        http.put(f"/v1/buckets/{bucket}/objects/{k}", content=k.encode())
    base = f"/v1/buckets/{bucket}/objects"
    doc = http.get(base, params={"delimiter": "/"}).json()
    assert [o["key"] for o in doc["objects"]] == ["b", "d"]
    assert doc["common_prefixes"] == ["a/", "c/"] and doc["truncated"] is False
    doc = http.get(base, params={"prefix": "a/", "delimiter": "/"}).json()
    assert [o["key"] for o in doc["objects"]] == ["a/1", "a/2"] and doc["common_prefixes"] == [
        "a/b/"
    ]
    assert (
        doc["objects"][0]["size"] == 3
        and doc["objects"][0]["etag"] == hashlib.sha256(b"a/1").hexdigest()
    )
    seen, cursor = [], None
    while True:
        params = {"limit": "2", "delimiter": "/"} | ({"cursor": cursor} if cursor else {})
        doc = http.get(base, params=params).json()
        assert len(doc["objects"]) + len(doc["common_prefixes"]) <= 2
        seen += sorted([o["key"] for o in doc["objects"]] + doc["common_prefixes"], key=str.encode)
        cursor = doc["next_cursor"]
        if not cursor:
            break
    assert seen == ["a/", "b", "c/", "d"]
    doc = http.get(base, params={"start_after": "b"}).json()
    assert [o["key"] for o in doc["objects"]] == ["c/4", "c/5", "d"]


@pytest.mark.parametrize(
    "params", [{"limit": "0"}, {"limit": "1001"}, {"limit": "ten"}, {"cursor": "@@@"}]
)
def test_bad_listing_parameters(http: httpx.Client, bucket: str, params: dict[str, str]) -> None:
    r = http.get(f"/v1/buckets/{bucket}/objects", params=params)
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidArgument"


def declare(http: httpx.Client, bucket: str, data: bytes, key: str = "up") -> str:
    r = http.post(
        f"/v1/buckets/{bucket}/uploads",
        json={
            "key": key,
            "size": len(data),
            "sha256": hashlib.sha256(data).hexdigest(),
            "content_type": "application/x-test",
            "tags": {"team": "x"},
        },
    )
    assert r.status_code == 201, r.text
    assert r.json()["expires_at"].endswith("Z")
    return str(r.json()["upload_id"])


@pytest.mark.parametrize("size", [10, 5000, 200_000])
def test_two_step_upload(http: httpx.Client, bucket: str, size: int) -> None:
    data = os.urandom(size)
    upload_id = declare(http, bucket, data)
    before = snapshot(http, bucket)
    for bad in (data[:-1], data + b"x", bytes(reversed(data))):
        r = http.put(f"/v1/uploads/{upload_id}", content=bad)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] in ("SizeMismatch", "BadDigest")
    assert snapshot(http, bucket) == before
    r = http.put(f"/v1/uploads/{upload_id}", content=data)
    assert r.status_code == 200 and r.json()["sha256"] == hashlib.sha256(data).hexdigest()
    got = http.get(f"/v1/buckets/{bucket}/objects/up")
    assert got.content == data and got.headers["content-type"] == "application/x-test"
    r = http.put(f"/v1/uploads/{upload_id}", content=data)
    assert r.status_code == 404 and r.json()["error"]["code"] == "NoSuchUpload"
    assert http.put("/v1/uploads/never-issued", content=data).status_code == 404


@pytest.mark.parametrize(
    "doc",
    [
        {"key": "k", "size": 1},
        {"size": 1, "sha256": "0" * 64},
        {"key": "k", "size": -1, "sha256": "0" * 64},
        {"key": "k", "size": 1, "sha256": "xyz"},
        {"key": "", "size": 1, "sha256": "0" * 64},
        {"key": "k", "size": 1, "sha256": "0" * 64, "extra": 1},
        {"key": "k", "size": "1", "sha256": "0" * 64},
        [1, 2],
    ],
)
def test_bad_upload_declarations(http: httpx.Client, bucket: str, doc: object) -> None:
    r = http.post(f"/v1/buckets/{bucket}/uploads", json=doc)
    assert r.status_code == 400, r.text


def test_expired_upload(tmp_path_factory: pytest.TempPathFactory) -> None:
    srv = XoloServer(
        tmp_path_factory.mktemp("ttl") / "data", extra_args=("--upload-ttl", "1")
    ).start()
    try:
        with srv.client() as http:
            http.put("/v1/buckets/ttl-test")
            upload_id = declare(http, "ttl-test", b"late")
            time.sleep(1.5)
            r = http.put(f"/v1/uploads/{upload_id}", content=b"late")
            assert r.status_code == 404 and r.json()["error"]["code"] == "NoSuchUpload"
            assert http.get("/v1/buckets/ttl-test/objects").json()["objects"] == []
    finally:
        srv.stop()


def test_chunks(http: httpx.Client) -> None:
    data = os.urandom(100_000)
    name = hashlib.sha256(data).hexdigest()
    other = hashlib.sha256(b"absent").hexdigest()
    assert http.post("/v1/chunks/has", json=[name, other]).json() == [False, False]
    r = http.put(f"/v1/chunks/{name}", content=data[:-1] + b"!")
    assert r.status_code == 400 and r.json()["error"]["code"] == "BadDigest"
    assert http.post("/v1/chunks/has", json=[name]).json() == [False]
    r = http.put(f"/v1/chunks/{name}", content=data)
    assert r.status_code == 201 and r.json() == {"sha256": name, "size": len(data)}
    assert http.get(f"/v1/chunks/{name}").content == data
    head = http.head(f"/v1/chunks/{name}")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(data))
    assert http.post("/v1/chunks/has", json=[name, other]).json() == [True, False]
    assert http.get(f"/v1/chunks/{other}").status_code == 404
    assert http.head(f"/v1/chunks/{other}").status_code == 404
    for bad in ("ABC", "0" * 63, "G" * 64, name.upper()):
        r = http.put(f"/v1/chunks/{bad}", content=b"x")
        assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidChunkName", bad
        assert http.get(f"/v1/chunks/{bad}").status_code == 400
    assert http.post("/v1/chunks/has", json={"a": 1}).status_code == 400
    assert http.post("/v1/chunks/has", json=["nothex"]).status_code == 400
    assert http.post("/v1/chunks/has", content=b"{oops").status_code == 400
    assert http.delete(f"/v1/chunks/{name}").status_code == 405
    assert http.get(f"/v1/chunks/{name}").content == data


def test_objects_share_identical_chunks(
    server: XoloServer, http: httpx.Client, bucket: str
) -> None:
    """Content addressing: the same bytes under two keys are stored once."""
    data = os.urandom(64 * 1024 * 3)
    http.put(f"/v1/buckets/{bucket}/objects/one", content=data)
    chunks_dir = server.data / "chunks"
    count = sum(1 for p in chunks_dir.rglob("*") if p.is_file())
    http.put(f"/v1/buckets/{bucket}/objects/two", content=data)
    assert sum(1 for p in chunks_dir.rglob("*") if p.is_file()) == count
    names = [hashlib.sha256(data[i : i + 65536]).hexdigest() for i in range(0, len(data), 65536)]
    assert http.post("/v1/chunks/has", json=names).json() == [True, True, True]
