"""The GC interleavings that broke the mtime-based collector, against a real SQLite file and a
real chunk directory: GC is paused at each step of its round while a write stores the same
chunk; the chunk must survive and the write must be readable."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from xolo.chunks.disk import DiskChunkStore
from xolo.cluster.gc import GarbageCollector
from xolo.core.conditions import NO_CONDITION
from xolo.core.errors import ChunkCollected
from xolo.core.records import ChunkRef, ObjectRecord
from xolo.meta.sqlite import SQLiteMetaStore
from xolo.service.config import ServiceConfig
from xolo.service.objects import ObjectService

pytestmark = pytest.mark.anyio

DATA = b"d" * 100_000  # one chunk, above the inline threshold
GRACE = 3600.0


@dataclass
class World:
    service: ObjectService
    meta: SQLiteMetaStore
    volume: DiskChunkStore
    now: list[float]

    def gc(self, pause: Callable[[str], Awaitable[None]] | None = None) -> GarbageCollector:
        return GarbageCollector(
            meta=self.meta,
            volumes=lambda: [self.volume],
            grace=GRACE,
            clock=lambda: self.now[0],
            pause=pause,
        )

    def chunk_file(self) -> Path:
        name = hashlib.sha256(DATA).hexdigest()
        return self.volume.path_for(name)


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    now = [1_000_000.0]
    meta = SQLiteMetaStore(tmp_path / "meta.db")
    volume = DiskChunkStore(tmp_path / "chunks")
    config = ServiceConfig(inline_threshold=1024, chunk_size=128 * 1024)
    service = ObjectService(meta=meta, chunks=volume, config=config, clock=lambda: now[0])
    await service.put_bucket("bkt")
    # An object that named the chunk was deleted long ago: the chunk is garbage, and due.
    await service.put_bytes("bkt", "old", DATA)
    await service.delete_object("bkt", "old")
    now[0] += GRACE + 1
    yield World(service=service, meta=meta, volume=volume, now=now)
    await service.close()


def pausing_at(step: str) -> tuple[Callable[[str], Awaitable[None]], asyncio.Event, asyncio.Event]:
    """A pause hook that stops the round at ``step`` until released."""
    reached, release = asyncio.Event(), asyncio.Event()

    async def pause(at: str) -> None:
        if at == step:
            reached.set()
            await release.wait()

    return pause, reached, release


@pytest.mark.parametrize("step", ["marked", "doomed", "confirmed"])
async def test_a_write_during_any_gc_step_keeps_its_chunk(world: World, step: str) -> None:
    pause, reached, release = pausing_at(step)
    round_ = asyncio.create_task(world.gc(pause).collect())
    await reached.wait()
    # The write stores the very chunk GC is collecting, and is acknowledged.
    await world.service.put_bytes("bkt", "new", DATA)
    release.set()
    report = await round_
    assert report.deleted == 0
    assert world.chunk_file().exists()
    assert await world.service.get_bytes("bkt", "new") == DATA
    # and a later round, past the grace period, still keeps it: it is referenced
    world.now[0] += GRACE + 1
    assert (await world.gc().collect()).deleted == 0
    assert await world.service.get_bytes("bkt", "new") == DATA


async def test_without_a_write_the_round_deletes_the_chunk(world: World) -> None:
    assert world.chunk_file().exists()
    report = await world.gc().collect()
    assert (report.marked, report.confirmed, report.deleted) == (1, 1, 1)
    assert not world.chunk_file().exists()


async def test_a_commit_naming_a_chunk_collected_meanwhile_fails_and_commits_nothing(
    world: World,
) -> None:
    """A write that stored its chunk long ago (its claim older than the grace period) and
    commits only after GC confirmed the chunk: the commit fails rather than name a hole."""
    name = hashlib.sha256(DATA).hexdigest()
    late = ObjectRecord(
        bucket="bkt",
        key="late",
        size=len(DATA),
        etag=name,
        sha256=name,
        modified=world.now[0],
        version="v-late",
        chunks=(ChunkRef(sha256=name, size=len(DATA)),),
    )
    await world.gc().collect()
    with pytest.raises(ChunkCollected):
        await world.meta.put_object(late, NO_CONDITION)
    assert await world.meta.get_object("bkt", "late") is None


class Steps:
    """Pause hooks that stop a round at every step until that step is released."""

    def __init__(self) -> None:
        self._events: dict[str, tuple[asyncio.Event, asyncio.Event]] = {}

    def _get(self, step: str) -> tuple[asyncio.Event, asyncio.Event]:
        return self._events.setdefault(step, (asyncio.Event(), asyncio.Event()))

    async def pause(self, step: str) -> None:
        reached, release = self._get(step)
        reached.set()
        await release.wait()

    async def reach(self, step: str) -> None:
        await self._get(step)[0].wait()

    def release(self, step: str) -> None:
        self._get(step)[1].set()


async def test_two_collectors_interleaved_with_a_write_keep_its_chunk(world: World) -> None:
    """Two rounds at once (``xolo gc`` beside a server, or a router whose lease lapsed): B
    confirms the chunk, a write stores it again and is acknowledged, A's late doom lands, then
    B deletes. B's delete must not take the doom A made after the write."""
    a, b = Steps(), Steps()
    round_a = asyncio.create_task(world.gc(a.pause).collect())
    await a.reach("marked")
    round_b = asyncio.create_task(world.gc(b.pause).collect())
    for step in ("marked", "doomed"):
        await b.reach(step)
        b.release(step)
    await b.reach("confirmed")  # B deleted the row; its volume delete is pending
    await world.service.put_bytes("bkt", "new", DATA)  # acknowledged
    for step in ("marked", "doomed", "confirmed"):
        a.release(step)
    await round_a
    b.release("confirmed")
    await round_b
    assert world.chunk_file().exists()
    assert await world.service.get_bytes("bkt", "new") == DATA
