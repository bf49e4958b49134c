"""Canned ACLs with boto3 against a real ``xolo serve``: on buckets (CreateBucket, PutBucketAcl)
and objects (PutObject, CreateMultipartUpload, CopyObject, PutObjectAcl), the grant documents
Get*Acl return, and what each ACL lets anonymous and other signed callers do, on both APIs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError

from tests.server import XoloServer

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"


def grants(doc: dict[str, Any]) -> set[tuple[str, str]]:
    """(grantee, permission) of each grant: the group URI, or 'owner'."""
    out = set()
    for grant in doc["Grants"]:
        grantee = grant["Grantee"]
        out.add((grantee.get("URI", "owner"), grant["Permission"]))
    return out


def other_key(server: XoloServer) -> tuple[str, str]:
    """A key with no grant on any bucket of these tests."""
    with server.client() as http:
        doc = http.post("/v1/admin/keys", json={"grants": {"unrelated-bucket": "read"}}).json()
    return doc["access_key"], doc["secret_key"]


def test_an_object_made_public_read_is_readable_anonymously_in_a_private_bucket(
    server: XoloServer, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="open", Body=b"for all", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="closed", Body=b"secret")
    r = httpx.get(f"{server.s3_url}/{bucket}/open")
    assert r.status_code == 200 and r.content == b"for all"
    assert httpx.get(f"{server.url}/v1/buckets/{bucket}/objects/open").content == b"for all"
    for path in (f"/{bucket}/closed", f"/{bucket}/missing", f"/{bucket}"):
        assert httpx.get(f"{server.s3_url}{path}").status_code == 403
    assert httpx.put(f"{server.s3_url}/{bucket}/open", content=b"x").status_code == 403
    s3.put_object_acl(Bucket=bucket, Key="open", ACL="private")
    assert httpx.get(f"{server.s3_url}/{bucket}/open").status_code == 403
    assert grants(s3.get_object_acl(Bucket=bucket, Key="open")) == {("owner", "FULL_CONTROL")}


def test_object_acls_from_multipart_and_copy(server: XoloServer, s3: Any, bucket: str) -> None:
    up = s3.create_multipart_upload(Bucket=bucket, Key="mp", ACL="public-read")
    part = s3.upload_part(Bucket=bucket, Key="mp", UploadId=up["UploadId"], PartNumber=1, Body=b"m")
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=up["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert httpx.get(f"{server.s3_url}/{bucket}/mp").content == b"m"
    assert grants(s3.get_object_acl(Bucket=bucket, Key="mp")) == {
        ("owner", "FULL_CONTROL"),
        (ALL_USERS, "READ"),
    }
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "mp"})
    assert httpx.get(f"{server.s3_url}/{bucket}/copy").status_code == 403  # copies start private
    s3.copy_object(
        Bucket=bucket, Key="copy2", CopySource={"Bucket": bucket, "Key": "mp"}, ACL="public-read"
    )
    assert httpx.get(f"{server.s3_url}/{bucket}/copy2").content == b"m"


def test_bucket_acls_open_reads_and_writes_as_named(server: XoloServer, s3: Any) -> None:
    s3.create_bucket(Bucket="acl-rw-bucket", ACL="public-read-write")
    assert grants(s3.get_bucket_acl(Bucket="acl-rw-bucket")) == {
        ("owner", "FULL_CONTROL"),
        (ALL_USERS, "READ"),
        (ALL_USERS, "WRITE"),
    }
    r = httpx.put(f"{server.s3_url}/acl-rw-bucket/anon", content=b"anyone")
    assert r.status_code == 200
    assert httpx.get(f"{server.s3_url}/acl-rw-bucket/anon").content == b"anyone"
    s3.put_bucket_acl(Bucket="acl-rw-bucket", ACL="private")
    assert httpx.put(f"{server.s3_url}/acl-rw-bucket/anon", content=b"x").status_code == 403
    assert httpx.get(f"{server.s3_url}/acl-rw-bucket/anon").status_code == 403
    with server.client() as http:
        assert http.get("/v1/buckets/acl-rw-bucket").json()["settings"]["public_read"] is False


def test_authenticated_read_lets_any_key_read_but_not_write(server: XoloServer, s3: Any) -> None:
    import boto3

    s3.create_bucket(Bucket="acl-auth-bucket", ACL="authenticated-read")
    s3.put_object(Bucket="acl-auth-bucket", Key="k", Body=b"members")
    access, secret = other_key(server)
    stranger = boto3.client(
        "s3",
        endpoint_url=server.s3_url,
        aws_access_key_id=access,
        aws_secret_access_key=secret,
        region_name="us-east-1",
    )
    assert stranger.get_object(Bucket="acl-auth-bucket", Key="k")["Body"].read() == b"members"
    with pytest.raises(ClientError) as e:
        stranger.put_object(Bucket="acl-auth-bucket", Key="k", Body=b"no")
    assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert httpx.get(f"{server.s3_url}/acl-auth-bucket/k").status_code == 403
    with pytest.raises(ClientError) as e:
        stranger.get_bucket_acl(Bucket="acl-auth-bucket")
    assert e.value.response["Error"]["Code"] == "AccessDenied"


def test_grant_lists_and_unknown_acls_are_refused(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", ACL="everyone-please")  # type: ignore[arg-type]
    assert e.value.response["Error"]["Code"] == "InvalidArgument"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="k", Body=b"x", GrantRead=f'uri="{ALL_USERS}"')
    assert e.value.response["Error"]["Code"] == "NotImplemented"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_bucket_configuration_and_acls_need_the_admin_grant(server: XoloServer, s3: Any) -> None:
    import boto3

    s3.create_bucket(Bucket="acl-config-bucket", ACL="public-read")
    s3.put_object(Bucket="acl-config-bucket", Key="k", Body=b"x")
    s3.put_bucket_cors(
        Bucket="acl-config-bucket",
        CORSConfiguration={"CORSRules": [{"AllowedOrigins": ["*"], "AllowedMethods": ["GET"]}]},
    )
    with server.client() as http:
        doc = http.post("/v1/admin/keys", json={"grants": {"acl-config-bucket": "read"}}).json()
    reader = boto3.client(
        "s3",
        endpoint_url=server.s3_url,
        aws_access_key_id=doc["access_key"],
        aws_secret_access_key=doc["secret_key"],
        region_name="us-east-1",
    )
    assert reader.get_object(Bucket="acl-config-bucket", Key="k")["Body"].read() == b"x"
    for call in (
        lambda: reader.get_bucket_cors(Bucket="acl-config-bucket"),
        lambda: reader.get_bucket_lifecycle_configuration(Bucket="acl-config-bucket"),
        lambda: reader.get_object_acl(Bucket="acl-config-bucket", Key="k"),
        lambda: reader.get_bucket_acl(Bucket="acl-config-bucket"),
    ):
        with pytest.raises(ClientError) as e:
            call()
        assert e.value.response["Error"]["Code"] == "AccessDenied"
    assert httpx.get(f"{server.s3_url}/acl-config-bucket?cors").status_code == 403
