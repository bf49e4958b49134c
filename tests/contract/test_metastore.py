"""The MetaStore contract: every implementation must pass this file unchanged."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from xolo.core.conditions import NO_CONDITION, WriteCondition
from xolo.core.errors import (
    BucketNotEmpty,
    ConcurrentUpdate,
    NoSuchBucket,
    NoSuchUpload,
    PreconditionFailed,
)
from xolo.core.records import (
    AccessKey,
    BucketSettings,
    ChunkRef,
    MultipartUpload,
    ObjectRecord,
    Part,
    Upload,
)
from xolo.meta.base import MetaStore
from xolo.meta.memory import MemoryMetaStore
from xolo.meta.sqlite import SQLiteMetaStore

pytestmark = pytest.mark.anyio

Factory = Callable[[], MetaStore]


@pytest.fixture(params=["memory", "sqlite"])
def factory(request: pytest.FixtureRequest, tmp_path: Path) -> Factory:
    if request.param == "memory":
        shared = MemoryMetaStore()
        return lambda: shared
    return lambda: SQLiteMetaStore(tmp_path / "meta.db")


@pytest.fixture
async def meta(factory: Factory) -> AsyncIterator[MetaStore]:
    store = factory()
    yield store
    await store.close()


def obj(
    key: str,
    size: int = 3,
    *,
    bucket: str = "b",
    etag: str = "e1",
    version: str = "v1",
    modified: float = 100.0,
) -> ObjectRecord:
    return ObjectRecord(
        bucket=bucket,
        key=key,
        size=size,
        etag=etag,
        sha256="s" * 64,
        modified=modified,
        version=version,
        content_type="text/plain",
        metadata={"owner": "me"},
        tags={"t": "1"},
        chunks=(ChunkRef("a" * 64, size),) if size > 2 else (),
        inline=None if size > 2 else b"xy"[:size],
        checksums={"crc32": "AAAAAA=="},
        headers={"cache-control": "no-cache"},
    )


async def test_bucket_lifecycle(meta: MetaStore) -> None:
    bucket, created = await meta.put_bucket("b", BucketSettings(), 1.0)
    assert created and bucket.name == "b" and bucket.object_count == 0
    bucket, created = await meta.put_bucket(
        "b", BucketSettings(replication=3, public_read=True), 2.0
    )
    assert not created and bucket.settings.replication == 3 and bucket.created == 1.0
    await meta.put_bucket("a", BucketSettings(), 3.0)
    assert [b.name for b in await meta.list_buckets()] == ["a", "b"]
    assert (await meta.get_bucket("b")).settings.public_read
    await meta.delete_bucket("a")
    with pytest.raises(NoSuchBucket):
        await meta.get_bucket("a")
    with pytest.raises(NoSuchBucket):
        await meta.delete_bucket("a")


async def test_objects_need_their_bucket(meta: MetaStore) -> None:
    with pytest.raises(NoSuchBucket):
        await meta.put_object(obj("k", bucket="nope"), NO_CONDITION)
    with pytest.raises(NoSuchBucket):
        await meta.get_object("nope", "k")
    with pytest.raises(NoSuchBucket):
        await meta.delete_object("nope", "k", NO_CONDITION)


async def test_put_get_replace_delete_and_stats(meta: MetaStore) -> None:
    await meta.put_bucket("b", BucketSettings(), 1.0)
    assert await meta.get_object("b", "k") is None
    assert await meta.put_object(obj("k", 10), NO_CONDITION) is None
    got = await meta.get_object("b", "k")
    assert got == obj("k", 10)
    previous = await meta.put_object(obj("k", 2, etag="e2", version="v2"), NO_CONDITION)
    assert previous == obj("k", 10)
    await meta.put_object(obj("j", 5), NO_CONDITION)
    bucket = await meta.get_bucket("b")
    assert (bucket.object_count, bucket.bytes_used) == (2, 7)
    with pytest.raises(BucketNotEmpty):
        await meta.delete_bucket("b")
    assert (await meta.delete_object("b", "k", NO_CONDITION)) == obj(
        "k", 2, etag="e2", version="v2"
    )
    assert await meta.delete_object("b", "k", NO_CONDITION) is None
    bucket = await meta.get_bucket("b")
    assert (bucket.object_count, bucket.bytes_used) == (1, 5)


async def test_write_conditions_are_atomic(meta: MetaStore) -> None:
    await meta.put_bucket("b", BucketSettings(), 1.0)
    create_only = WriteCondition(if_none_match="*")
    await meta.put_object(obj("k"), create_only)
    with pytest.raises(PreconditionFailed):
        await meta.put_object(obj("k", etag="other"), create_only)
    with pytest.raises(PreconditionFailed):
        await meta.put_object(obj("k", etag="e9"), WriteCondition(if_match='"nope"'))
    await meta.put_object(obj("k", etag="e2", version="v2"), WriteCondition(if_match='"e1"'))
    with pytest.raises(ConcurrentUpdate):
        await meta.put_object(obj("k", etag="e3"), WriteCondition(expect_version="v1"))
    with pytest.raises(PreconditionFailed):
        await meta.delete_object("b", "k", WriteCondition(if_match='"e1"'))
    assert (await meta.get_object("b", "k")).etag == "e2"  # type: ignore[union-attr]
    # Exactly one of many racing create-only writes wins.
    results = await asyncio.gather(
        *(meta.put_object(obj("race", etag=f"e{i}"), create_only) for i in range(20)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 1
    assert all(isinstance(r, PreconditionFailed) for r in results if isinstance(r, BaseException))


async def test_concurrent_writes_all_land(meta: MetaStore) -> None:
    await meta.put_bucket("b", BucketSettings(), 1.0)
    await asyncio.gather(*(meta.put_object(obj(f"k{i:03}", 4), NO_CONDITION) for i in range(200)))
    bucket = await meta.get_bucket("b")
    assert (bucket.object_count, bucket.bytes_used) == (200, 800)


async def test_scan_is_in_utf8_byte_order_with_bounds(meta: MetaStore) -> None:
    await meta.put_bucket("b", BucketSettings(), 1.0)
    keys = ["a", "a/b", "a/c", "ab", "b", "é", "z", "\uffff", "😀", "a\x01"]
    for k in keys:
        await meta.put_object(obj(k), NO_CONDITION)
    expected = sorted(keys, key=lambda k: k.encode())
    got = [i.key for i in await meta.scan_objects("b", b"", b"", 100)]
    assert got == expected
    assert [i.key for i in await meta.scan_objects("b", b"a/", b"", 100)] == ["a/b", "a/c"]
    assert [i.key for i in await meta.scan_objects("b", b"", b"ab", 2)] == ["ab", "b"]
    assert [i.key for i in await meta.scan_objects("b", b"a", b"a/c", 100)] == ["a/c", "ab"]
    assert await meta.scan_objects("nope", b"", b"", 10) == []
    info = (await meta.scan_objects("b", b"z", b"", 1))[0]
    assert (info.size, info.etag, info.content_type) == (3, "e1", "text/plain")


async def test_uploads_are_consumed_once_and_expire(meta: MetaStore) -> None:
    await meta.put_bucket("b", BucketSettings(), 1.0)
    up = Upload("u1", "b", "k", 3, "s" * 64, "text/plain", {"a": "b"}, 100.0, 200.0)
    with pytest.raises(NoSuchBucket):
        await meta.create_upload(dataclasses.replace(up, bucket="nope"))
    await meta.create_upload(up)
    assert await meta.get_upload("u1", 150.0) == up
    assert await meta.get_upload("u1", 250.0) is None
    assert await meta.get_upload("nope", 150.0) is None
    # A failed commit (precondition) leaves the upload usable.
    await meta.put_object(obj("k"), NO_CONDITION)
    with pytest.raises(PreconditionFailed):
        await meta.put_object(
            obj("k", modified=150.0), WriteCondition(if_none_match="*"), upload_id="u1"
        )
    assert await meta.get_upload("u1", 150.0) is not None
    await meta.put_object(obj("k", modified=150.0), NO_CONDITION, upload_id="u1")
    assert await meta.get_upload("u1", 150.0) is None
    with pytest.raises(NoSuchUpload):
        await meta.put_object(obj("k", modified=150.0), NO_CONDITION, upload_id="u1")
    await meta.create_upload(dataclasses.replace(up, upload_id="u2"))
    with pytest.raises(NoSuchUpload):
        await meta.put_object(obj("k", modified=250.0), NO_CONDITION, upload_id="u2")


async def test_access_keys(meta: MetaStore) -> None:
    key = AccessKey("AK1", b"sealed", 1.0, is_root=True, grants={"b": "read"})
    await meta.put_key(key)
    await meta.put_key(AccessKey("AK0", b"x", 2.0))
    assert await meta.get_key("AK1") == key
    assert await meta.get_key("missing") is None
    assert [k.access_key for k in await meta.list_keys()] == ["AK0", "AK1"]


async def test_state_survives_reopening(factory: Factory) -> None:
    first = factory()
    await first.put_bucket("b", BucketSettings(), 1.0)
    await first.put_object(obj("k", 10), NO_CONDITION)
    await first.close()
    second = factory()
    try:
        assert await second.get_object("b", "k") == obj("k", 10)
    finally:
        await second.close()


async def test_multipart_uploads(meta: MetaStore) -> None:
    await meta.put_bucket("b", BucketSettings(), 1.0)
    up = MultipartUpload(
        "m1",
        "b",
        "dir/k",
        5.0,
        "text/plain",
        {"a": "1"},
        {"t": "v"},
        "crc32",
        {"cache-control": "no-cache"},
    )
    with pytest.raises(NoSuchBucket):
        await meta.create_multipart(dataclasses.replace(up, bucket="nope"))
    await meta.create_multipart(up)
    await meta.create_multipart(dataclasses.replace(up, upload_id="m0", key="dir/a"))
    assert await meta.get_multipart("m1") == up
    assert await meta.get_multipart("nope") is None
    for n in (3, 1, 2):
        await meta.put_part(
            Part("m1", n, 10 * n, f"e{n}", 6.0, (ChunkRef(str(n) * 64, 10 * n),), {"crc32": "x"})
        )
    await meta.put_part(Part("m1", 2, 99, "e2b", 7.0, ()))
    parts = await meta.list_parts("m1", 0, 10)
    assert [(p.number, p.size, p.etag) for p in parts] == [
        (1, 10, "e1"),
        (2, 99, "e2b"),
        (3, 30, "e3"),
    ]
    assert parts[0].chunks == (ChunkRef("1" * 64, 10),) and parts[0].checksums == {"crc32": "x"}
    assert [p.number for p in await meta.list_parts("m1", 1, 1)] == [2]
    listed = await meta.list_multiparts("b", b"dir/", None, 10)
    assert [u.upload_id for u in listed] == ["m0", "m1"]
    assert [u.upload_id for u in await meta.list_multiparts("b", b"", (b"dir/a", "m0"), 10)] == [
        "m1"
    ]
    record = obj("dir/k", 40)
    await meta.complete_multipart("m1", record, NO_CONDITION)
    assert await meta.get_object("b", "dir/k") == record
    assert await meta.get_multipart("m1") is None
    assert await meta.list_parts("m1", 0, 10) == []
    with pytest.raises(NoSuchUpload):
        await meta.complete_multipart("m1", record, NO_CONDITION)
    with pytest.raises(NoSuchUpload):
        await meta.put_part(Part("m1", 1, 1, "e", 1.0, ()))
    # A failed precondition leaves the upload in progress.
    with pytest.raises(PreconditionFailed):
        await meta.complete_multipart("m0", obj("dir/k"), WriteCondition(if_none_match="*"))
    assert await meta.get_multipart("m0") is not None
    assert await meta.abort_multipart("m0")
    assert not await meta.abort_multipart("m0")


async def test_referenced_chunks(meta: MetaStore) -> None:
    await meta.put_bucket("b", BucketSettings(), 1.0)
    await meta.put_object(
        dataclasses.replace(obj("k", 10), chunks=(ChunkRef("a" * 64, 5), ChunkRef("b" * 64, 5))),
        NO_CONDITION,
    )
    await meta.put_object(obj("small", 2), NO_CONDITION)
    await meta.create_multipart(MultipartUpload("m", "b", "k2", 1.0, "text/plain"))
    await meta.put_part(Part("m", 1, 5, "e", 1.0, (ChunkRef("c" * 64, 5),)))
    assert await meta.referenced_chunks() == {"a" * 64, "b" * 64, "c" * 64}
