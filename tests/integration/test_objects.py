"""Object routes against a real server (inline threshold 1 KiB, 64 KiB chunks)."""

from __future__ import annotations

import hashlib
import os
import urllib.parse

import httpx
import pytest

from tests.integration.snapshot import snapshot

SIZES = [0, 1, 1024, 1025, 64 * 1024, 200_000]


def url(bucket: str, key: str) -> str:
    return f"/v1/buckets/{bucket}/objects/{urllib.parse.quote(key)}"


@pytest.mark.parametrize("size", SIZES)
def test_put_get_head_roundtrip(http: httpx.Client, bucket: str, size: int) -> None:
    data = os.urandom(size)
    r = http.put(
        url(bucket, "dir/obj.bin"),
        content=data,
        headers={"content-type": "image/png", "x-xolo-meta-owner": "alice"},
    )
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["size"] == size
    assert doc["sha256"] == hashlib.sha256(data).hexdigest()
    assert doc["etag"] == doc["sha256"]
    assert r.headers["etag"] == f'"{doc["etag"]}"'
    got = http.get(url(bucket, "dir/obj.bin"))
    assert got.status_code == 200 and got.content == data
    assert got.headers["content-type"] == "image/png"
    assert got.headers["x-xolo-meta-owner"] == "alice"
    assert got.headers["x-checksum-sha256"] == doc["sha256"]
    assert got.headers["accept-ranges"] == "bytes"
    head = http.head(url(bucket, "dir/obj.bin"))
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-length"] == str(size)
    assert head.headers["etag"] == got.headers["etag"]
    assert head.headers["last-modified"] == got.headers["last-modified"]


def test_keys_with_odd_characters(http: httpx.Client, bucket: str) -> None:
    keys = [
        "a b",
        "ünï/cødé",
        "plus+sign",
        "q?mark",
        "hash#",
        "percent%25",
        "trailing/",
        "x" * 1024,
        "😀",
    ]
    for key in keys:
        assert http.put(url(bucket, key), content=key.encode()).status_code == 200, key
    for key in keys:
        assert http.get(url(bucket, key)).content == key.encode(), key
    listed = [o["key"] for o in http.get(f"/v1/buckets/{bucket}/objects").json()["objects"]]
    assert listed == sorted(keys, key=lambda k: k.encode())


def test_replace_is_atomic_and_whole(http: httpx.Client, bucket: str) -> None:
    http.put(url(bucket, "k"), content=b"a" * 100_000)
    http.put(url(bucket, "k"), content=b"b" * 10)
    assert http.get(url(bucket, "k")).content == b"b" * 10
    assert http.get(f"/v1/buckets/{bucket}").json()["bytes"] == 10


