"""The MetaStore contract: every backend in stores.py passes this file unchanged."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from tests.contract.stores import META_BACKENDS, PERSISTENT
from xolo.core.conditions import NO_CONDITION, WriteCondition
from xolo.core.errors import (
    BucketNotEmpty,
    ChunkCollected,
    ConcurrentUpdate,
    InvalidArgument,
    NoSuchBucket,
    NoSuchKey,
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
    PeerRecord,
    RouterRecord,
    Upload,
)
from xolo.meta.base import MetaStore

pytestmark = pytest.mark.anyio

A, B, C = "a" * 64, "b" * 64, "c" * 64


def obj(
    key: str,
    size: int = 3,
    *,
    bucket: str = "b",
    etag: str = "e1",
    version: str = "v1",
    modified: float = 100.0,
    chunks: tuple[str, ...] | None = None,
) -> ObjectRecord:
    names = chunks if chunks is not None else ((A,) if size > 2 else ())
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
        chunks=tuple(ChunkRef(sha256=n, size=size) for n in names),
        inline=None if names else b"xy"[:size],
        checksums={"crc32": "AAAAAA=="},
        headers={"cache-control": "no-cache"},
    )


async def bucket(meta: MetaStore, name: str = "b", **settings: object) -> None:
    await meta.create_bucket(name, BucketSettings.from_json(settings), owner="OWNER", now=1.0)
    await meta.claim_chunks([ChunkRef(sha256=n, size=3) for n in (A, B, C)], replicas=1, now=1.0)


async def refs(meta: MetaStore, *names: str) -> list[int]:
    infos = await meta.chunk_infos(names)
    return [infos[n].refs if n in infos else -1 for n in names]


# -- buckets -----------------------------------------------------------------------------------


async def test_create_bucket_creates_once_and_keeps_the_first_settings(meta: MetaStore) -> None:
    first, created = await meta.create_bucket(
        "b", BucketSettings(replication=3, public_read=True), owner="K1", now=1.0
    )
    assert created and first.name == "b" and first.owner == "K1" and first.object_count == 0
    again, created = await meta.create_bucket("b", BucketSettings(), owner="K2", now=2.0)
    assert not created
    assert again.owner == "K1" and again.created == 1.0
    assert again.settings == BucketSettings(replication=3, public_read=True)


async def test_update_bucket_changes_only_the_named_settings(meta: MetaStore) -> None:
    await meta.create_bucket(
        "b", BucketSettings(replication=3, public_read=True), owner=None, now=1.0
    )
    updated = await meta.update_bucket("b", {"write_quorum": 2})
    assert updated.settings == BucketSettings(replication=3, write_quorum=2, public_read=True)
    assert (await meta.get_bucket("b")).settings == updated.settings
    with pytest.raises(InvalidArgument):
        await meta.update_bucket("b", {"write_quorum": 4})
    with pytest.raises(NoSuchBucket):
        await meta.update_bucket("nope", {"public_read": False})


async def test_bucket_listing_and_deletion(meta: MetaStore) -> None:
    await bucket(meta, "b")
    await bucket(meta, "a")
    assert [b.name for b in await meta.list_buckets()] == ["a", "b"]
    await meta.delete_bucket("a", now=2.0)
    with pytest.raises(NoSuchBucket):
        await meta.get_bucket("a")
    with pytest.raises(NoSuchBucket):
        await meta.delete_bucket("a", now=2.0)


async def test_objects_need_their_bucket(meta: MetaStore) -> None:
    with pytest.raises(NoSuchBucket):
        await meta.put_object(obj("k", bucket="nope", chunks=()), NO_CONDITION)
    with pytest.raises(NoSuchBucket):
        await meta.get_object("nope", "k")
    with pytest.raises(NoSuchBucket):
        await meta.delete_object("nope", "k", NO_CONDITION, now=1.0)


# -- objects -----------------------------------------------------------------------------------


async def test_put_get_replace_delete_keep_totals(meta: MetaStore) -> None:
    await bucket(meta)
    assert await meta.get_object("b", "k") is None
    assert await meta.put_object(obj("k", 10), NO_CONDITION) == (obj("k", 10), None)
    assert await meta.get_object("b", "k") == obj("k", 10)
    _, previous = await meta.put_object(obj("k", 2, etag="e2", version="v2"), NO_CONDITION)
    assert previous == obj("k", 10)
    await meta.put_object(obj("j", 5), NO_CONDITION)
    got = await meta.get_bucket("b")
    assert (got.object_count, got.bytes_used) == (2, 7)
    with pytest.raises(BucketNotEmpty):
        await meta.delete_bucket("b", now=2.0)
    deleted = await meta.delete_object("b", "k", NO_CONDITION, now=2.0)
    assert deleted == obj("k", 2, etag="e2", version="v2")
    assert await meta.delete_object("b", "k", NO_CONDITION, now=2.0) is None
    got = await meta.get_bucket("b")
    assert (got.object_count, got.bytes_used) == (1, 5)


async def test_write_conditions(meta: MetaStore) -> None:
    await bucket(meta)
    create_only = WriteCondition(if_none_match="*")
    await meta.put_object(obj("k"), create_only)
    with pytest.raises(PreconditionFailed):
        await meta.put_object(obj("k", etag="other"), create_only)
    with pytest.raises(PreconditionFailed):
        await meta.put_object(obj("k", etag="e9"), WriteCondition(if_match='"nope"'))
    with pytest.raises(NoSuchKey):  # If-Match on an absent key, as S3 answers it
        await meta.put_object(obj("absent", etag="e9"), WriteCondition(if_match='"e1"'))
    await meta.put_object(obj("k", etag="e2", version="v2"), WriteCondition(if_match='"e1"'))
    with pytest.raises(ConcurrentUpdate):
        await meta.put_object(obj("k", etag="e3"), WriteCondition(expect_version="v1"))
    await meta.put_object(obj("k", etag="e3", version="v3"), WriteCondition(expect_version="v2"))
    with pytest.raises(PreconditionFailed):
        await meta.delete_object("b", "k", WriteCondition(if_match='"e1"'), now=2.0)
    current = await meta.get_object("b", "k")
    assert current is not None and current.etag == "e3"


async def test_scan_is_in_utf8_byte_order_with_bounds(meta: MetaStore) -> None:
    await bucket(meta)
    keys = ["a", "a/b", "a/c", "ab", "b", "é", "z", "\uffff", "😀", "a\x01", "B", "_"]
    for k in keys:
        await meta.put_object(obj(k), NO_CONDITION)
    expected = sorted(keys, key=lambda k: k.encode())
    assert [i.key for i in await meta.scan_objects("b", b"", b"", 100)] == expected
    assert [i.key for i in await meta.scan_objects("b", b"a/", b"", 100)] == ["a/b", "a/c"]
    assert [i.key for i in await meta.scan_objects("b", b"", b"ab", 2)] == ["ab", "b"]
    assert [i.key for i in await meta.scan_objects("b", b"a", b"a/c", 100)] == ["a/c", "ab"]
    assert await meta.scan_objects("nope", b"", b"", 10) == []
    info = (await meta.scan_objects("b", b"z", b"", 1))[0]
    assert (info.size, info.etag, info.content_type) == (3, "e1", "text/plain")


# -- references --------------------------------------------------------------------------------


async def test_manifests_hold_one_reference_per_distinct_chunk(meta: MetaStore) -> None:
    await bucket(meta)
    assert await refs(meta, A, B, C) == [0, 0, 0]
    await meta.put_object(obj("k", 6, chunks=(A, B, A)), NO_CONDITION)
    await meta.put_object(obj("j", 6, chunks=(B,)), NO_CONDITION)
    assert await refs(meta, A, B, C) == [1, 2, 0]
    await meta.put_object(obj("k", 6, chunks=(C,), version="v2"), NO_CONDITION)
    assert await refs(meta, A, B, C) == [0, 1, 1]
    await meta.delete_object("b", "j", NO_CONDITION, now=5.0)
    assert await refs(meta, A, B, C) == [0, 0, 1]


async def test_a_write_naming_a_collected_chunk_commits_nothing(meta: MetaStore) -> None:
    await bucket(meta)
    never_claimed = "d" * 64
    with pytest.raises(ChunkCollected):
        await meta.put_object(obj("k", 6, chunks=(A, never_claimed)), NO_CONDITION)
    assert await meta.get_object("b", "k") is None
    assert await refs(meta, A) == [0]
    assert (await meta.get_bucket("b")).object_count == 0


async def test_gc_marks_only_old_unreferenced_chunks_and_confirms_unclaimed_ones(
    meta: MetaStore,
) -> None:
    await meta.create_bucket("b", BucketSettings(), owner=None, now=1.0)
    await meta.claim_chunks([ChunkRef(sha256=A, size=3)], replicas=1, now=10.0)
    await meta.claim_chunks([ChunkRef(sha256=B, size=3)], replicas=1, now=10.0)
    await meta.claim_chunks([ChunkRef(sha256=C, size=3)], replicas=1, now=50.0)
    await meta.put_object(obj("k", chunks=(A,)), NO_CONDITION)  # A is referenced
    assert await meta.gc_mark(20.0, "r1", 10) == [B]  # C is too young, A referenced
    await meta.claim_chunks([ChunkRef(sha256=B, size=3)], replicas=1, now=30.0)  # re-claimed
    assert await meta.gc_confirm([B], "r1") == []
    assert await refs(meta, B) == [0]
    assert await meta.gc_mark(40.0, "r2", 10) == [B]
    assert await meta.gc_mark(40.0, "r3", 10) == [B]  # a newer round takes the mark over
    assert await meta.gc_confirm([B], "r2") == []
    assert await meta.gc_confirm([B], "r3") == [B]
    assert await refs(meta, B) == [-1]


async def test_a_reference_between_mark_and_confirm_saves_the_chunk(meta: MetaStore) -> None:
    await bucket(meta)
    assert await meta.gc_mark(5.0, "r1", 10) == [A, B, C]
    await meta.put_object(obj("k", chunks=(A,)), NO_CONDITION)
    assert await meta.gc_confirm([A, B, C], "r1") == [B, C]
    assert await refs(meta, A) == [1]


async def test_losing_the_last_reference_starts_the_grace_period(meta: MetaStore) -> None:
    await bucket(meta)
    await meta.put_object(obj("k", chunks=(A,)), NO_CONDITION)
    await meta.delete_object("b", "k", NO_CONDITION, now=500.0)
    assert A not in await meta.gc_mark(400.0, "r1", 10)
    assert A in await meta.gc_mark(600.0, "r2", 10)


async def test_chunk_pages_and_strays(meta: MetaStore) -> None:
    await bucket(meta)
    page = await meta.chunk_page("", 2)
    assert [c.sha256 for c in page] == [A, B]
    assert [c.sha256 for c in await meta.chunk_page(B, 10)] == [C]
    assert (
        await meta.adopt_strays(
            [ChunkRef(sha256=A, size=3), ChunkRef(sha256="e" * 64, size=9)], now=7.0
        )
        == 1
    )
    info = (await meta.chunk_infos(["e" * 64]))["e" * 64]
    assert (info.size, info.refs, info.replicas) == (9, 0, 0)  # 0: the default copies


async def test_claims_raise_replicas_and_never_lower_them(meta: MetaStore) -> None:
    await meta.claim_chunks([ChunkRef(sha256=A, size=3)], replicas=3, now=1.0)
    await meta.claim_chunks([ChunkRef(sha256=A, size=3)], replicas=2, now=2.0)
    assert (await meta.chunk_infos([A]))[A].replicas == 3


async def replicas(meta: MetaStore, *names: str) -> list[int]:
    infos = await meta.chunk_infos(names)
    return [infos[n].replicas for n in names]


async def test_changing_a_buckets_replication_recounts_the_copies_its_chunks_want(
    meta: MetaStore,
) -> None:
    await bucket(meta, "b", replication=1)
    await bucket(meta, "other", replication=2)
    await meta.put_object(obj("k", chunks=(A, B)), NO_CONDITION)
    await meta.put_object(obj("k", bucket="other", chunks=(B,)), NO_CONDITION)
    assert await replicas(meta, A, B, C) == [1, 2, 1]
    await meta.update_bucket("b", {"replication": 3})  # data already written gains copies
    assert await replicas(meta, A, B, C) == [3, 3, 1]
    await meta.update_bucket("b", {"replication": 1})  # B is shared with a bucket wanting 2
    assert await replicas(meta, A, B, C) == [1, 2, 1]
    await meta.update_bucket("b", {"public_read": True})  # replication unchanged: no recount
    assert await replicas(meta, A, B, C) == [1, 2, 1]


async def test_a_default_bucket_keeps_its_copies_beside_a_bucket_that_set_fewer(
    meta: MetaStore,
) -> None:
    """0 is the default, min(2, peers): a chunk shared with a bucket that set 1 still wants
    the default, not one copy."""
    await bucket(meta, "b", replication=3)
    await bucket(meta, "dflt")
    await meta.put_object(obj("k", chunks=(A, B)), NO_CONDITION)
    await meta.put_object(obj("k", bucket="dflt", chunks=(B,)), NO_CONDITION)
    assert await replicas(meta, A, B) == [3, 3]
    await meta.update_bucket("b", {"replication": 1})
    assert await replicas(meta, A, B) == [1, 0]
    await meta.update_bucket("dflt", {"replication": 1})
    assert await replicas(meta, A, B) == [1, 1]
    await meta.update_bucket("b", {"replication": None})
    assert await replicas(meta, A, B) == [0, 0]
    await meta.claim_chunks([ChunkRef(sha256=C, size=3)], replicas=0, now=3.0)
    await meta.claim_chunks([ChunkRef(sha256=C, size=3)], replicas=1, now=3.0)
    assert await replicas(meta, C) == [0]  # a claim combines the same way


async def test_a_commit_raises_its_chunks_to_the_replication_the_bucket_has_then(
    meta: MetaStore,
) -> None:
    """A writer claims with the setting it read; a raise that lands before its commit still
    counts, since the commit reads the bucket's replication again."""
    await bucket(meta, "b", replication=1)
    await meta.claim_chunks([ChunkRef(sha256=A, size=3)], replicas=1, now=2.0)
    await meta.update_bucket("b", {"replication": 3})
    await meta.put_object(obj("k", chunks=(A,)), NO_CONDITION)
    assert await replicas(meta, A) == [3]
    await meta.create_multipart(
        MultipartUpload(
            upload_id="m1", bucket="b", key="m", created=3.0, content_type="a/b", metadata={}
        )
    )
    await meta.update_bucket("b", {"replication": 2})
    assert await replicas(meta, A, B) == [2, 1]
    await meta.put_part(part(1, 3, "e", B), now=4.0)
    assert await replicas(meta, B) == [2]


