"""boto3 against a real xolo serve: every S3 operation in scope and every listed error."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path
from typing import Any
from unittest import mock

import crc32c
import httpx
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.compat.conftest import MiB, client
from tests.server import ROOT_KEY, ROOT_SECRET, XoloServer


def code(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def status(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


def keys(s3: Any, bucket: str) -> list[str]:
    return [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def signed(
    server: XoloServer,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    secret: str = ROOT_SECRET,
    when: dt.datetime | None = None,
    payload: str | None = None,
) -> httpx.Response:
    """A request signed by botocore's own SigV4 signer, for what boto3 will not send."""
    url = server.s3_url + path
    req = AWSRequest(method=method, url=url, data=body, headers=headers or {})
    req.headers["x-amz-content-sha256"] = payload or hashlib.sha256(body).hexdigest()
    with mock.patch(
        "botocore.auth.get_current_datetime",
        return_value=when or dt.datetime.now(dt.UTC).replace(tzinfo=None),
    ):
        SigV4Auth(Credentials(ROOT_KEY, secret), "s3", "us-east-1").add_auth(req)
    return httpx.request(method, url, content=body, headers=dict(req.headers.items()))


# -- buckets ---------------------------------------------------------------------------------------


def test_bucket_operations(server: XoloServer, s3: Any) -> None:
    s3.create_bucket(Bucket="ops-bucket")
    assert "ops-bucket" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert s3.head_bucket(Bucket="ops-bucket")["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert s3.get_bucket_location(Bucket="ops-bucket")["LocationConstraint"] is None
    # In us-east-1 the owner re-creating its bucket gets 200, and nothing changes.
    again = s3.create_bucket(Bucket="ops-bucket", ACL="public-read")
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    # still private: an anonymous listing is refused
    assert httpx.get(f"{server.s3_url}/ops-bucket?list-type=2").status_code == 403
    s3.put_object(Bucket="ops-bucket", Key="k", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket="ops-bucket")
    assert code(e) == "BucketNotEmpty" and status(e) == 409
    s3.delete_object(Bucket="ops-bucket", Key="k")
    s3.delete_bucket(Bucket="ops-bucket")
    with pytest.raises(ClientError) as e:
        s3.head_bucket(Bucket="ops-bucket")
    assert status(e) == 404
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket="ops-bucket")
    assert code(e) == "NoSuchBucket"


def test_invalid_bucket_name(server: XoloServer) -> None:
    r = signed(server, "PUT", "/Bad_Bucket")
    assert r.status_code == 400 and b"<Code>InvalidBucketName</Code>" in r.content


def test_virtual_host_addressing(server: XoloServer, s3: Any, bucket: str) -> None:
    """bucket.localhost does not resolve everywhere: sign for it, send it to 127.0.0.1."""
    host = f"{bucket}.localhost:{server.s3_port}"
    for method, body in (("PUT", b"virtual"), ("GET", b"")):
        req = AWSRequest(method=method, url=f"http://{host}/v/host.txt", data=body)
        req.headers["x-amz-content-sha256"] = hashlib.sha256(body).hexdigest()
        SigV4Auth(Credentials(ROOT_KEY, ROOT_SECRET), "s3", "us-east-1").add_auth(req)
        headers = dict(req.headers.items()) | {"host": host}
        r = httpx.request(method, f"{server.s3_url}/v/host.txt", content=body, headers=headers)
        assert r.status_code == 200, r.text
    assert r.content == b"virtual"
    assert s3.get_object(Bucket=bucket, Key="v/host.txt")["Body"].read() == b"virtual"


def test_public_read_bucket_and_anonymous_access(server: XoloServer, s3: Any) -> None:
    s3.create_bucket(Bucket="public-one", ACL="public-read")
    s3.put_object(Bucket="public-one", Key="open.txt", Body=b"everyone")
    s3.create_bucket(Bucket="private-one")
    s3.put_object(Bucket="private-one", Key="closed.txt", Body=b"secret")
    assert httpx.get(f"{server.s3_url}/public-one/open.txt").content == b"everyone"
    r = httpx.get(f"{server.s3_url}/private-one/closed.txt")
    assert r.status_code == 403 and b"<Code>AccessDenied</Code>" in r.content
    assert httpx.put(f"{server.s3_url}/public-one/open.txt", content=b"vandal").status_code == 403
    assert s3.get_object(Bucket="public-one", Key="open.txt")["Body"].read() == b"everyone"


