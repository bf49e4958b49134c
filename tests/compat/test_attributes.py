"""S3 object tagging, GetObjectAttributes, partNumber reads, multipart checksums (composite and
full-object, CRC64NVME among them) and repeated completions, with boto3 and awscli against a
real ``xolo serve``; each behaviour and error code as AWS documents it."""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from typing import Any

import pytest
from awscrt import checksums as crt
from botocore.exceptions import ClientError

from tests.compat.test_clients import aws  # noqa: F401  (the awscli fixture)

MiB = 1024 * 1024
PART = 5 * MiB


def code(e: pytest.ExceptionInfo[ClientError]) -> str:
    return str(e.value.response["Error"]["Code"])


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()


def crc32(data: bytes) -> str:
    return b64(zlib.crc32(data).to_bytes(4, "big"))


def tag_set(tags: dict[str, str]) -> dict[str, Any]:
    return {"TagSet": [{"Key": k, "Value": v} for k, v in tags.items()]}


def tags_of(s3: Any, bucket: str, key: str, **kw: Any) -> dict[str, str]:
    got = s3.get_object_tagging(Bucket=bucket, Key=key, **kw)["TagSet"]
    return {t["Key"]: t["Value"] for t in got}


def upload(s3: Any, bucket: str, key: str, parts: list[bytes], **create: Any) -> dict[str, Any]:
    """A multipart upload of ``parts`` (each part's checksum sent when an algorithm is chosen)."""
    up = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)
    algorithm = create.get("ChecksumAlgorithm")
    listed = []
    for n, data in enumerate(parts, 1):
        extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
        got = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=up["UploadId"], PartNumber=n, Body=data, **extra
        )
        entry = {"PartNumber": n, "ETag": got["ETag"]}
        if algorithm:
            name = f"Checksum{algorithm.upper()}"
            entry[name] = got[name]
        listed.append(entry)
    done = s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=up["UploadId"], MultipartUpload={"Parts": listed}
    )
    return {"upload_id": up["UploadId"], "parts": listed, "done": done}


# -- tagging -------------------------------------------------------------------------------------


def test_tags_set_on_put_are_read_replaced_and_deleted(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="team=a&stage=dev%20box")
    assert tags_of(s3, bucket, "k") == {"team": "a", "stage": "dev box"}
    assert s3.get_object(Bucket=bucket, Key="k")["TagCount"] == 2
    etag = s3.head_object(Bucket=bucket, Key="k")["ETag"]
    s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set({"only": "one"}))
    assert tags_of(s3, bucket, "k") == {"only": "one"}
    assert s3.head_object(Bucket=bucket, Key="k")["ETag"] == etag  # the bytes did not change
    s3.delete_object_tagging(Bucket=bucket, Key="k")
    assert tags_of(s3, bucket, "k") == {}
    assert "TagCount" not in s3.get_object(Bucket=bucket, Key="k")


def test_tags_of_a_multipart_upload_reach_the_object(s3: Any, bucket: str) -> None:
    upload(s3, bucket, "mp", [b"a" * PART, b"b"], Tagging="kind=big")
    assert tags_of(s3, bucket, "mp") == {"kind": "big"}


def test_tags_belong_to_one_version(s3: Any, bucket: str) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old = s3.put_object(Bucket=bucket, Key="k", Body=b"1", Tagging="v=1")["VersionId"]
    new = s3.put_object(Bucket=bucket, Key="k", Body=b"2")["VersionId"]
    got = s3.put_object_tagging(
        Bucket=bucket, Key="k", VersionId=old, Tagging=tag_set({"v": "old"})
    )
    assert got["VersionId"] == old
    assert tags_of(s3, bucket, "k", VersionId=old) == {"v": "old"}
    assert tags_of(s3, bucket, "k") == {}
    assert s3.get_object_tagging(Bucket=bucket, Key="k")["VersionId"] == new