# -- uploads and multipart ---------------------------------------------------------------------


async def test_uploads_are_consumed_once_and_expire(meta: MetaStore) -> None:
    await bucket(meta)
    up = Upload(
        upload_id="u1",
        bucket="b",
        key="k",
        size=3,
        sha256="s" * 64,
        content_type="text/plain",
        tags={"a": "b"},
        created=100.0,
        expires=200.0,
    )
    with pytest.raises(NoSuchBucket):
        await meta.create_upload(dataclasses.replace(up, bucket="nope"))
    await meta.create_upload(up)
    assert await meta.get_upload("u1", 150.0) == up
    assert await meta.get_upload("u1", 250.0) is None
    assert await meta.get_upload("nope", 150.0) is None
    await meta.put_object(obj("k"), NO_CONDITION)
    with pytest.raises(PreconditionFailed):
        await meta.put_object(
            obj("k", modified=150.0), WriteCondition(if_none_match="*"), upload_id="u1"
        )
    assert await meta.get_upload("u1", 150.0) is not None  # a failed commit keeps it usable
    await meta.put_object(obj("k", modified=150.0), NO_CONDITION, upload_id="u1")
    assert await meta.get_upload("u1", 150.0) is None
    with pytest.raises(NoSuchUpload):
        await meta.put_object(obj("k", modified=150.0), NO_CONDITION, upload_id="u1")
    await meta.create_upload(dataclasses.replace(up, upload_id="u2"))
    await meta.create_upload(dataclasses.replace(up, upload_id="u3", expires=900.0))
    assert await meta.expire_uploads(300.0, 10) == 1
    assert await meta.get_upload("u3", 300.0) is not None


