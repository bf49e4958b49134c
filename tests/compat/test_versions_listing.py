"""ListObjectVersions on buckets that were never versioned, as tools that empty a bucket before
deleting it call it: every object is its one null version, pages follow key markers, and
ListObjectVersions + DeleteObjects leaves the bucket deletable (boto3 and awscli)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.compat.test_clients import aws  # noqa: F401  (the awscli fixture)


def test_every_object_is_its_null_version_and_pages_follow_key_markers(s3: Any) -> None:
    s3.create_bucket(Bucket="versions-list")
    keys = [f"dir/{i:02}" for i in range(7)] + ["top"]
    for k in keys:
        s3.put_object(Bucket="versions-list", Key=k, Body=k.encode())
    listed = s3.list_object_versions(Bucket="versions-list")
    assert [v["Key"] for v in listed["Versions"]] == keys
    assert {(v["VersionId"], v["IsLatest"]) for v in listed["Versions"]} == {("null", True)}
    assert "DeleteMarkers" not in listed
    paged = [
        v["Key"]
        for page in s3.get_paginator("list_object_versions").paginate(
            Bucket="versions-list", PaginationConfig={"PageSize": 3}
        )
        for v in page.get("Versions", [])
    ]
    assert paged == keys
    folded = s3.list_object_versions(Bucket="versions-list", Delimiter="/")
    assert [p["Prefix"] for p in folded["CommonPrefixes"]] == ["dir/"]
    assert [v["Key"] for v in folded["Versions"]] == ["top"]
    body = s3.get_object(Bucket="versions-list", Key="top", VersionId="null")["Body"].read()
    assert body == b"top"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket="versions-list", Key="top", VersionId="3HL4kqtJlcpXroDTDmJ")
    assert e.value.response["Error"]["Code"] == "InvalidArgument"
    assert s3.get_bucket_versioning(Bucket="versions-list").get("Status") is None


def test_emptying_a_bucket_through_its_versions_leaves_it_deletable(s3: Any) -> None:
    s3.create_bucket(Bucket="versions-empty")
    for i in range(25):
        s3.put_object(Bucket="versions-empty", Key=f"k{i}", Body=b"x")
    for page in s3.get_paginator("list_object_versions").paginate(Bucket="versions-empty"):
        doomed = [
            {"Key": v["Key"], "VersionId": v["VersionId"]}
            for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
        ]
        if doomed:
            s3.delete_objects(Bucket="versions-empty", Delete={"Objects": doomed})
    s3.delete_bucket(Bucket="versions-empty")
    with pytest.raises(ClientError):
        s3.head_bucket(Bucket="versions-empty")


def test_awscli_list_object_versions(aws: Any, s3: Any, tmp_path: Path) -> None:  # noqa: F811
    s3.create_bucket(Bucket="versions-cli")
    s3.put_object(Bucket="versions-cli", Key="a", Body=b"1")
    import json

    doc = json.loads(aws("s3api", "list-object-versions", "--bucket", "versions-cli").stdout)
    assert [(v["Key"], v["VersionId"]) for v in doc["Versions"]] == [("a", "null")]