# -- objects ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("size", [0, 10, 70_000, 9 * MiB])
def test_put_get_head_roundtrip(s3: Any, bucket: str, size: int) -> None:
    data = os.urandom(size)
    put = s3.put_object(
        Bucket=bucket,
        Key="dir/obj",
        Body=data,
        ContentType="image/png",
        Metadata={"owner": "ana"},
        CacheControl="max-age=60",
        ContentDisposition="inline",
        ContentLanguage="en",
        Expires=dt.datetime(2030, 1, 1, tzinfo=dt.UTC),
    )
    assert put["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    got = s3.get_object(Bucket=bucket, Key="dir/obj")
    assert got["Body"].read() == data
    assert got["ContentType"] == "image/png" and got["Metadata"] == {"owner": "ana"}
    assert got["CacheControl"] == "max-age=60" and got["ContentDisposition"] == "inline"
    assert got["ContentLanguage"] == "en" and got["ETag"] == put["ETag"]
    head = s3.head_object(Bucket=bucket, Key="dir/obj")
    assert head["ContentLength"] == size and head["ETag"] == put["ETag"]


def test_default_checksums_of_this_boto3(s3: Any, bucket: str) -> None:
    """Current boto3 sends a CRC32 trailer with aws-chunked by default and validates it back."""
    data = os.urandom(100_000)
    put = s3.put_object(Bucket=bucket, Key="crc", Body=data)
    expected = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    assert put.get("ChecksumCRC32") == expected
    got = s3.get_object(Bucket=bucket, Key="crc", ChecksumMode="ENABLED")
    assert got["ChecksumCRC32"] == expected and got["Body"].read() == data


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_explicit_checksums(s3: Any, bucket: str, algorithm: str) -> None:
    data = os.urandom(5000)
    if algorithm == "CRC32C":  # botocore computes CRC32C only with awscrt: send the value
        value = base64.b64encode(crc32c.crc32c(data).to_bytes(4, "big")).decode()
        put = s3.put_object(Bucket=bucket, Key="sum-CRC32C", Body=data, ChecksumCRC32C=value)
    else:
        put = s3.put_object(
            Bucket=bucket, Key=f"sum-{algorithm}", Body=data, ChecksumAlgorithm=algorithm
        )
    head = s3.head_object(Bucket=bucket, Key=f"sum-{algorithm}", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == put[f"Checksum{algorithm}"]
    if algorithm == "SHA256":
        assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()


def test_wrong_checksums_are_bad_digest_and_store_nothing(s3: Any, bucket: str) -> None:
    wrong_crc = base64.b64encode(b"\x00\x00\x00\x00").decode()
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="bad", Body=b"payload", ChecksumCRC32=wrong_crc)
    assert code(e) == "BadDigest" and status(e) == 400
    with pytest.raises(ClientError) as e:
        s3.put_object(
            Bucket=bucket,
            Key="bad",
            Body=b"payload",
            ContentMD5=base64.b64encode(hashlib.md5(b"other").digest()).decode(),
        )
    assert code(e) == "BadDigest"
    assert "bad" not in keys(s3, bucket)


def test_ranges_and_conditions(s3: Any, bucket: str) -> None:
    data = os.urandom(1000)
    etag = s3.put_object(Bucket=bucket, Key="r", Body=data)["ETag"]
    got = s3.get_object(Bucket=bucket, Key="r", Range="bytes=10-19")
    assert got["Body"].read() == data[10:20] and got["ContentRange"] == "bytes 10-19/1000"
    assert s3.get_object(Bucket=bucket, Key="r", Range="bytes=-5")["Body"].read() == data[-5:]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", Range="bytes=5000-")
    assert code(e) == "InvalidRange" and status(e) == 416
    assert s3.get_object(Bucket=bucket, Key="r", IfMatch=etag)["Body"].read() == data
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfMatch='"nope"')
    assert code(e) == "PreconditionFailed" and status(e) == 412
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfNoneMatch=etag)
    assert status(e) == 304
    future = dt.datetime.now(dt.UTC) + dt.timedelta(days=1)
    past = dt.datetime(2001, 1, 1, tzinfo=dt.UTC)
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfModifiedSince=future)
    assert status(e) == 304 and code(e) in ("304", "NotModified")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="r", IfUnmodifiedSince=past)
    assert code(e) == "PreconditionFailed"
    assert s3.get_object(Bucket=bucket, Key="r", IfUnmodifiedSince=future)["ContentLength"] == 1000


