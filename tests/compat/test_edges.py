"""Edge behaviours S3 clients meet, each answered as AWS answers it: non-ASCII user metadata
(raw UTF-8 signed by the client, or RFC 2047 words), If-Match on a missing key, UploadPartCopy
with a malformed or out-of-range source range, presigned URLs whose X-Amz-Expires is out of
bounds, and ``encoding-type=url`` listings of keys with spaces, plus signs and control
characters."""

from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any
from unittest import mock

import httpx
import pytest
from botocore.auth import S3SigV4QueryAuth, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from tests.server import ROOT_KEY, ROOT_SECRET, XoloServer

MiB = 1024 * 1024


def code(e: pytest.ExceptionInfo[ClientError]) -> str:
    return str(e.value.response["Error"]["Code"])


def put_signed_utf8(server: XoloServer, path: str, meta: dict[str, str]) -> httpx.Response:
    """A PUT whose x-amz-meta-* values go on the wire as raw UTF-8 bytes, signed over those
    bytes (what SDKs other than boto3 send)."""
    url = server.s3_url + path
    headers = {f"x-amz-meta-{k}": v for k, v in meta.items()}
    req = AWSRequest(method="PUT", url=url, data=b"body", headers=headers)
    req.headers["x-amz-content-sha256"] = hashlib.sha256(b"body").hexdigest()
    SigV4Auth(Credentials(ROOT_KEY, ROOT_SECRET), "s3", "us-east-1").add_auth(req)
    wire = [(k, v.encode("utf-8")) for k, v in req.headers.items()]
    return httpx.put(url, content=b"body", headers=wire)


def test_non_ascii_metadata_signs_and_comes_back_rfc2047_encoded(
    server: XoloServer, s3: Any, bucket: str
) -> None:
    r = put_signed_utf8(server, f"/{bucket}/utf8", {"city": "São Paulo", "word": "日本"})
    assert r.status_code == 200, r.text
    meta = s3.head_object(Bucket=bucket, Key="utf8")["Metadata"]
    assert meta["city"] == "=?UTF-8?B?U8OjbyBQYXVsbw==?="
    assert meta["word"] == "=?UTF-8?B?5pel5pys?="
    # An encoded word sent by boto3 (which refuses raw non-ASCII) is the same text.
    s3.put_object(Bucket=bucket, Key="b3", Body=b"x", Metadata={"word": "=?UTF-8?B?5pel5pys?="})
    assert s3.head_object(Bucket=bucket, Key="b3")["Metadata"]["word"] == "=?UTF-8?B?5pel5pys?="
    with server.client() as http:
        got = http.head(f"/v1/buckets/{bucket}/objects/utf8")
        assert got.headers["x-xolo-meta-city"] == "=?UTF-8?B?U8OjbyBQYXVsbw==?="
    s3.put_object(Bucket=bucket, Key="ascii", Body=b"x", Metadata={"plain": "as is"})
    assert s3.head_object(Bucket=bucket, Key="ascii")["Metadata"]["plain"] == "as is"


def test_a_tampered_non_ascii_value_still_fails_its_signature(
    server: XoloServer, bucket: str
) -> None:
    url = f"{server.s3_url}/{bucket}/tampered"
    req = AWSRequest(method="PUT", url=url, data=b"body", headers={"x-amz-meta-a": "café"})
    req.headers["x-amz-content-sha256"] = hashlib.sha256(b"body").hexdigest()
    SigV4Auth(Credentials(ROOT_KEY, ROOT_SECRET), "s3", "us-east-1").add_auth(req)
    wire = [(k, v.encode("utf-8")) for k, v in req.headers.items() if k != "x-amz-meta-a"]
    r = httpx.put(url, content=b"body", headers=[*wire, ("x-amz-meta-a", b"cafe")])
    assert r.status_code == 403 and b"SignatureDoesNotMatch" in r.content


def test_if_match_on_a_missing_key_is_no_such_key(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="absent", Body=b"x", IfMatch='"abc"')
    assert code(e) == "NoSuchKey" and e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    s3.put_object(Bucket=bucket, Key="present", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="present", Body=b"y", IfMatch='"abc"')
    assert code(e) == "PreconditionFailed"
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket, Prefix="absent")


