"""S3 versioning with boto3 and awscli against a real ``xolo serve``: status, version ids on every
write, reads and deletes by version, delete markers with AWS's status codes and headers,
suspended ``null`` versions, copies from a version, DeleteObjects with versions, and a bucket of
1,000 versions of 100 keys whose every listing page equals a reference model (hypothesis)."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from typing import Any

import httpx
import pytest
from botocore.exceptions import ClientError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.compat.test_clients import aws, rclone  # noqa: F401  (the awscli and rclone fixtures)
from tests.server import ROOT_KEY, ROOT_SECRET, XoloServer

MiB = 1024 * 1024


def code(e: pytest.ExceptionInfo[ClientError]) -> str:
    return str(e.value.response["Error"]["Code"])


def headers(e: pytest.ExceptionInfo[ClientError]) -> dict[str, str]:
    return dict(e.value.response["ResponseMetadata"]["HTTPHeaders"])


def test_status_is_absent_then_enabled_then_suspended(s3: Any, bucket: str) -> None:
    assert "Status" not in s3.get_bucket_versioning(Bucket=bucket)
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Suspended"
    with pytest.raises(ClientError) as e:
        s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Off"})
    assert code(e) == "MalformedXML"


def test_every_write_gets_a_version_and_each_reads_back(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    ids = [
        s3.put_object(Bucket=bucket, Key="k", Body=f"v{i}".encode())["VersionId"] for i in range(3)
    ]
    assert len(set(ids)) == 3 and "null" not in ids
    for i, vid in enumerate(ids):
        got = s3.get_object(Bucket=bucket, Key="k", VersionId=vid)
        assert got["Body"].read() == f"v{i}".encode() and got["VersionId"] == vid
    assert s3.head_object(Bucket=bucket, Key="k")["VersionId"] == ids[-1]
    listed = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed] == [
        (ids[2], True),
        (ids[1], False),
        (ids[0], False),
    ]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId="0" * 32)
    assert code(e) == "NoSuchVersion"


def test_a_delete_marker_hides_the_key_with_aws_answers(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"one")["VersionId"]
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True
    marker = deleted["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k")
    assert code(e) == "NoSuchKey"
    assert headers(e)["x-amz-delete-marker"] == "true"
    assert headers(e)["x-amz-version-id"] == marker
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="k", VersionId=marker)
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 405
    assert code(e) == "MethodNotAllowed"
    assert s3.get_object(Bucket=bucket, Key="k", VersionId=first)["Body"].read() == b"one"
    listed = s3.list_object_versions(Bucket=bucket)
    assert [(m["VersionId"], m["IsLatest"]) for m in listed["DeleteMarkers"]] == [(marker, True)]
    assert [(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]] == [(first, False)]
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    # Removing the marker brings the version back.
    removed = s3.delete_object(Bucket=bucket, Key="k", VersionId=marker)
    assert removed["DeleteMarker"] is True and removed["VersionId"] == marker
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == b"one"


def test_suspended_versioning_writes_and_replaces_the_null_version(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    kept = s3.put_object(Bucket=bucket, Key="k", Body=b"kept")["VersionId"]
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Suspended"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"null 1")
    s3.put_object(Bucket=bucket, Key="k", Body=b"null 2")
    versions = s3.list_object_versions(Bucket=bucket)["Versions"]
    assert [v["VersionId"] for v in versions] == ["null", kept]
    assert s3.get_object(Bucket=bucket, Key="k", VersionId="null")["Body"].read() == b"null 2"
    deleted = s3.delete_object(Bucket=bucket, Key="k")
    assert deleted["DeleteMarker"] is True and deleted["VersionId"] == "null"


def test_copy_and_multipart_from_and_to_versions(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket=bucket, Key="src", Body=b"old")["VersionId"]
    s3.put_object(Bucket=bucket, Key="src", Body=b"new")
    copied = s3.copy_object(
        Bucket=bucket, Key="dst", CopySource={"Bucket": bucket, "Key": "src", "VersionId": old}
    )
    assert copied["CopySourceVersionId"] == old and copied["VersionId"] not in (old, "null")
    assert s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"old"
    # Restoring an old version in place is a copy onto its own key.
    s3.copy_object(
        Bucket=bucket, Key="src", CopySource={"Bucket": bucket, "Key": "src", "VersionId": old}
    )
    assert s3.get_object(Bucket=bucket, Key="src")["Body"].read() == b"old"
    uid = s3.create_multipart_upload(Bucket=bucket, Key="mp")["UploadId"]
    part = s3.upload_part_copy(
        Bucket=bucket,
        Key="mp",
        UploadId=uid,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src", "VersionId": old},
    )
    done = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=uid,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["CopyPartResult"]["ETag"]}]},
    )
    assert done["VersionId"] not in (None, "null")
    assert s3.get_object(Bucket=bucket, Key="mp")["Body"].read() == b"old"


def test_old_versions_share_chunks_and_survive_garbage_collection(
    server: XoloServer, s3: Any, bucket: str
) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    data = random.Random(7).randbytes(3 * MiB)
    with server.client() as http:

        def stored() -> int:
            r = http.get("/v1/chunks/usage")
            assert r.status_code == 200, r.text
            return int(r.json()["used_bytes"])

        first = s3.put_object(Bucket=bucket, Key="big", Body=data)["VersionId"]
        before = stored()
        s3.put_object(Bucket=bucket, Key="big", Body=b"small now")
        for _ in range(3):  # restoring by copy stores no bytes
            s3.copy_object(
                Bucket=bucket,
                Key="big",
                CopySource={"Bucket": bucket, "Key": "big", "VersionId": first},
            )
        assert stored() == before
    gc = subprocess.run(
        [sys.executable, "-m", "xolo", "gc", "--data", str(server.data), "--grace", "0"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert gc.returncode == 0, gc.stdout + gc.stderr
    assert s3.get_object(Bucket=bucket, Key="big", VersionId=first)["Body"].read() == data


def test_delete_objects_with_version_ids_empties_a_versioned_bucket(s3: Any) -> None:
    name = "versioned-empty"
    s3.create_bucket(Bucket=name)
    s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    for i in range(30):
        s3.put_object(Bucket=name, Key=f"k{i % 7}", Body=b"x")
        if i % 5 == 0:
            s3.delete_object(Bucket=name, Key=f"k{i % 7}")
    with pytest.raises(ClientError) as e:
        s3.delete_bucket(Bucket=name)
    assert code(e) == "BucketNotEmpty"
    answered = []
    for page in s3.get_paginator("list_object_versions").paginate(
        Bucket=name, PaginationConfig={"PageSize": 4}
    ):
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            result = s3.delete_objects(Bucket=name, Delete={"Objects": doomed})
            assert "Errors" not in result
            answered += result["Deleted"]
    assert len(answered) == 30 + 6
    assert {d["DeleteMarker"] for d in answered if "DeleteMarker" in d} == {True}
    s3.delete_bucket(Bucket=name)


def test_native_api_shows_the_same_versions(server: XoloServer, s3: Any, bucket: str) -> None:
    with server.client() as http:
        r = http.put(f"/v1/buckets/{bucket}", json={"versioning": "Enabled"})
        assert r.status_code == 200 and r.json()["versioning"] == "Enabled", r.text
        one = http.put(f"/v1/buckets/{bucket}/objects/n", content=b"1").json()["version_id"]
        http.put(f"/v1/buckets/{bucket}/objects/n", content=b"2")
        r = http.get(f"/v1/buckets/{bucket}/objects/n", params={"version_id": one})
        assert r.content == b"1" and r.headers["x-xolo-version-id"] == one
        r = http.delete(f"/v1/buckets/{bucket}/objects/n")
        assert r.status_code == 204 and r.headers["x-xolo-delete-marker"] == "true"
        listed = http.get(f"/v1/buckets/{bucket}/objects", params={"versions": ""}).json()
        assert [(v["delete_marker"], v["latest"]) for v in listed["versions"]] == [
            (True, True),
            (False, False),
            (False, False),
        ]
        assert listed["versions"][2]["version_id"] == one
    boto = s3.list_object_versions(Bucket=bucket)
    assert [v["VersionId"] for v in boto["Versions"]][-1] == one


def test_awscli_versioning_commands(aws: Any, s3: Any) -> None:  # noqa: F811
    s3.create_bucket(Bucket="cli-versions")
    aws("s3api", "put-bucket-versioning", "--bucket", "cli-versions",
        "--versioning-configuration", "Status=Enabled")  # fmt: skip
    status = json.loads(aws("s3api", "get-bucket-versioning", "--bucket", "cli-versions").stdout)
    assert status["Status"] == "Enabled"
    for body in (b"a", b"b"):
        s3.put_object(Bucket="cli-versions", Key="k", Body=body)
    listed = json.loads(aws("s3api", "list-object-versions", "--bucket", "cli-versions").stdout)
    assert len(listed["Versions"]) == 2 and sum(v["IsLatest"] for v in listed["Versions"]) == 1


# -- 1,000 versions of 100 keys against a model ----------------------------------------------------


@pytest.fixture(scope="module")
def model(server: XoloServer) -> tuple[Any, list[tuple[str, str, bool]]]:
    """A versioned bucket written by 1,000 operations (puts and deletes) over 100 keys, and the
    model of its versions: (key, version id, is a marker), newest first per key."""
    from tests.compat.conftest import client

    s3 = client(server)
    s3.create_bucket(Bucket="versions-model")
    s3.put_bucket_versioning(Bucket="versions-model", VersioningConfiguration={"Status": "Enabled"})
    rng = random.Random(11)
    keys = [f"{rng.choice(['a/', 'a/b/', 'c/', ''])}k{i:02}" for i in range(100)]
    history: dict[str, list[tuple[str, bool]]] = {k: [] for k in keys}
    for i in range(1000):
        key = keys[i % 100] if i < 100 else rng.choice(keys)
        if i >= 100 and rng.random() < 0.15:
            vid = s3.delete_object(Bucket="versions-model", Key=key)["VersionId"]
            history[key].insert(0, (vid, True))
        else:
            vid = s3.put_object(Bucket="versions-model", Key=key, Body=b"x")["VersionId"]
            history[key].insert(0, (vid, False))
    ordered = sorted(keys, key=str.encode)
    return s3, [(k, vid, marker) for k in ordered for vid, marker in history[k]]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    page=st.integers(min_value=1, max_value=300),
    prefix=st.sampled_from(["", "a/", "a/b/", "c/", "k", "zzz"]),
    delimiter=st.sampled_from(["", "/"]),
)
def test_every_listing_page_equals_the_model(
    model: tuple[Any, list[tuple[str, str, bool]]], page: int, prefix: str, delimiter: str
) -> None:
    s3, versions = model
    expected: list[tuple[str, str | None, bool]] = []
    seen_prefixes: set[str] = set()
    for key, vid, marker in versions:
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        if delimiter and delimiter in rest:
            folded = prefix + rest.split(delimiter, 1)[0] + delimiter
            if folded not in seen_prefixes:
                seen_prefixes.add(folded)
                expected.append((folded, None, False))
            continue
        expected.append((key, vid, marker))
    latest = {}
    for key, vid, _ in versions:
        latest.setdefault(key, vid)
    got: list[tuple[str, str | None, bool]] = []
    params: dict[str, Any] = {"Bucket": "versions-model", "MaxKeys": page, "Prefix": prefix}
    if delimiter:
        params["Delimiter"] = delimiter
    while True:
        answer = s3.list_object_versions(**params)
        entries = [
            (v["Key"], v["VersionId"], False, v["IsLatest"]) for v in answer.get("Versions", [])
        ] + [
            (m["Key"], m["VersionId"], True, m["IsLatest"]) for m in answer.get("DeleteMarkers", [])
        ]
        items: list[tuple[str, str | None, bool]] = [(k, v, m) for k, v, m, _ in entries]
        items += [(p["Prefix"], None, False) for p in answer.get("CommonPrefixes", [])]
        assert len(items) <= page
        for key, vid, _, is_latest in entries:
            assert is_latest == (latest[key] == vid)
        order = {(k, v): i for i, (k, v, _) in enumerate(expected)}
        got += sorted(items, key=lambda item: order.get((item[0], item[1]), -1))
        if not answer["IsTruncated"]:
            break
        params["KeyMarker"] = answer["NextKeyMarker"]
        params.pop("VersionIdMarker", None)
        if "NextVersionIdMarker" in answer:
            params["VersionIdMarker"] = answer["NextVersionIdMarker"]
    assert got == expected


def test_the_model_bucket_empties_through_its_versions(
    model: tuple[Any, list[tuple[str, str, bool]]], server: XoloServer
) -> None:
    s3, _ = model
    for page in s3.get_paginator("list_object_versions").paginate(Bucket="versions-model"):
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            assert "Errors" not in s3.delete_objects(
                Bucket="versions-model", Delete={"Objects": doomed}
            )
    s3.delete_bucket(Bucket="versions-model")
    with httpx.Client(base_url=server.url) as http:
        assert http.get("/health").status_code == 200


# -- rclone and the MinIO SDK over versions --------------------------------------------------------


def test_rclone_lists_every_version_with_s3_versions(
    rclone: Any,  # noqa: F811
    s3: Any,
    bucket: str,
) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    for body in (b"one", b"two", b"three"):
        s3.put_object(Bucket=bucket, Key="doc.txt", Body=body)
    listed = json.loads(rclone("lsjson", "--s3-versions", f"xolo:{bucket}").stdout)
    names = sorted(entry["Name"] for entry in listed)
    assert len(names) == 3 and "doc.txt" in names
    older = [n for n in names if n != "doc.txt"]
    assert all(n.startswith("doc-v") and n.endswith(".txt") for n in older)  # rclone's naming
    assert sorted(entry["Size"] for entry in listed) == [3, 3, 5]


def test_minio_sdk_lists_versions_and_reads_one(server: XoloServer, s3: Any, bucket: str) -> None:
    from minio import Minio

    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    first = s3.put_object(Bucket=bucket, Key="k", Body=b"first")["VersionId"]
    s3.put_object(Bucket=bucket, Key="k", Body=b"second")
    s3.delete_object(Bucket=bucket, Key="k")
    mc = Minio(
        f"127.0.0.1:{server.s3_port}",
        access_key=ROOT_KEY,
        secret_key=ROOT_SECRET,
        secure=False,
        region="us-east-1",
    )
    found = list(mc.list_objects(bucket, include_version=True))
    # The SDK yields a page's Version entries first, then its DeleteMarker entries.
    assert [(o.object_name, o.is_latest, o.is_delete_marker) for o in found] == [
        ("k", "false", False),
        ("k", "false", False),
        ("k", "true", True),
    ]
    assert found[1].version_id == first
    resp = mc.get_object(bucket, "k", version_id=first)
    try:
        assert resp.read() == b"first"
    finally:
        resp.close()
        resp.release_conn()