def test_response_overrides(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="o", Body=b"x", ContentType="text/plain")
    got = s3.get_object(
        Bucket=bucket,
        Key="o",
        ResponseContentType="application/json",
        ResponseContentDisposition="attachment; filename=x.json",
        ResponseCacheControl="no-store",
        ResponseContentLanguage="fr",
        ResponseContentEncoding="identity",
        ResponseExpires=dt.datetime(2031, 1, 1, tzinfo=dt.UTC),
    )
    assert got["ContentType"] == "application/json" and got["CacheControl"] == "no-store"
    assert (
        got["ContentDisposition"] == "attachment; filename=x.json"
        and got["ContentLanguage"] == "fr"
    )


def test_conditional_put(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c", Body=b"one", IfNoneMatch="*")["ETag"]
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="c", Body=b"two", IfNoneMatch="*")
    assert code(e) == "PreconditionFailed"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="c", Body=b"two", IfMatch='"nope"')
    assert code(e) == "PreconditionFailed"
    s3.put_object(Bucket=bucket, Key="c", Body=b"two", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="c")["Body"].read() == b"two"


def test_missing_things(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="absent")
    assert code(e) == "NoSuchKey" and status(e) == 404
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="no-such-bucket-here", Key="k")
    assert code(e) == "NoSuchBucket"
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="absent")
    assert status(e) == 404
    assert (
        s3.delete_object(Bucket=bucket, Key="absent")["ResponseMetadata"]["HTTPStatusCode"] == 204
    )


def test_copy_object(s3: Any, bucket: str) -> None:
    data = os.urandom(200_000)
    src = s3.put_object(
        Bucket=bucket, Key="src", Body=data, ContentType="text/csv", Metadata={"a": "1"}
    )
    out = s3.copy_object(Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src"})
    assert out["CopyObjectResult"]["ETag"] == src["ETag"]
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert (
        got["Body"].read() == data
        and got["Metadata"] == {"a": "1"}
        and got["ContentType"] == "text/csv"
    )
    s3.copy_object(
        Bucket=bucket,
        Key="dst2",
        CopySource=f"{bucket}/src",
        MetadataDirective="REPLACE",
        Metadata={"b": "2"},
        ContentType="text/plain",
    )
    got = s3.head_object(Bucket=bucket, Key="dst2")
    assert got["Metadata"] == {"b": "2"} and got["ContentType"] == "text/plain"
    with pytest.raises(ClientError) as e:
        s3.copy_object(
            Bucket=bucket,
            Key="dst3",
            CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceIfMatch='"nope"',
        )
    assert code(e) == "PreconditionFailed"
    with pytest.raises(ClientError) as e:
        s3.copy_object(
            Bucket=bucket,
            Key="dst3",
            CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceIfNoneMatch=src["ETag"],
        )
    assert code(e) == "PreconditionFailed"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src"})
    assert code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.copy_object(Bucket=bucket, Key="x", CopySource={"Bucket": bucket, "Key": "missing"})
    assert code(e) == "NoSuchKey"
    assert "dst3" not in keys(s3, bucket)


def test_delete_objects(s3: Any, bucket: str) -> None:
    for k in ("a", "b", "c"):
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    out = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "never"}]}
    )
    assert sorted(d["Key"] for d in out["Deleted"]) == ["a", "b", "never"]
    assert keys(s3, bucket) == ["c"]
    out = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "c"}], "Quiet": True})
    assert "Deleted" not in out and keys(s3, bucket) == []


# -- listings --------------------------------------------------------------------------------------


