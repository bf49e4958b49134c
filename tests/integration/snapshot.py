"""What a client can see of a bucket, to prove a failed request changed nothing."""

from __future__ import annotations

import hashlib

import httpx


def snapshot(http: httpx.Client, bucket: str) -> dict[str, tuple[int, str, str]]:
    """key → (size, etag, sha256 of the bytes actually served), via listing and reading."""
    out: dict[str, tuple[int, str, str]] = {}
    cursor = None
    while True:
        params = {"cursor": cursor} if cursor else {}
        r = http.get(f"/v1/buckets/{bucket}/objects", params=params)
        assert r.status_code == 200, r.text
        doc = r.json()
        for o in doc["objects"]:
            body = http.get(f"/v1/buckets/{bucket}/objects/{o['key']}")
            assert body.status_code == 200
            out[o["key"]] = (o["size"], o["etag"], hashlib.sha256(body.content).hexdigest())
        cursor = doc["next_cursor"]
        if not cursor:
            return out