def part(number: int, size: int, etag: str, *names: str) -> Part:
    return Part(
        upload_id="m1",
        number=number,
        size=size,
        etag=etag,
        modified=6.0,
        chunks=tuple(ChunkRef(sha256=n, size=size) for n in names),
        checksums={"crc32": "x"},
    )


async def test_multipart_uploads_move_references_from_parts_to_the_object(
    meta: MetaStore,
) -> None:
    await bucket(meta)
    up = MultipartUpload(
        upload_id="m1",
        bucket="b",
        key="dir/k",
        created=5.0,
        content_type="text/plain",
        metadata={"a": "1"},
        tags={"t": "v"},
        checksum_algorithm="crc32",
        headers={"cache-control": "no-cache"},
    )
    with pytest.raises(NoSuchBucket):
        await meta.create_multipart(dataclasses.replace(up, bucket="nope"))
    await meta.create_multipart(up)
    await meta.create_multipart(dataclasses.replace(up, upload_id="m0", key="dir/a", created=9.0))
    assert await meta.get_multipart("m1") == up
    assert await meta.get_multipart("nope") is None
    await meta.put_part(part(1, 10, "e1", A), now=6.0)
    await meta.put_part(part(2, 10, "e2", B), now=6.0)
    await meta.put_part(part(3, 10, "e3", C), now=6.0)
    await meta.put_part(part(2, 99, "e2b", A), now=7.0)  # replaces part 2: B loses its reference
    assert await refs(meta, A, B, C) == [2, 0, 1]
    parts = await meta.list_parts("m1", 0, 10)
    assert [(p.number, p.size, p.etag) for p in parts] == [
        (1, 10, "e1"),
        (2, 99, "e2b"),
        (3, 10, "e3"),
    ]
    assert parts[0].checksums == {"crc32": "x"}
    assert [p.number for p in await meta.list_parts("m1", 1, 1)] == [2]
    assert [u.upload_id for u in await meta.list_multiparts("b", b"dir/", None, 10)] == ["m0", "m1"]
    after = await meta.list_multiparts("b", b"", (b"dir/a", "m0"), 10)
    assert [u.upload_id for u in after] == ["m1"]
    assert [u.upload_id for u in await meta.stale_multiparts(8.0, 10)] == ["m1"]
    record = obj("dir/k", 30, chunks=(A,))  # completes with parts 1 and 2 only
    await meta.complete_multipart("m1", record, NO_CONDITION)
    assert await meta.get_object("b", "dir/k") == record
    assert await refs(meta, A, B, C) == [1, 0, 0]
    assert await meta.get_multipart("m1") is None and await meta.list_parts("m1", 0, 10) == []
    with pytest.raises(NoSuchUpload):
        await meta.complete_multipart("m1", record, NO_CONDITION)
    with pytest.raises(NoSuchUpload):
        await meta.put_part(part(1, 1, "e", A), now=8.0)
    with pytest.raises(PreconditionFailed):  # a failed precondition leaves the upload going
        await meta.complete_multipart("m0", obj("dir/k"), WriteCondition(if_none_match="*"))
    assert await meta.get_multipart("m0") is not None
    await meta.put_part(dataclasses.replace(part(1, 5, "e", B), upload_id="m0"), now=8.0)
    assert await meta.abort_multipart("m0", now=9.0)
    assert not await meta.abort_multipart("m0", now=9.0)
    assert await refs(meta, B) == [0]