def test_listings(s3: Any, bucket: str) -> None:
    names = ["a/1", "a/2", "a/b/3", "b", "c d", "é/x", "plus+sign", "z"]
    for k in names:
        s3.put_object(Bucket=bucket, Key=k, Body=b"x")
    assert keys(s3, bucket) == sorted(names, key=str.encode)
    v2 = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert [p["Prefix"] for p in v2["CommonPrefixes"]] == ["a/", "é/"]
    assert [c["Key"] for c in v2["Contents"]] == ["b", "c d", "plus+sign", "z"]
    assert v2["KeyCount"] == 6
    seen, token = [], None
    while True:
        kw = {"ContinuationToken": token} if token else {}
        page = s3.list_objects_v2(Bucket=bucket, MaxKeys=3, Delimiter="/", **kw)
        seen += [c["Key"] for c in page.get("Contents", [])] + [
            p["Prefix"] for p in page.get("CommonPrefixes", [])
        ]
        if not page["IsTruncated"]:
            break
        token = page["NextContinuationToken"]
    assert sorted(seen, key=str.encode) == ["a/", "b", "c d", "plus+sign", "z", "é/"]
    assert [c["Key"] for c in s3.list_objects_v2(Bucket=bucket, StartAfter="c d")["Contents"]][
        :1
    ] == ["plus+sign"]
    assert [c["Key"] for c in s3.list_objects_v2(Bucket=bucket, Prefix="a/")["Contents"]] == [
        "a/1",
        "a/2",
        "a/b/3",
    ]
    owner = s3.list_objects_v2(Bucket=bucket, FetchOwner=True, MaxKeys=1)["Contents"][0]["Owner"]
    assert owner["ID"] == ROOT_KEY
    # Asked for explicitly, url encoding comes back as sent (botocore decodes only its own).
    encoded = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert [c["Key"] for c in encoded["Contents"]] == [
        urllib.parse.quote_plus(k, safe="/") for k in sorted(names, key=str.encode)
    ]
    v1 = s3.list_objects(Bucket=bucket, Delimiter="/", MaxKeys=2)
    assert v1["IsTruncated"] and v1["NextMarker"]
    v1b = s3.list_objects(Bucket=bucket, Delimiter="/", Marker=v1["NextMarker"])
    got = [c["Key"] for c in v1.get("Contents", [])] + [
        p["Prefix"] for p in v1.get("CommonPrefixes", [])
    ]
    got += [c["Key"] for c in v1b.get("Contents", [])] + [
        p["Prefix"] for p in v1b.get("CommonPrefixes", [])
    ]
    assert sorted(got, key=str.encode) == ["a/", "b", "c d", "plus+sign", "z", "é/"]
    paginator = s3.get_paginator("list_objects")
    assert (
        sum(
            len(p.get("Contents", []))
            for p in paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 2})
        )
        == 8
    )
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, ContinuationToken="!!!")
    assert code(e) == "InvalidArgument"


# -- multipart -------------------------------------------------------------------------------------