def test_upload_part_copy_ranges_are_checked_against_the_source(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"0123456789")
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp")
    for bad in ("bytes=0-10", "bytes=5-2", "bytes=abc", "0-5", "bytes=0-", "bytes=-3"):
        with pytest.raises(ClientError) as e:
            s3.upload_part_copy(
                Bucket=bucket,
                Key="mp",
                UploadId=up["UploadId"],
                PartNumber=1,
                CopySource=f"{bucket}/src",
                CopySourceRange=bad,
            )
        assert code(e) == "InvalidArgument", bad
    assert s3.list_parts(Bucket=bucket, Key="mp", UploadId=up["UploadId"]).get("Parts", []) == []
    got = s3.upload_part_copy(
        Bucket=bucket,
        Key="mp",
        UploadId=up["UploadId"],
        PartNumber=1,
        CopySource=f"{bucket}/src",
        CopySourceRange="bytes=2-9",
    )
    assert got["CopyPartResult"]["ETag"] == f'"{hashlib.md5(b"23456789").hexdigest()}"'


def presigned(server: XoloServer, path: str, expires: int) -> str:
    req = AWSRequest(method="GET", url=server.s3_url + path)
    signer = S3SigV4QueryAuth(Credentials(ROOT_KEY, ROOT_SECRET), "s3", "us-east-1", expires)
    with mock.patch(
        "botocore.auth.get_current_datetime",
        return_value=dt.datetime.now(dt.UTC).replace(tzinfo=None),
    ):
        signer.add_auth(req)
    return str(req.url)


def test_presigned_expiry_bounds_are_awss(server: XoloServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    r = httpx.get(presigned(server, f"/{bucket}/k", 604800))
    assert r.status_code == 200
    r = httpx.get(presigned(server, f"/{bucket}/k", 604801))
    assert r.status_code == 400 and b"<Code>AuthorizationQueryParametersError</Code>" in r.content
    assert b"less than a week" in r.content
    r = httpx.get(presigned(server, f"/{bucket}/k", 0))
    assert r.status_code == 403 and b"Request has expired" in r.content
    url = presigned(server, f"/{bucket}/k", 60).replace("X-Amz-Expires=60", "X-Amz-Expires=-5")
    r = httpx.get(url)
    assert r.status_code == 400 and b"AuthorizationQueryParametersError" in r.content


def test_url_encoded_listings_carry_every_key(server: XoloServer, s3: Any, bucket: str) -> None:
    keys = ["a b.txt", "a+b.txt", "100%.csv", "ctl\x01key\x7f", "한글/x.txt"]
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    raw = s3.list_objects_v2(Bucket=bucket, EncodingType="url")
    assert [o["Key"] for o in raw["Contents"]] == [
        "100%25.csv",
        "a+b.txt",
        "a%2Bb.txt",
        "ctl%01key%7F",
        "%ED%95%9C%EA%B8%80/x.txt",
    ]
    # boto3 asks for url encoding itself and decodes it: every key comes back as written.
    assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == sorted(
        keys, key=str.encode
    )
    folded = s3.list_objects_v2(Bucket=bucket, Delimiter="/", EncodingType="url")
    assert [p["Prefix"] for p in folded["CommonPrefixes"]] == ["%ED%95%9C%EA%B8%80/"]


def test_a_presigned_put_cannot_carry_unsigned_amz_headers(
    server: XoloServer, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="private.csv", Body=b"SECRET")
    req = AWSRequest(method="PUT", url=server.s3_url + f"/{bucket}/upload.bin")
    signer = S3SigV4QueryAuth(Credentials(ROOT_KEY, ROOT_SECRET), "s3", "us-east-1", 300)
    signer.add_auth(req)
    url = str(req.url)
    smuggled = {"x-amz-copy-source": f"/{bucket}/private.csv", "x-amz-acl": "public-read"}
    r = httpx.put(url, content=b"", headers=smuggled)
    assert r.status_code == 403 and b"not signed" in r.content
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="upload.bin")
    assert httpx.put(url, content=b"mine").status_code == 200  # the URL itself still works
    assert s3.get_object(Bucket=bucket, Key="upload.bin")["Body"].read() == b"mine"