async def test_a_bucket_holds_the_chunks_its_own_manifests_and_parts_name(
    meta: MetaStore,
) -> None:
    await bucket(meta)
    await bucket(meta, "b2")
    await meta.put_object(obj("k", 6, chunks=(A, B)), NO_CONDITION)
    assert await meta.bucket_chunks("b", [A, B, C]) == {A, B}
    assert await meta.bucket_chunks("b2", [A, B, C]) == frozenset()  # another bucket's are not
    await meta.put_object(obj("j", 6, chunks=(A,)), NO_CONDITION)
    await meta.put_object(obj("k", 6, chunks=(C,), version="v2"), NO_CONDITION)
    assert await meta.bucket_chunks("b", [A, B, C]) == {A, C}  # j still names A
    await meta.delete_object("b", "j", NO_CONDITION, now=5.0)
    assert await meta.bucket_chunks("b", [A, B, C]) == {C}
    up = MultipartUpload(
        upload_id="m1", bucket="b2", key="k", created=1.0, content_type="text/plain"
    )
    await meta.create_multipart(up)
    await meta.put_part(part(1, 3, "e", B), now=2.0)
    assert await meta.bucket_chunks("b2", [A, B, C]) == {B}
    assert await meta.abort_multipart("m1", now=3.0)
    assert await meta.bucket_chunks("b2", [A, B, C]) == frozenset()