def test_multipart_upload_file_100_mib(s3: Any, bucket: str, tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    block = os.urandom(MiB)
    with path.open("wb") as f:
        for i in range(100):
            f.write(i.to_bytes(4, "big") + block[4:])
    config = TransferConfig(
        multipart_threshold=8 * MiB, multipart_chunksize=8 * MiB, max_concurrency=4
    )
    s3.upload_file(str(path), bucket, "big.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == 100 * MiB and head["ETag"].endswith('-13"')
    out = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(out), Config=config)
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    assert hashlib.sha256(out.read_bytes()).hexdigest() == digest
    parts = [
        hashlib.md5(path.read_bytes()[i : i + 8 * MiB]).digest()
        for i in range(0, 100 * MiB, 8 * MiB)
    ]
    assert head["ETag"] == f'"{hashlib.md5(b"".join(parts)).hexdigest()}-13"'


def test_multipart_steps_and_errors(s3: Any, bucket: str) -> None:
    up = s3.create_multipart_upload(
        Bucket=bucket, Key="mp", ContentType="text/x-mp", Metadata={"m": "1"}
    )
    uid = up["UploadId"]
    part1 = os.urandom(5 * MiB)
    e1 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=part1)["ETag"]
    e2 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=2, Body=b"small")["ETag"]
    e3 = s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=3, Body=b"tail")["ETag"]
    listed = s3.list_parts(Bucket=bucket, Key="mp", UploadId=uid)
    assert [(p["PartNumber"], p["Size"]) for p in listed["Parts"]] == [(1, 5 * MiB), (2, 5), (3, 4)]
    uploads = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in uploads] == [("mp", uid)]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="mp",
            UploadId=uid,
            MultipartUpload={
                "Parts": [
                    {"PartNumber": 1, "ETag": e1},
                    {"PartNumber": 2, "ETag": e2},
                    {"PartNumber": 3, "ETag": e3},
                ]
            },
        )
    assert code(e) == "EntityTooSmall"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="mp",
            UploadId=uid,
            MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": '"0000"'}]
            },
        )
    assert code(e) == "InvalidPart"
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="mp",
            UploadId=uid,
            MultipartUpload={
                "Parts": [{"PartNumber": 3, "ETag": e3}, {"PartNumber": 1, "ETag": e1}]
            },
        )
    assert code(e) == "InvalidPartOrder"
    assert "mp" not in keys(s3, bucket)
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": e1}, {"PartNumber": 3, "ETag": e3}]},
    )
    assert done["ETag"].endswith('-2"')
    got = s3.get_object(Bucket=bucket, Key="mp")
    assert (
        got["Body"].read() == part1 + b"tail"
        and got["Metadata"] == {"m": "1"}
        and got["ContentType"] == "text/x-mp"
    )
    with pytest.raises(ClientError) as e:
        s3.upload_part(Bucket=bucket, Key="mp", UploadId=uid, PartNumber=1, Body=b"late")
    assert code(e) == "NoSuchUpload" and status(e) == 404
    up2 = s3.create_multipart_upload(Bucket=bucket, Key="mp2")["UploadId"]
    s3.abort_multipart_upload(Bucket=bucket, Key="mp2", UploadId=up2)
    with pytest.raises(ClientError) as e:
        s3.list_parts(Bucket=bucket, Key="mp2", UploadId=up2)
    assert code(e) == "NoSuchUpload"


def test_upload_part_copy(s3: Any, bucket: str) -> None:
    source = os.urandom(6 * MiB)
    s3.put_object(Bucket=bucket, Key="source", Body=source)
    uid = s3.create_multipart_upload(Bucket=bucket, Key="assembled")["UploadId"]
    p1 = s3.upload_part_copy(
        Bucket=bucket,
        Key="assembled",
        UploadId=uid,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "source"},
        CopySourceRange=f"bytes=0-{5 * MiB - 1}",
    )
    p2 = s3.upload_part_copy(
        Bucket=bucket,
        Key="assembled",
        UploadId=uid,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "source"},
        CopySourceRange=f"bytes={5 * MiB}-{6 * MiB - 1}",
    )
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="assembled",
        UploadId=uid,
        MultipartUpload={
            "Parts": [
                {"PartNumber": 1, "ETag": p1["CopyPartResult"]["ETag"]},
                {"PartNumber": 2, "ETag": p2["CopyPartResult"]["ETag"]},
            ]
        },
    )
    assert s3.get_object(Bucket=bucket, Key="assembled")["Body"].read() == source


# -- presigned URLs -----------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["default", "s3v4"])
def test_presigned_get_and_put_with_urllib(server: XoloServer, bucket: str, version: str) -> None:
    from botocore.config import Config

    kwargs = (
        {}
        if version == "default"
        else {"config": Config(signature_version="s3v4", s3={"addressing_style": "path"})}
    )
    s3 = client(server, **kwargs)
    put_url = s3.generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket, "Key": "pre/signed.txt", "ContentType": "text/plain"},
        ExpiresIn=60,
    )
    req = urllib.request.Request(
        put_url, data=b"presigned body", method="PUT", headers={"Content-Type": "text/plain"}
    )
    with urllib.request.urlopen(req) as resp:
        assert resp.status == 200
    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "pre/signed.txt"}, ExpiresIn=60
    )
    with urllib.request.urlopen(get_url) as resp:
        assert resp.read() == b"presigned body"
    tampered = get_url.replace("pre/signed.txt", "pre/other.txt")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(tampered)
    assert e.value.code == 403 and b"SignatureDoesNotMatch" in e.value.read()
    expired = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "pre/signed.txt"}, ExpiresIn=1
    )
    import time

    time.sleep(2.1)
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(expired)
    assert e.value.code == 403 and b"AccessDenied" in e.value.read()


