from __future__ import annotations

import pytest

from xolo.core import errors
from xolo.core.chunking import Rechunker
from xolo.core.conditions import WriteCondition, check_read, format_http_date
from xolo.core.listing import common_prefix, decode_cursor, encode_cursor, prefix_end
from xolo.core.names import (
    check_bucket_name,
    check_key,
    check_metadata,
    check_tags,
    tags_from_query,
)
from xolo.core.ranges import ByteRange, parse_range
from xolo.core.records import ChunkRef, ObjectRecord


@pytest.mark.parametrize("name", ["abc", "my-bucket", "my.bucket.1", "a" * 63, "1bucket"])
def test_valid_bucket_names(name: str) -> None:
    assert check_bucket_name(name) == name


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("ab", "3 to 63"),
        ("a" * 64, "3 to 63"),
        ("MyBucket", "lowercase"),
        ("-abc", "begin and end"),
        ("abc-", "begin and end"),
        ("a..b", "adjacent periods"),
        ("a.-b", "period next to a hyphen"),
        ("192.168.1.1", "IP address"),
        ("xn--abc", "start with"),
        ("abc-s3alias", "end with"),
        ("a_b", "lowercase"),
    ],
)
def test_invalid_bucket_names_say_which_rule(name: str, rule: str) -> None:
    with pytest.raises(errors.InvalidBucketName, match=rule):
        check_bucket_name(name)


def test_keys() -> None:
    assert check_key("a/b/é") == "a/b/é".encode()
    assert check_key("x" * 1024)
    for bad, rule in [("", "empty"), ("x" * 1025, "1024"), ("a\x00b", "NUL"), ("\ud800", "UTF-8")]:
        with pytest.raises(errors.InvalidKeyName, match=rule):
            check_key(bad)


def test_metadata_and_tags_limits() -> None:
    assert check_metadata({"Owner": "me"}) == {"owner": "me"}
    with pytest.raises(errors.InvalidMetadata, match="2048"):
        check_metadata({"big": "x" * 3000})
    assert check_metadata({"a": "caf\u00e9 \u65e5\u672c"}) == {"a": "caf\u00e9 \u65e5\u672c"}
    with pytest.raises(errors.InvalidMetadata, match="control characters"):
        check_metadata({"a": "line\nbreak"})
    with pytest.raises(errors.InvalidMetadata, match="header token"):
        check_metadata({"a b": "x"})
    with pytest.raises(errors.TooManyTags, match="cannot be greater than 10"):
        check_tags({str(i): "v" for i in range(11)})
    with pytest.raises(errors.InvalidTag, match="tag value"):
        check_tags({"k": "v" * 257})
    with pytest.raises(errors.InvalidTag, match="1 to 128"):
        check_tags({"k" * 129: "v"})
    with pytest.raises(errors.InvalidTag, match="aws:"):
        check_tags({"aws:cloudformation:stack": "v"})
    with pytest.raises(errors.InvalidTag, match="more than once"):
        tags_from_query("a=1&a=2")
    assert tags_from_query("a=1&b=x%20y&c=") == {"a": "1", "b": "x y", "c": ""}


@pytest.mark.parametrize(
    ("header", "size", "expected"),
    [
        (None, 10, None),
        ("bytes=0-0", 10, ByteRange(0, 0)),
        ("bytes=2-5", 10, ByteRange(2, 5)),
        ("bytes=2-100", 10, ByteRange(2, 9)),
        ("bytes=7-", 10, ByteRange(7, 9)),
        ("bytes=-3", 10, ByteRange(7, 9)),
        ("bytes=-30", 10, ByteRange(0, 9)),
    ],
)
def test_ranges(header: str | None, size: int, expected: ByteRange | None) -> None:
    assert parse_range(header, size) == expected


@pytest.mark.parametrize(
    "header",
    ["bytes=10-", "bytes=5-2", "bytes=-0", "items=0-1", "bytes=0-1,3-4", "bytes=a-b", "bytes=-"],
)
def test_bad_ranges(header: str) -> None:
    with pytest.raises(errors.InvalidRange) as info:
        parse_range(header, 10)
    assert info.value.status == 416 and info.value.size == 10


def test_empty_object_has_no_satisfiable_range() -> None:
    with pytest.raises(errors.InvalidRange):
        parse_range("bytes=0-", 0)


def test_read_conditions() -> None:
    t = 1_700_000_000.5
    check_read(etag="e", modified=t, if_match='"e"', if_none_match='"x"')
    with pytest.raises(errors.PreconditionFailed):
        check_read(etag="e", modified=t, if_match='"x"')
    with pytest.raises(errors.NotModified):
        check_read(etag="e", modified=t, if_none_match='W/"e", "f"')
    with pytest.raises(errors.NotModified):
        check_read(etag="e", modified=t, if_modified_since=format_http_date(t))
    check_read(etag="e", modified=t, if_modified_since=format_http_date(t - 10))
    check_read(etag="e", modified=t, if_modified_since="not a date")
    with pytest.raises(errors.PreconditionFailed):
        check_read(etag="e", modified=t, if_unmodified_since=format_http_date(t - 10))
    # If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
    check_read(etag="e", modified=t, if_none_match='"x"', if_modified_since=format_http_date(t))