async def test_deleting_a_bucket_releases_its_pending_parts(meta: MetaStore) -> None:
    await bucket(meta)
    up = MultipartUpload(
        upload_id="m1", bucket="b", key="k", created=1.0, content_type="text/plain"
    )
    await meta.create_multipart(up)
    await meta.put_part(part(1, 3, "e", A), now=2.0)
    assert await refs(meta, A) == [1]
    await meta.delete_bucket("b", now=3.0)
    assert await refs(meta, A) == [0]
    assert await meta.get_multipart("m1") is None


# -- keys and cluster --------------------------------------------------------------------------


async def test_access_keys(meta: MetaStore) -> None:
    key = AccessKey(
        access_key="AK1", sealed_secret=b"sealed", created=1.0, is_root=True, grants={"b": "read"}
    )
    await meta.put_key(key)
    await meta.put_key(AccessKey(access_key="AK0", sealed_secret=b"x", created=2.0))
    assert await meta.get_key("AK1") == key
    assert await meta.get_key("missing") is None
    assert [k.access_key for k in await meta.list_keys()] == ["AK0", "AK1"]
    assert await meta.delete_key("AK0") and not await meta.delete_key("AK0")


async def test_peers_keep_their_join_time_and_operator_state(meta: MetaStore) -> None:
    peer = PeerRecord(
        id="p1", url="http://x:1", zone="z1", capacity=100, last_heartbeat=5.0, joined=5.0, sent=5.0
    )
    first = await meta.put_peer(peer)
    assert first is not None and first.joined == 5.0
    assert (await meta.set_peer_state("p1", "draining")) is not None
    later = dataclasses.replace(
        peer, used_bytes=7, chunks=2, last_heartbeat=9.0, joined=9.0, sent=9.0
    )
    stored = await meta.put_peer(later)
    assert stored is not None
    assert (stored.joined, stored.admin_state, stored.used_bytes) == (5.0, "draining", 7)
    assert [p.id for p in await meta.list_peers()] == ["p1"]
    assert await meta.set_peer_state("nope", "draining") is None
    assert await meta.remove_peer("p1") and await meta.list_peers() == []