def test_tag_limits_are_awss_and_a_refused_tagging_changes_nothing(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", Tagging="keep=me")
    cases = {
        "BadRequest": {f"k{i}": "v" for i in range(11)},
        "InvalidTag": {"k" * 129: "v"},
    }
    for expected, tags in cases.items():
        with pytest.raises(ClientError) as e:
            s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(tags))
        assert code(e) == expected
    for tags in ({"k": "v" * 257}, {"aws:reserved": "v"}):
        with pytest.raises(ClientError) as e:
            s3.put_object_tagging(Bucket=bucket, Key="k", Tagging=tag_set(tags))
        assert code(e) == "InvalidTag"
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(
            Bucket=bucket,
            Key="k",
            Tagging={"TagSet": [{"Key": "a", "Value": "1"}, {"Key": "a", "Value": "2"}]},
        )
    assert code(e) == "InvalidTag"
    with pytest.raises(ClientError) as e:
        s3.put_object(Bucket=bucket, Key="new", Body=b"x", Tagging="a=1&a=2")
    assert code(e) == "InvalidTag"
    assert tags_of(s3, bucket, "k") == {"keep": "me"}
    with pytest.raises(ClientError) as e:
        s3.head_object(Bucket=bucket, Key="new")
    assert e.value.response["Error"]["Code"] == "404"


def test_tagging_a_missing_key_or_a_delete_marker_is_refused(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.get_object_tagging(Bucket=bucket, Key="missing")
    assert code(e) == "NoSuchKey"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    marker = s3.delete_object(Bucket=bucket, Key="k")["VersionId"]
    with pytest.raises(ClientError) as e:
        s3.put_object_tagging(Bucket=bucket, Key="k", VersionId=marker, Tagging=tag_set({"a": "b"}))
    assert code(e) == "MethodNotAllowed"


def test_bucket_tagging_stays_not_implemented(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as e:
        s3.get_bucket_tagging(Bucket=bucket)
    assert code(e) == "NotImplemented"


# -- partNumber ----------------------------------------------------------------------------------


def test_part_number_reads_one_part_with_the_parts_count(s3: Any, bucket: str) -> None:
    parts = [b"a" * PART, b"b" * PART, b"c" * 100]
    upload(s3, bucket, "mp", parts)
    for n, data in enumerate(parts, 1):
        got = s3.get_object(Bucket=bucket, Key="mp", PartNumber=n)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
        assert got["PartsCount"] == 3 and got["Body"].read() == data
        start = sum(len(p) for p in parts[: n - 1])
        assert got["ContentRange"] == f"bytes {start}-{start + len(data) - 1}/{PART * 2 + 100}"
    head = s3.head_object(Bucket=bucket, Key="mp", PartNumber=2)
    assert head["ContentLength"] == PART and head["PartsCount"] == 3
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="mp", PartNumber=4)
    assert code(e) == "InvalidPartNumber"
    assert e.value.response["ResponseMetadata"]["HTTPStatusCode"] == 416


def test_part_one_of_a_single_part_object_is_the_whole_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="one", Body=b"0123456789")
    got = s3.get_object(Bucket=bucket, Key="one", PartNumber=1)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == "bytes 0-9/10" and got["Body"].read() == b"0123456789"
    assert "PartsCount" not in got
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="one", PartNumber=2)
    assert code(e) == "InvalidPartNumber"


def test_part_number_with_a_range_or_out_of_bounds_is_refused(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="one", Body=b"0123456789")
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="one", PartNumber=1, Range="bytes=0-1")
    assert code(e) == "InvalidRequest"
    with pytest.raises(ClientError) as e:
        s3.get_object(Bucket=bucket, Key="one", PartNumber=10_001)
    assert code(e) == "InvalidArgument"


# -- multipart checksums and repeated completion ------------------------------------------------


