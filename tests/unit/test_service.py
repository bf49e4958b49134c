"""ObjectService rules HTTP tests do not reach: ETag choice, upload expiry, append races."""

from __future__ import annotations

import asyncio
import hashlib

import pytest

import xolo
from xolo.chunks.memory import MemoryChunkStore
from xolo.core.errors import ConcurrentUpdate, NoSuchUpload
from xolo.meta.memory import MemoryMetaStore
from xolo.service.config import ServiceConfig
from xolo.service.objects import ObjectService

pytestmark = pytest.mark.anyio


async def body(*pieces: bytes):  # type: ignore[no-untyped-def]
    for p in pieces:
        yield p


async def test_etag_is_sha256_unless_md5_is_asked_for() -> None:
    async with xolo.open_memory(
        config=ServiceConfig(inline_threshold=10, chunk_size=65536)
    ) as store:
        await store.put_bucket("bkt")
        for data in (b"small", b"x" * 200_000):
            plain = await store.put_bytes("bkt", "a", data)
            assert plain.etag == plain.sha256 == hashlib.sha256(data).hexdigest()
            s3 = await store.put_object("bkt", "b", body(data), md5_etag=True)
            assert s3.etag == hashlib.md5(data).hexdigest()
            assert s3.sha256 == hashlib.sha256(data).hexdigest()


async def test_upload_expiry_follows_the_clock() -> None:
    now = [1000.0]
    store = ObjectService(
        meta=MemoryMetaStore(),
        chunks=MemoryChunkStore(),
        config=ServiceConfig(upload_ttl=60),
        clock=lambda: now[0],
    )
    await store.put_bucket("bkt")
    data = b"payload"
    upload = await store.create_upload(
        "bkt", "k", size=len(data), sha256=hashlib.sha256(data).hexdigest()
    )
    assert upload.expires == 1060.0
    now[0] = 1061.0
    with pytest.raises(NoSuchUpload):
        await store.get_upload(upload.upload_id)


async def test_concurrent_appends_in_one_process_all_land() -> None:
    async with xolo.open_memory(
        config=ServiceConfig(inline_threshold=16, chunk_size=65536)
    ) as store:
        await store.put_bucket("bkt")
        await asyncio.gather(
            *(store.append_object("bkt", "log", body(b"%03d;" % i)) for i in range(50))
        )
        data = await store.get_bytes("bkt", "log")
        assert sorted(data.split(b";")[:-1]) == [b"%03d" % i for i in range(50)]
        assert (await store.head_object("bkt", "log")).sha256 == hashlib.sha256(data).hexdigest()


class Interfering:
    """Another process, seen through a shared store: it rewrites the object right after our
    append reads it, ``times`` times."""

    def __init__(self, meta: MemoryMetaStore, other: ObjectService, times: int) -> None:
        self._meta, self._other, self.times = meta, other, times

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._meta, name)

    async def get_object(self, bucket: str, key: str):  # type: ignore[no-untyped-def]
        record = await self._meta.get_object(bucket, key)
        if self.times > 0:
            self.times -= 1
            await self._other.put_bytes(bucket, key, b"replaced;" + b"x" * 100_000)
        return record


@pytest.mark.parametrize("inline", [True, False])
async def test_an_append_that_loses_a_race_is_replayed(inline: bool) -> None:
    meta, chunks = MemoryMetaStore(), MemoryChunkStore()
    config = ServiceConfig(inline_threshold=1000 if inline else 16, chunk_size=65536)
    one = ObjectService(meta=meta, chunks=chunks, config=config)
    two = ObjectService(meta=Interfering(meta, one, times=1), chunks=chunks, config=config)  # type: ignore[arg-type]
    await one.put_bucket("bkt")
    await one.put_bytes("bkt", "log", b"start;")
    record = await two.append_object("bkt", "log", body(b"more"))
    expected = b"replaced;" + b"x" * 100_000 + b"more"
    assert await one.get_bytes("bkt", "log") == expected
    assert record.sha256 == hashlib.sha256(expected).hexdigest()