# -- authentication errors ----------------------------------------------------------------------


def test_wrong_secret_and_unknown_key(server: XoloServer, bucket: str) -> None:
    bad = client(server, aws_secret_access_key="wrong-secret")
    with pytest.raises(ClientError) as e:
        bad.put_object(Bucket=bucket, Key="evil", Body=b"x")
    assert code(e) == "SignatureDoesNotMatch" and status(e) == 403
    unknown = client(server, aws_access_key_id="XONOSUCHKEY000000000")
    with pytest.raises(ClientError) as e:
        unknown.list_buckets()
    assert code(e) == "InvalidAccessKeyId" and status(e) == 403
    assert "evil" not in keys(client(server), bucket)


def test_request_time_too_skewed(server: XoloServer, bucket: str) -> None:
    old = dt.datetime.now(dt.UTC).replace(tzinfo=None) - dt.timedelta(minutes=20)
    r = signed(server, "GET", f"/{bucket}", when=old)
    assert r.status_code == 403 and b"<Code>RequestTimeTooSkewed</Code>" in r.content
    assert signed(server, "GET", f"/{bucket}").status_code == 200


def test_malformed_xml_method_not_allowed_not_implemented(
    server: XoloServer, s3: Any, bucket: str
) -> None:
    uid = s3.create_multipart_upload(Bucket=bucket, Key="x")["UploadId"]
    r = signed(server, "POST", f"/{bucket}/x?uploadId={uid}", body=b"<not xml")
    assert r.status_code == 400 and b"<Code>MalformedXML</Code>" in r.content
    r = signed(server, "POST", "/")
    assert r.status_code == 405 and b"<Code>MethodNotAllowed</Code>" in r.content
    with pytest.raises(ClientError) as e:
        s3.get_bucket_website(Bucket=bucket)
    assert code(e) == "NotImplemented" and status(e) == 501
    with pytest.raises(ClientError) as e:
        s3.get_bucket_policy(Bucket=bucket)
    assert code(e) == "NotImplemented"
    with pytest.raises(ClientError) as e:
        s3.put_object_retention(Bucket=bucket, Key="x", Retention={"Mode": "GOVERNANCE"})
    assert code(e) == "NotImplemented"