async def test_a_peer_record_moves_only_to_a_newer_heartbeat(meta: MetaStore) -> None:
    peer = PeerRecord(id="p1", url="http://x:1", zone="z", capacity=100, sent=10.0)
    assert await meta.put_peer(peer) is not None
    for sent in (10.0, 9.0):  # a replay, an overtaken one
        assert await meta.put_peer(dataclasses.replace(peer, capacity=1, sent=sent)) is None
    (stored,) = await meta.list_peers()
    assert (stored.capacity, stored.sent) == (100, 10.0)
    newer = await meta.put_peer(dataclasses.replace(peer, capacity=7, sent=11.0))
    assert newer is not None and (newer.capacity, newer.sent) == (7, 11.0)


async def test_routers_are_listed_while_seen(meta: MetaStore) -> None:
    await meta.put_router(RouterRecord(id="r1", url="http://r:1", s3_url=None, last_seen=10.0))
    await meta.put_router(
        RouterRecord(id="r2", url="http://r:2", s3_url="http://r:3", last_seen=20.0)
    )
    assert [r.id for r in await meta.list_routers(15.0)] == ["r2"]


async def test_a_lease_has_one_holder_until_it_expires(meta: MetaStore) -> None:
    assert await meta.acquire_lease("gc", "h1", now=100.0, ttl=10.0)
    assert not await meta.acquire_lease("gc", "h2", now=105.0, ttl=10.0)
    assert await meta.acquire_lease("gc", "h1", now=105.0, ttl=10.0)  # renewal
    assert await meta.acquire_lease("gc", "h2", now=116.0, ttl=10.0)  # expired: taken over
    await meta.release_lease("gc", "h1", {"runs": 1})  # not the holder: no effect
    (task,) = await meta.list_tasks()
    assert task.holder == "h2" and task.status == {}
    await meta.release_lease("gc", "h2", {"runs": 2})
    (task,) = await meta.list_tasks()
    assert task.holder is None and task.status == {"runs": 2}
    assert await meta.acquire_lease("gc", "h3", now=117.0, ttl=10.0)