def test_checksum_header(http: httpx.Client, bucket: str) -> None:
    data = os.urandom(5000)
    good = hashlib.sha256(data).hexdigest()
    assert (
        http.put(url(bucket, "ok"), content=data, headers={"x-checksum-sha256": good}).status_code
        == 200
    )
    before = snapshot(http, bucket)
    for body in (data, b"small"):
        r = http.put(url(bucket, "ok"), content=body + b"!", headers={"x-checksum-sha256": good})
        assert r.status_code == 400 and r.json()["error"]["code"] == "BadDigest"
        r = http.put(url(bucket, "new"), content=body + b"!", headers={"x-checksum-sha256": good})
        assert r.status_code == 400
    r = http.put(url(bucket, "new"), content=b"x", headers={"x-checksum-sha256": "zz"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidArgument"
    assert snapshot(http, bucket) == before


def test_conditional_writes(http: httpx.Client, bucket: str) -> None:
    r = http.put(url(bucket, "c"), content=b"one", headers={"if-none-match": "*"})
    assert r.status_code == 200
    etag = r.headers["etag"]
    before = snapshot(http, bucket)
    r = http.put(url(bucket, "c"), content=b"two", headers={"if-none-match": "*"})
    assert r.status_code == 412 and r.json()["error"]["code"] == "PreconditionFailed"
    assert (
        http.put(url(bucket, "c"), content=b"two", headers={"if-match": '"nope"'}).status_code
        == 412
    )
    # If-Match on a key that does not exist: 404 NoSuchKey, as S3 answers it.
    r = http.put(url(bucket, "absent"), content=b"x", headers={"if-match": etag})
    assert r.status_code == 404 and r.json()["error"]["code"] == "NoSuchKey"
    assert http.delete(url(bucket, "c"), headers={"if-match": '"nope"'}).status_code == 412
    assert (
        http.post(url(bucket, "c"), content=b"more", headers={"if-match": '"nope"'}).status_code
        == 412
    )
    assert snapshot(http, bucket) == before
    assert http.put(url(bucket, "c"), content=b"two", headers={"if-match": etag}).status_code == 200
    assert http.get(url(bucket, "c")).content == b"two"


@pytest.mark.parametrize("size", [500, 200_000])
@pytest.mark.parametrize(
    ("header", "piece"),
    [
        ("bytes=0-0", slice(0, 1)),
        ("bytes=10-99", slice(10, 100)),
        ("bytes=100-", slice(100, None)),
        ("bytes=-50", slice(-50, None)),
        ("bytes=0-99999999", slice(0, None)),
    ],
)
def test_ranges(http: httpx.Client, bucket: str, size: int, header: str, piece: slice) -> None:
    data = os.urandom(size)
    http.put(url(bucket, "r"), content=data)
    r = http.get(url(bucket, "r"), headers={"range": header})
    assert r.status_code == 206
    assert r.content == data[piece]
    start = piece.start if piece.start is None or piece.start >= 0 else size + piece.start
    assert (
        r.headers["content-range"]
        == f"bytes {start or 0}-{(start or 0) + len(data[piece]) - 1}/{size}"
    )
    head = http.head(url(bucket, "r"), headers={"range": header})
    assert head.status_code == 206 and head.headers["content-length"] == str(len(data[piece]))


@pytest.mark.parametrize(
    "header",
    [
        "bytes=500-",
        "bytes=600-700",
        "bytes=-0",
        "bytes=9-2",
        "bytes=a-b",
        "lines=1-2",
        "bytes=0-1,4-5",
    ],
)
def test_bad_ranges(http: httpx.Client, bucket: str, header: str) -> None:
    http.put(url(bucket, "r"), content=b"x" * 500)
    r = http.get(url(bucket, "r"), headers={"range": header})
    assert r.status_code == 416 and r.json()["error"]["code"] == "InvalidRange"
    assert r.headers["content-range"] == "bytes */500"
    assert http.head(url(bucket, "r"), headers={"range": header}).status_code == 416


def test_conditional_reads(http: httpx.Client, bucket: str) -> None:
    r = http.put(url(bucket, "c"), content=b"cached")
    etag = r.headers["etag"]
    got = http.get(url(bucket, "c"))
    modified = got.headers["last-modified"]
    r = http.get(url(bucket, "c"), headers={"if-none-match": etag})
    assert r.status_code == 304 and r.content == b"" and r.headers["etag"] == etag
    assert http.get(url(bucket, "c"), headers={"if-none-match": '"other"'}).status_code == 200
    assert http.get(url(bucket, "c"), headers={"if-modified-since": modified}).status_code == 304
    old = "Mon, 01 Jan 2001 00:00:00 GMT"
    assert http.get(url(bucket, "c"), headers={"if-modified-since": old}).content == b"cached"
    assert http.get(url(bucket, "c"), headers={"if-match": '"other"'}).status_code == 412
    assert http.get(url(bucket, "c"), headers={"if-match": etag}).status_code == 200
    assert http.get(url(bucket, "c"), headers={"if-unmodified-since": old}).status_code == 412
    assert http.head(url(bucket, "c"), headers={"if-none-match": etag}).status_code == 304


def test_delete(http: httpx.Client, bucket: str) -> None:
    r = http.put(url(bucket, "d"), content=b"bye")
    assert http.delete(url(bucket, "d"), headers={"if-match": r.headers["etag"]}).status_code == 204
    r = http.get(url(bucket, "d"))
    assert r.status_code == 404 and r.json()["error"]["code"] == "NoSuchKey"
    assert http.head(url(bucket, "d")).status_code == 404
    assert http.delete(url(bucket, "d")).status_code == 404


def test_copy_moves_no_bytes_and_keeps_metadata(http: httpx.Client, bucket: str) -> None:
    data = os.urandom(150_000)
    src = http.put(
        url(bucket, "src"), content=data, headers={"content-type": "text/csv", "x-xolo-meta-a": "1"}
    ).json()
    r = http.put(url(bucket, "dst/copy"), headers={"x-xolo-copy-source": f"{bucket}/src"})
    assert r.status_code == 200, r.text
    assert (r.json()["etag"], r.json()["sha256"]) == (src["etag"], src["sha256"])
    got = http.get(url(bucket, "dst/copy"))
    assert (
        got.content == data
        and got.headers["content-type"] == "text/csv"
        and got.headers["x-xolo-meta-a"] == "1"
    )
    r = http.put(
        url(bucket, "dst/replaced"),
        headers={
            "x-xolo-copy-source": urllib.parse.quote(f"/{bucket}/src"),
            "x-xolo-metadata-directive": "REPLACE",
            "content-type": "text/plain",
            "x-xolo-meta-b": "2",
        },
    )
    got = http.get(url(bucket, "dst/replaced"))
    assert got.content == data and got.headers["content-type"] == "text/plain"
    assert got.headers["x-xolo-meta-b"] == "2" and "x-xolo-meta-a" not in got.headers
    http.put(url(bucket, "src"), content=b"changed")
    assert http.get(url(bucket, "dst/copy")).content == data
    before = snapshot(http, bucket)
    assert (
        http.put(url(bucket, "x"), headers={"x-xolo-copy-source": f"{bucket}/missing"}).status_code
        == 404
    )
    assert (
        http.put(url(bucket, "x"), headers={"x-xolo-copy-source": "no-such-bucket/k"}).status_code
        == 404
    )
    assert http.put(url(bucket, "x"), headers={"x-xolo-copy-source": "nokey"}).status_code == 400
    r = http.put(
        url(bucket, "x"),
        headers={"x-xolo-copy-source": f"{bucket}/src", "x-xolo-metadata-directive": "MERGE"},
    )
    assert r.status_code == 400
    r = http.put(
        url(bucket, "dst/copy"),
        headers={"x-xolo-copy-source": f"{bucket}/src", "if-none-match": "*"},
    )
    assert r.status_code == 412
    assert snapshot(http, bucket) == before


@pytest.mark.parametrize(
    ("first", "second"),
    [(0, 10), (10, 500), (500, 900), (800, 150_000), (150_000, 10), (150_000, 150_000)],
)
def test_append(http: httpx.Client, bucket: str, first: int, second: int) -> None:
    a, b = os.urandom(first), os.urandom(second)
    r = http.post(url(bucket, "log"), content=a, headers={"content-type": "text/x-log"})
    assert r.status_code == 200 and r.json()["size"] == first
    r = http.post(url(bucket, "log"), content=b)
    assert r.status_code == 200
    doc = r.json()
    assert doc["size"] == first + second
    assert doc["sha256"] == hashlib.sha256(a + b).hexdigest()
    assert doc["etag"] == doc["sha256"]
    got = http.get(url(bucket, "log"))
    assert got.content == a + b and got.headers["content-type"] == "text/x-log"
    assert (
        http.get(
            url(bucket, "log"), headers={"range": f"bytes={max(0, first - 5)}-{first + 5}"}
        ).content
        == (a + b)[max(0, first - 5) : first + 6]
    )


@pytest.mark.parametrize(
    ("key", "rule"),
    [("x" * 1025, "1024"), ("a%00b", "NUL")],
)
def test_bad_keys(http: httpx.Client, bucket: str, key: str, rule: str) -> None:
    before = snapshot(http, bucket)
    path = f"/v1/buckets/{bucket}/objects/{key}"
    for method in ("PUT", "POST", "GET", "DELETE"):
        r = http.request(method, path, content=b"x")
        assert r.status_code == 400, (method, r.text)
        assert (
            r.json()["error"]["code"] == "InvalidKeyName" and rule in r.json()["error"]["message"]
        )
    assert snapshot(http, bucket) == before


def test_empty_key_is_refused(http: httpx.Client, bucket: str) -> None:
    r = http.put(f"/v1/buckets/{bucket}/objects/", content=b"x")
    assert r.status_code == 400 and "empty" in r.json()["error"]["message"]


def test_bad_metadata(http: httpx.Client, bucket: str) -> None:
    before = snapshot(http, bucket)
    r = http.put(url(bucket, "m"), content=b"x", headers={"x-xolo-meta-big": "v" * 3000})
    assert r.status_code == 400 and r.json()["error"]["code"] == "InvalidMetadata"
    r = http.put(
        url(bucket, "m"),
        content=b"x",
        headers={"x-xolo-tagging": "&".join(f"k{i}=v" for i in range(11))},
    )
    assert r.status_code == 400 and "greater than 10" in r.json()["error"]["message"]
    assert snapshot(http, bucket) == before


def test_unknown_key(http: httpx.Client, bucket: str) -> None:
    for method in ("GET", "HEAD", "DELETE"):
        r = http.request(method, url(bucket, "never"))
        assert r.status_code == 404, method