def test_invalid_argument(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.list_objects_v2(Bucket=bucket, MaxKeys=-1)
    assert code(e) == "InvalidArgument"


def test_one_truth_with_the_native_api(server: XoloServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="shared/s3.txt", Body=b"from s3")
    with server.client() as http:
        assert http.get(f"/v1/buckets/{bucket}/objects/shared/s3.txt").content == b"from s3"
        http.put(f"/v1/buckets/{bucket}/objects/shared/native.txt", content=b"from native")
    assert s3.get_object(Bucket=bucket, Key="shared/native.txt")["Body"].read() == b"from native"


def test_grants_and_bucket_already_exists(server: XoloServer, s3: Any, bucket: str) -> None:
    """A key that is not root (made with `xolo keys create`) sees only what it was granted."""
    import subprocess
    import sys

    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "xolo",
            "keys",
            "create",
            "--data",
            str(server.data),
            "--grant",
            "granted-bucket=admin",
            "--grant",
            f"{bucket}=read",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    access = out.split("access key: ")[1].split()[0]
    secret = out.split("secret key: ")[1].split()[0]
    limited = client(server, aws_access_key_id=access, aws_secret_access_key=secret)
    s3.put_object(Bucket=bucket, Key="readable", Body=b"r")
    with pytest.raises(ClientError) as e:
        limited.create_bucket(Bucket=bucket)
    assert code(e) == "BucketAlreadyExists" and status(e) == 409
    limited.create_bucket(Bucket="granted-bucket")
    again = limited.create_bucket(Bucket="granted-bucket")  # its owner, in us-east-1: 200
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert limited.get_object(Bucket=bucket, Key="readable")["Body"].read() == b"r"
    with pytest.raises(ClientError) as e:
        limited.put_object(Bucket=bucket, Key="nope", Body=b"x")
    assert code(e) == "AccessDenied" and status(e) == 403
    with pytest.raises(ClientError) as e:
        limited.create_bucket(Bucket="not-granted-bucket")
    assert code(e) == "AccessDenied"
    assert [b["Name"] for b in limited.list_buckets()["Buckets"]] == sorted(
        [bucket, "granted-bucket"]
    )
    assert "nope" not in keys(s3, bucket)


def test_signed_streaming_upload(server: XoloServer, s3: Any, bucket: str) -> None:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD: every chunk signed (the signer is checked against
    AWS's published example in tests/unit/test_sigv4.py); a tampered chunk stores nothing."""
    from xolo.core import sigv4

    data = os.urandom(150_000)
    sizes = [65536, 65536, len(data) - 131072]

    def request(tamper: bool) -> httpx.Response:
        now = dt.datetime.now(dt.UTC)
        amz_date = now.strftime("%Y%m%dT%H%M%SZ")
        chunks = [data[:65536], data[65536:131072], data[131072:], b""]
        encoded_len = sum(len(f"{len(c):x};chunk-signature=") + 64 + 2 + len(c) + 2 for c in chunks)
        path = f"/{bucket}/streamed.bin"
        headers = [
            ("host", f"127.0.0.1:{server.s3_port}"),
            ("x-amz-date", amz_date),
            ("x-amz-content-sha256", sigv4.STREAMING_SIGNED),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", str(len(data))),
            ("content-length", str(encoded_len)),
        ]
        names = ";".join(sorted(h for h, _ in headers))
        credential = f"{ROOT_KEY}/{amz_date[:8]}/us-east-1/s3/aws4_request"
        draft = sigv4.SignedRequest(
            sigv4.parse_credential(credential),
            tuple(names.split(";")),
            "",
            amz_date,
            sigv4.STREAMING_SIGNED,
        )
        seed = sigv4.request_signature(
            ROOT_SECRET, draft, sigv4.canonical_request("PUT", path, "", headers, draft)
        )
        signed = sigv4.SignedRequest(
            draft.credential, draft.signed_headers, seed, amz_date, sigv4.STREAMING_SIGNED
        )
        key = sigv4.signing_key(ROOT_SECRET, amz_date[:8], "us-east-1", "s3")
        body, previous = b"", seed
        for chunk in chunks:
            sig = sigv4.chunk_signature(key, signed, previous, hashlib.sha256(chunk).hexdigest())
            if tamper and chunk and chunk is chunks[1]:
                chunk = bytes([chunk[0] ^ 0xFF]) + chunk[1:]  # always a different byte
            body += f"{len(chunk):x};chunk-signature={sig}\r\n".encode() + chunk + b"\r\n"
            previous = sig
        auth = f"AWS4-HMAC-SHA256 Credential={credential},SignedHeaders={names},Signature={seed}"
        return httpx.put(
            server.s3_url + path, content=body, headers=dict(headers) | {"authorization": auth}
        )

    assert sizes[2] > 0
    r = request(tamper=True)
    assert r.status_code == 403 and b"SignatureDoesNotMatch" in r.content
    assert "streamed.bin" not in keys(s3, bucket)
    r = request(tamper=False)
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="streamed.bin")["Body"].read() == data


def test_unsigned_payload_and_signed_payload_mismatch(
    server: XoloServer, s3: Any, bucket: str
) -> None:
    r = signed(
        server,
        "PUT",
        f"/{bucket}/unsigned.txt",
        body=b"no payload hash",
        payload="UNSIGNED-PAYLOAD",
    )
    assert r.status_code == 200, r.text
    assert s3.get_object(Bucket=bucket, Key="unsigned.txt")["Body"].read() == b"no payload hash"
    r = signed(
        server,
        "PUT",
        f"/{bucket}/lying.txt",
        body=b"actual body",
        payload=hashlib.sha256(b"other").hexdigest(),
    )
    assert r.status_code == 400 and b"<Code>BadDigest</Code>" in r.content
    assert "lying.txt" not in keys(s3, bucket)