async def test_a_lease_renews_only_while_unbroken(meta: MetaStore) -> None:
    assert not await meta.renew_lease("gc", "h1", now=100.0, ttl=10.0)  # never taken
    assert await meta.acquire_lease("gc", "h1", now=100.0, ttl=10.0)
    assert await meta.renew_lease("gc", "h1", now=109.0, ttl=10.0)  # until 119 now
    assert not await meta.renew_lease("gc", "h2", now=110.0, ttl=10.0)  # not the holder
    assert not await meta.renew_lease("gc", "h1", now=120.0, ttl=10.0)  # expired, though free
    assert await meta.acquire_lease("gc", "h2", now=120.0, ttl=10.0)
    await meta.release_lease("gc", "h2", {"runs": 1})
    assert not await meta.renew_lease("gc", "h1", now=121.0, ttl=10.0)  # passed through h2
    (task,) = await meta.list_tasks()
    assert task.holder is None and task.status == {"runs": 1}


@pytest.mark.parametrize("backend", PERSISTENT)
async def test_state_survives_closing_and_reopening(backend: str, tmp_path: Path) -> None:
    async with META_BACKENDS[backend](tmp_path) as open_one:
        first = await open_one()
        await bucket(first)
        await first.put_object(obj("k", 10), NO_CONDITION)
        await first.close()
        second = await open_one()
        try:
            assert await second.get_object("b", "k") == obj("k", 10)
            assert (await second.get_bucket("b")).bytes_used == 10
        finally:
            await second.close()