async def test_an_append_that_keeps_losing_gives_up_and_changes_nothing() -> None:
    meta, chunks = MemoryMetaStore(), MemoryChunkStore()
    one = ObjectService(meta=meta, chunks=chunks)
    two = ObjectService(meta=Interfering(meta, one, times=100), chunks=chunks)  # type: ignore[arg-type]
    await one.put_bucket("bkt")
    await one.put_bytes("bkt", "log", b"start;")
    with pytest.raises(ConcurrentUpdate):
        await two.append_object("bkt", "log", body(b"more"))
    assert await one.get_bytes("bkt", "log") == b"replaced;" + b"x" * 100_000


async def test_garbage_collection_removes_only_unreferenced_chunks_past_the_grace() -> None:
    from xolo.cluster.gc import GarbageCollector
    from xolo.core.errors import BadDigest

    now = [10_000.0]
    meta, chunks = MemoryMetaStore(), MemoryChunkStore()
    config = ServiceConfig(inline_threshold=10, chunk_size=65536)
    store = ObjectService(meta=meta, chunks=chunks, config=config, clock=lambda: now[0])
    gc = GarbageCollector(meta=meta, volumes=lambda: [chunks], grace=3600, clock=lambda: now[0])
    await store.put_bucket("bkt")
    kept = b"k" * 200_000
    await store.put_bytes("bkt", "kept", kept)
    with pytest.raises(BadDigest):  # its chunks were stored before the digest failed
        await store.put_object("bkt", "lost", body(b"o" * 200_000), sha256="0" * 64)
    await store.copy_object("bkt", "kept", "bkt", "copy")
    uid = (await store.create_multipart("bkt", "mp")).upload_id
    upload = await store.get_multipart(uid, "bkt", "mp")
    await store.upload_part(upload, 1, body(b"p" * 70_000))
    assert (await gc.collect()).deleted == 0  # everything is still young
    now[0] += 3601
    report = await gc.collect()
    # The failed upload's chunks: three identical 64 KiB chunks of 'o' (stored once) and a tail.
    assert report.deleted == len({b"o" * 65536, b"o" * (200_000 - 3 * 65536)}) == 2
    assert await store.get_bytes("bkt", "kept") == kept
    assert await store.get_bytes("bkt", "copy") == kept
    assert [p.size for p in (await store.list_parts(upload))[0]] == [70_000]
    await store.delete_object("bkt", "kept")
    now[0] += 3601
    assert (await gc.collect()).deleted == 0  # the copy still names the chunks
    await store.delete_object("bkt", "copy")
    assert (await gc.collect()).deleted == 0  # the grace period starts with the last delete
    now[0] += 3601
    assert (await gc.collect()).deleted == len({b"k" * 65536, b"k" * (200_000 - 3 * 65536)})


async def test_direct_transfers_turned_off_refuse_plans_reads_commits_and_claim_nothing() -> None:
    from xolo.core.errors import NotImplementedByXolo
    from xolo.core.records import ChunkRef
    from xolo.service.auth import ClusterGuard
    from xolo.service.direct import Evidence

    meta = MemoryMetaStore()
    service = ObjectService(
        meta=meta, chunks=MemoryChunkStore(), config=ServiceConfig(direct_transfers=False)
    )
    await service.create_bucket("bkt")
    await service.put_object("bkt", "k", body(b"x" * 100_000))
    ref = ChunkRef(sha256="ab" * 32, size=10)
    with pytest.raises(NotImplementedByXolo):
        await service.plan_direct("bkt", [ref])
    with pytest.raises(NotImplementedByXolo):
        await service.read_direct("bkt", "k")
    with pytest.raises(NotImplementedByXolo):
        await service.commit_direct(
            "bkt",
            "new",
            [ref],
            evidence=Evidence(plan="", receipts={}, proofs={}),
            guard=ClusterGuard(secret="s"),
        )
    assert await meta.get_object("bkt", "new") is None
    assert await meta.chunk_infos([ref.sha256]) == {}  # nothing was claimed