def test_write_conditions() -> None:
    WriteCondition(if_none_match="*").check(None, None)
    with pytest.raises(errors.PreconditionFailed):
        WriteCondition(if_none_match="*").check("e", "v")
    with pytest.raises(errors.NoSuchKey):
        WriteCondition(if_match='"e"').check(None, None)
    with pytest.raises(errors.ConcurrentUpdate):
        WriteCondition(expect_version="").check("e", "v")


def test_listing_bounds_and_cursors() -> None:
    assert prefix_end(b"a/") == b"a0"
    assert prefix_end(b"") is None
    assert prefix_end(b"a\xff") == b"b"
    assert common_prefix(b"a/b/c", b"a/", b"/") == b"a/b/"
    assert common_prefix(b"a/b", b"a/", b"/") is None
    assert common_prefix(b"a/b", b"", b"") is None
    assert decode_cursor(encode_cursor(b"k1", is_prefix=False)) == b"k1\x00"
    assert decode_cursor(encode_cursor(b"a/", is_prefix=True)) == b"a0"
    with pytest.raises(errors.InvalidArgument):
        decode_cursor("!!!")
    with pytest.raises(errors.InvalidArgument):
        decode_cursor(encode_cursor(b"x", is_prefix=False).replace("a", "Z", 1)[:1])


def test_rechunker() -> None:
    r = Rechunker(4)
    assert r.feed(b"ab") == []
    assert r.feed(b"cdefghij") == [b"abcd", b"efgh"]
    assert r.finish() == b"ij"
    assert r.finish() == b""


def test_manifest_slices() -> None:
    rec = ObjectRecord(
        bucket="b",
        key="k",
        size=10,
        etag="e",
        sha256=None,
        modified=0.0,
        version="v",
        chunks=(
            ChunkRef(sha256="a", size=4),
            ChunkRef(sha256="b", size=4),
            ChunkRef(sha256="c", size=2),
        ),
    )
    assert [(c.sha256, o, n) for c, o, n in rec.slices(3, 8)] == [
        ("a", 3, 1),
        ("b", 0, 4),
        ("c", 0, 1),
    ]
    assert [(c.sha256, o, n) for c, o, n in rec.slices(4, 7)] == [("b", 0, 4)]


def test_every_error_has_one_status_and_code() -> None:
    classes = [
        c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, errors.XoloError)
    ]
    codes = [c.code for c in classes]
    assert len(codes) == len(set(codes)), "two error classes share a code"
    for cls in classes:
        assert 300 <= cls.status < 600
    assert errors.NoSuchKey().status == 404 and errors.NoSuchKey().code == "NoSuchKey"
    assert "secret" not in errors.InvalidCredentials().message.lower()


def test_a_plan_token_checks_only_for_its_bucket_until_it_expires() -> None:
    from xolo.core.cluster_auth import check_plan, issue_plan
    from xolo.core.errors import AccessDenied

    token = issue_plan("secret", "photos", expires=1000)
    challenge = check_plan("secret", token, "photos", now=999)
    assert len(bytes.fromhex(challenge)) == 16
    for bucket, now, secret in (
        ("other", 999, "secret"),
        ("photos", 1001, "secret"),
        ("photos", 999, "another secret"),
    ):
        with pytest.raises(AccessDenied):
            check_plan(secret, token, bucket, now=now)
    for bad in ("", "1000.zz", "é.é.é", token + "x"):
        with pytest.raises(AccessDenied):
            check_plan("secret", bad, "photos", now=999)


def test_upload_ids_never_start_like_a_command_line_option() -> None:
    from xolo.core.names import new_upload_id

    ids = [new_upload_id() for _ in range(10_000)]
    assert all(i[0].isalnum() for i in ids)  # ``--upload-id -K…`` is read as an option
    assert len(set(ids)) == len(ids)


def test_combined_replicas_never_fall_below_what_either_bucket_wants() -> None:
    from xolo.core.records import default_replication
    from xolo.core.refs import combine_replicas

    def wants(r: int, peers: int) -> int:  # what 0 (the default) or r means on ``peers``
        return min(r or default_replication(peers), peers)

    for a in range(5):
        for b in range(5):
            c = combine_replicas(a, b)
            assert c == combine_replicas(b, a)
            for peers in range(1, 6):
                assert wants(c, peers) >= max(wants(a, peers), wants(b, peers)), (a, b, peers)
                assert wants(c, peers) == max(wants(a, peers), wants(b, peers)), (a, b, peers)