def test_composite_crc32_of_a_multipart_object_is_returned_and_checked(
    s3: Any, bucket: str
) -> None:
    parts = [b"a" * PART, b"z" * 1000]
    done = upload(s3, bucket, "mp", parts, ChecksumAlgorithm="CRC32")["done"]
    composite = b64(
        zlib.crc32(b"".join(base64.b64decode(crc32(p)) for p in parts)).to_bytes(4, "big")
    )
    assert done["ChecksumCRC32"] == f"{composite}-2"
    head = s3.head_object(Bucket=bucket, Key="mp", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == f"{composite}-2" and head["ChecksumType"] == "COMPOSITE"
    part = s3.head_object(Bucket=bucket, Key="mp", PartNumber=2, ChecksumMode="ENABLED")
    assert part["ChecksumCRC32"] == crc32(parts[1])


def test_full_object_crc32_equals_the_crc_of_every_byte(s3: Any, bucket: str) -> None:
    parts = [bytes(range(256)) * (PART // 256), b"tail" * 10]
    done = upload(s3, bucket, "full", parts, ChecksumAlgorithm="CRC32", ChecksumType="FULL_OBJECT")[
        "done"
    ]
    whole = crc32(b"".join(parts))
    assert done["ChecksumCRC32"] == whole and done["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == whole


def test_crc64nvme_is_accepted_on_put_and_multipart(s3: Any, bucket: str) -> None:
    data = b"crc64 nvme" * 1000
    expected = b64(crt.crc64nvme(data).to_bytes(8, "big"))
    put = s3.put_object(Bucket=bucket, Key="p", Body=data, ChecksumAlgorithm="CRC64NVME")
    assert put["ChecksumCRC64NVME"] == expected
    got = s3.get_object(Bucket=bucket, Key="p", ChecksumMode="ENABLED")
    assert got["ChecksumCRC64NVME"] == expected and got["Body"].read() == data
    parts = [b"q" * PART, data]
    done = upload(s3, bucket, "mp", parts, ChecksumAlgorithm="CRC64NVME")["done"]
    whole = b64(crt.crc64nvme(b"".join(parts)).to_bytes(8, "big"))
    assert done["ChecksumCRC64NVME"] == whole and done["ChecksumType"] == "FULL_OBJECT"


def test_a_wrong_part_checksum_at_completion_is_invalid_part(s3: Any, bucket: str) -> None:
    up = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="CRC32")
    got = s3.upload_part(
        Bucket=bucket,
        Key="k",
        UploadId=up["UploadId"],
        PartNumber=1,
        Body=b"x",
        ChecksumAlgorithm="CRC32",
    )
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="k",
            UploadId=up["UploadId"],
            MultipartUpload={
                "Parts": [{"PartNumber": 1, "ETag": got["ETag"], "ChecksumCRC32": crc32(b"y")}]
            },
        )
    assert code(e) == "InvalidPart"
    with pytest.raises(ClientError):
        s3.head_object(Bucket=bucket, Key="k")


def test_completing_twice_answers_the_same_etag(s3: Any, bucket: str) -> None:
    made = upload(s3, bucket, "mp", [b"a" * PART, b"b"])
    again = s3.complete_multipart_upload(
        Bucket=bucket,
        Key="mp",
        UploadId=made["upload_id"],
        MultipartUpload={"Parts": made["parts"]},
    )
    assert again["ETag"] == made["done"]["ETag"]
    with pytest.raises(ClientError) as e:
        s3.complete_multipart_upload(
            Bucket=bucket,
            Key="mp",
            UploadId="not-an-upload",
            MultipartUpload={"Parts": made["parts"]},
        )
    assert code(e) == "NoSuchUpload"


# -- GetObjectAttributes -------------------------------------------------------------------------


def test_attributes_of_a_single_part_object(s3: Any, bucket: str) -> None:
    data = b"attributes"
    s3.put_object(Bucket=bucket, Key="one", Body=data, ChecksumAlgorithm="SHA256")
    got = s3.get_object_attributes(
        Bucket=bucket,
        Key="one",
        ObjectAttributes=["ETag", "Checksum", "ObjectParts", "StorageClass", "ObjectSize"],
    )
    assert got["ETag"] == hashlib.md5(data).hexdigest()
    assert got["Checksum"]["ChecksumSHA256"] == b64(hashlib.sha256(data).digest())
    assert got["ObjectSize"] == len(data) and got["StorageClass"] == "STANDARD"
    assert "ObjectParts" not in got


def test_attributes_of_a_multipart_object_page_through_its_parts(s3: Any, bucket: str) -> None:
    parts = [b"1" * PART, b"2" * PART, b"3" * 7]
    upload(s3, bucket, "mp", parts, ChecksumAlgorithm="SHA1")
    first = s3.get_object_attributes(
        Bucket=bucket, Key="mp", ObjectAttributes=["ObjectParts", "ObjectSize"], MaxParts=2
    )
    page = first["ObjectParts"]
    assert page["TotalPartsCount"] == 3 and page["IsTruncated"] is True
    assert [(p["PartNumber"], p["Size"]) for p in page["Parts"]] == [(1, PART), (2, PART)]
    assert page["Parts"][0]["ChecksumSHA1"] == b64(hashlib.sha1(parts[0]).digest())
    rest = s3.get_object_attributes(
        Bucket=bucket,
        Key="mp",
        ObjectAttributes=["ObjectParts"],
        PartNumberMarker=page["NextPartNumberMarker"],
    )["ObjectParts"]
    assert [p["PartNumber"] for p in rest["Parts"]] == [3] and rest["IsTruncated"] is False
    assert first["ObjectSize"] == 2 * PART + 7


def test_attributes_with_an_unknown_name_are_refused(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="one", Body=b"x")
    with pytest.raises(ClientError) as e:
        s3.get_object_attributes(Bucket=bucket, Key="one", ObjectAttributes=["Colour"])
    assert code(e) == "InvalidArgument"


def test_awscli_reads_object_attributes(aws: Any, s3: Any, bucket: str) -> None:  # noqa: F811
    s3.put_object(Bucket=bucket, Key="one", Body=b"12345")
    out = aws(
        "s3api",
        "get-object-attributes",
        "--bucket",
        bucket,
        "--key",
        "one",
        "--object-attributes",
        "ObjectSize",
        "ETag",
    )
    doc = json.loads(out.stdout)
    assert doc["ObjectSize"] == 5 and doc["ETag"] == hashlib.md5(b"12345").hexdigest()


def test_native_api_shows_and_changes_the_same_tags(server: Any, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="dir/k", Body=b"x", Tagging="from=s3")
    with server.client() as http:
        path = f"/v1/buckets/{bucket}/tags/dir/k"
        assert http.get(path).json()["tags"] == {"from": "s3"}
        assert http.head(f"/v1/buckets/{bucket}/objects/dir/k").headers["x-xolo-tag-count"] == "1"
        r = http.put(path, json={"tags": {"from": "native", "n": "2"}})
        assert r.status_code == 200 and r.json()["tags"] == {"from": "native", "n": "2"}
        assert tags_of(s3, bucket, "dir/k") == {"from": "native", "n": "2"}
        r = http.put(path, json={"tags": {f"k{i}": "v" for i in range(11)}})
        assert r.status_code == 400 and r.json()["error"]["code"] == "TooManyTags"
        r = http.put(path, json={"labels": {}})
        assert r.status_code == 400
        assert http.delete(path).json()["tags"] == {}
        assert http.get(f"/v1/buckets/{bucket}/tags/missing").status_code == 404
    assert tags_of(s3, bucket, "dir/k") == {}


def test_a_presigned_object_url_does_not_open_the_objects_tags(server: Any, bucket: str) -> None:
    with server.client() as http:
        http.put(f"/v1/buckets/{bucket}/objects/k", content=b"x", headers={"x-xolo-tagging": "a=1"})
        url = http.post(
            "/v1/presign", json={"method": "PUT", "bucket": bucket, "key": "k", "expires": 60}
        ).json()["url"]
    import httpx

    query = url.split("?", 1)[1]
    r = httpx.put(f"{server.url}/v1/buckets/{bucket}/tags/k?{query}", json={"tags": {}})
    assert r.status_code in (401, 403)
    with server.client() as http:
        assert http.get(f"/v1/buckets/{bucket}/tags/k").json()["tags"] == {"a": "1"}


# -- ListBuckets pagination ------------------------------------------------------------------------


def test_list_buckets_pages_by_max_buckets_and_prefix(s3: Any) -> None:
    names = [f"page-{i:02d}-bkt" for i in range(7)]
    for name in names:
        s3.create_bucket(Bucket=name)
    seen: list[str] = []
    kwargs: dict[str, Any] = {"MaxBuckets": 3, "Prefix": "page-"}
    while True:
        got = s3.list_buckets(**kwargs)
        assert got["Prefix"] == "page-" and len(got["Buckets"]) <= 3
        seen += [b["Name"] for b in got["Buckets"]]
        if "ContinuationToken" not in got:
            break
        kwargs["ContinuationToken"] = got["ContinuationToken"]
    assert seen == names
    everything = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert set(names) <= set(everything) and everything == sorted(everything)
    with pytest.raises(ClientError) as e:
        s3.list_buckets(MaxBuckets=2, ContinuationToken="not a token!")
    assert code(e) == "InvalidArgument"


# -- lifecycle -----------------------------------------------------------------------------------


def test_lifecycle_configuration_round_trips_and_is_carried_out(
    server: Any, s3: Any, bucket: str
) -> None:
    import datetime as dt

    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code(e) == "NoSuchLifecycleConfiguration"
    today = dt.datetime.now(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    rules = [
        {
            "ID": "expire-tmp",
            "Filter": {"And": {"Prefix": "tmp/", "Tags": [{"Key": "scratch", "Value": "yes"}]}},
            "Status": "Enabled",
            "Expiration": {"Date": today},
        },
        {
            "ID": "abort",
            "Filter": {"Prefix": ""},
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
            "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
        },
    ]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": rules})
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert [r["ID"] for r in got] == ["expire-tmp", "abort"]
    assert got[0]["Expiration"]["Date"] == today
    assert got[0]["Filter"]["And"]["Prefix"] == "tmp/"
    assert got[1]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 7
    s3.put_object(Bucket=bucket, Key="tmp/a", Body=b"x", Tagging="scratch=yes")
    s3.put_object(Bucket=bucket, Key="tmp/b", Body=b"x")
    s3.put_object(Bucket=bucket, Key="keep", Body=b"x", Tagging="scratch=yes")
    with server.client() as http:
        r = http.post("/v1/admin/tasks/lifecycle/run")
        assert r.status_code == 200, r.text
        assert r.json()["counters"]["expired"] == 1
    left = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]]
    assert left == ["keep", "tmp/b"]
    s3.delete_bucket_lifecycle(Bucket=bucket)
    with pytest.raises(ClientError) as e:
        s3.get_bucket_lifecycle_configuration(Bucket=bucket)
    assert code(e) == "NoSuchLifecycleConfiguration"


def test_a_malformed_lifecycle_configuration_changes_nothing(s3: Any, bucket: str) -> None:
    good = [{"ID": "a", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 5}}]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": good})
    bad = [{"ID": "a", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 0}}]
    with pytest.raises(ClientError) as e:
        s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": bad})
    assert code(e) == "InvalidArgument"
    got = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
    assert got[0]["Expiration"]["Days"] == 5


def test_lifecycle_conditions_it_cannot_honour_are_refused(s3: Any, bucket: str) -> None:
    good = [{"ID": "a", "Filter": {"Prefix": ""}, "Status": "Enabled", "Expiration": {"Days": 5}}]
    s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": good})
    sized = {
        "ID": "big-logs",
        "Filter": {"And": {"Prefix": "logs/", "ObjectSizeGreaterThan": 1024}},
        "Status": "Enabled",
        "Expiration": {"Days": 1},
    }
    newest = {
        "ID": "keep-three",
        "Filter": {"Prefix": ""},
        "Status": "Enabled",
        "NoncurrentVersionExpiration": {"NoncurrentDays": 1, "NewerNoncurrentVersions": 3},
    }
    for rule in (sized, newest):
        with pytest.raises(ClientError) as e:
            s3.put_bucket_lifecycle_configuration(
                Bucket=bucket, LifecycleConfiguration={"Rules": [rule]}
            )
        assert code(e) == "NotImplemented"
    assert [r["ID"] for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]] == ["a"]
