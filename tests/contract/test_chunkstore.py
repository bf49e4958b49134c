"""The ChunkStore contract: every implementation must pass this file unchanged."""

from __future__ import annotations

import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from xolo.chunks.base import ChunkStore
from xolo.chunks.disk import DiskChunkStore
from xolo.chunks.memory import MemoryChunkStore
from xolo.core.errors import NoSuchChunk

pytestmark = pytest.mark.anyio


@pytest.fixture(params=["memory", "disk"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ChunkStore]:
    s: ChunkStore = MemoryChunkStore() if request.param == "memory" else DiskChunkStore(tmp_path)
    yield s
    await s.close()


def named(data: bytes) -> tuple[str, bytes]:
    return hashlib.sha256(data).hexdigest(), data


async def test_put_get_size_has(store: ChunkStore) -> None:
    name, data = named(os.urandom(100_000))
    other, _ = named(b"other")
    assert await store.size(name) is None
    await store.put(name, data)
    await store.put(name, data)  # idempotent
    assert await store.get(name) == data
    assert await store.get(name, 10, 20) == data[10:30]
    assert await store.get(name, 99_990) == data[99_990:]
    assert await store.get(name, 5, 0) == b""
    assert await store.size(name) == len(data)
    assert await store.has([name, other, name]) == [True, False, True]


async def test_empty_chunk(store: ChunkStore) -> None:
    name, data = named(b"")
    await store.put(name, data)
    assert await store.get(name) == b""
    assert await store.size(name) == 0


async def test_missing_chunk(store: ChunkStore) -> None:
    with pytest.raises(NoSuchChunk):
        await store.get("0" * 64)


async def test_delete_and_names(store: ChunkStore) -> None:
    chunks = dict(named(bytes([i]) * 10) for i in range(5))
    for name, data in chunks.items():
        await store.put(name, data)
    assert sorted([n async for n in store.names()]) == sorted(chunks)
    victim = next(iter(chunks))
    assert await store.delete(victim)
    assert not await store.delete(victim)
    assert await store.has([victim]) == [False]
    assert sorted([n async for n in store.names()]) == sorted(set(chunks) - {victim})


async def test_sweep_spares_kept_young_and_refreshed_chunks(store: ChunkStore) -> None:
    import asyncio
    import time

    old_kept, old_orphan, refreshed, touched = (named(f"chunk {i}".encode()) for i in range(4))
    for name, data in (old_kept, old_orphan, refreshed, touched):
        await store.put(name, data)
    await asyncio.sleep(0.05)
    cutoff = time.time()
    await asyncio.sleep(0.05)
    await store.put(*refreshed)  # storing an existing chunk makes it young again
    assert await store.touch([touched[0], "f" * 64]) == [True, False]
    young = named(b"young")
    await store.put(*young)
    deleted = await store.sweep(lambda n: n == old_kept[0], cutoff)
    assert deleted == 1
    present = await store.has([old_kept[0], old_orphan[0], refreshed[0], touched[0], young[0]])
    assert present == [True, False, True, True, True]
    assert await store.sweep(lambda n: False, time.time() - 3600) == 0
