"""A chunk file lost on a single node: a GET fails with 503 before any header, never as a 200
with a cut body (the wave-1 behaviour); HEAD, which reads no chunk, still answers."""

from __future__ import annotations

import hashlib
import os

import httpx

from tests.server import XoloServer


def test_a_lost_chunk_gives_503_not_a_truncated_200(
    server: XoloServer, http: httpx.Client, bucket: str
) -> None:
    data = os.urandom(300_000)  # five 64 KiB chunks on this server
    http.put(f"/v1/buckets/{bucket}/objects/lossy", content=data).raise_for_status()
    fourth = hashlib.sha256(data[3 * 65536 : 4 * 65536]).hexdigest()
    (server.data / "chunks" / fourth[:2] / fourth[2:4] / fourth).unlink()
    r = http.get(f"/v1/buckets/{bucket}/objects/lossy")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "ChunkUnavailable"
    assert http.head(f"/v1/buckets/{bucket}/objects/lossy").status_code == 200
    first = http.get(f"/v1/buckets/{bucket}/objects/lossy", headers={"range": "bytes=0-99"})
    assert first.status_code == 206 and first.content == data[:100]


def test_a_lost_first_chunk_gives_503_over_s3(server: XoloServer, http: httpx.Client) -> None:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from tests.server import ROOT_KEY, ROOT_SECRET

    s3 = boto3.client(
        "s3",
        endpoint_url=server.s3_url,
        aws_access_key_id=ROOT_KEY,
        aws_secret_access_key=ROOT_SECRET,
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
    )
    s3.create_bucket(Bucket="lossy-s3")
    data = os.urandom(100_000)
    s3.put_object(Bucket="lossy-s3", Key="k", Body=data)
    first = hashlib.sha256(data[:65536]).hexdigest()
    (server.data / "chunks" / first[:2] / first[2:4] / first).unlink()
    try:
        s3.get_object(Bucket="lossy-s3", Key="k")
    except ClientError as exc:
        assert exc.response["ResponseMetadata"]["HTTPStatusCode"] == 503
        assert exc.response["Error"]["Code"] == "ServiceUnavailable"
    else:
        raise AssertionError("a GET of an object with a lost chunk succeeded")


def test_a_damaged_single_chunk_object_gives_503_and_an_intact_one_its_exact_bytes(
    server: XoloServer, http: httpx.Client, bucket: str
) -> None:
    """An object that is one chunk is checked against its CRC-32C as it is read: intact, the
    bytes arrive exact, again and again on one connection; damaged in place, the GET is a 503
    before any header, never the damaged bytes."""
    data = os.urandom(60_000)  # one chunk on this server, above its inline threshold
    http.put(f"/v1/buckets/{bucket}/objects/one", content=data).raise_for_status()
    for _ in range(3):
        assert http.get(f"/v1/buckets/{bucket}/objects/one").content == data
    name = hashlib.sha256(data).hexdigest()
    path = server.data / "chunks" / name[:2] / name[2:4] / name
    path.write_bytes(bytes([data[0] ^ 1]) + data[1:])  # rot, in place
    r = http.get(f"/v1/buckets/{bucket}/objects/one")
    assert r.status_code == 503
    assert r.json()["error"]["code"] == "ChunkUnavailable"
