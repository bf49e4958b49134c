"""The ChunkStore contract: every store in stores.py (each volume, and the replicated store
over real peer processes) passes this file unchanged."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.contract.stores import STORE_BACKENDS
from xolo.chunks.base import ChunkStore
from xolo.core.errors import NoSuchChunk

pytestmark = pytest.mark.anyio


@pytest.fixture(params=sorted(STORE_BACKENDS))
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ChunkStore]:
    async with STORE_BACKENDS[request.param](tmp_path) as s:
        yield s


def named(data: bytes) -> tuple[str, bytes]:
    return hashlib.sha256(data).hexdigest(), data


async def test_put_read_size_has_with_copies(store: ChunkStore) -> None:
    name, data = named(os.urandom(300_000))
    other, _ = named(b"other")
    copies = min(2, store.places())
    assert await store.size(name) is None
    assert await store.put(name, data, copies=copies, quorum=copies) >= copies
    assert await store.read(name) == data
    assert await store.read(name, 10, 20) == data[10:30]
    assert await store.read(name, 299_990) == data[299_990:]
    assert await store.size(name) == 300_000
    assert await store.has([name, other]) == [True, False]
    with pytest.raises(NoSuchChunk):
        await store.read(other)


async def test_puts_are_idempotent_and_concurrent_puts_agree(store: ChunkStore) -> None:
    name, data = named(os.urandom(70_000))
    results = await asyncio.gather(*(store.put(name, data) for _ in range(6)))
    assert all(r >= 1 for r in results)
    assert await store.read(name) == data


async def test_an_empty_chunk_round_trips(store: ChunkStore) -> None:
    name, data = named(b"")
    await store.put(name, data)
    assert await store.read(name) == b""
    assert await store.size(name) == 0


async def test_copies_count_the_places_that_hold_a_chunk(store: ChunkStore) -> None:
    name, data = named(os.urandom(5_000))
    other, _ = named(b"never stored")
    copies = min(2, store.places())
    await store.put(name, data, copies=copies, quorum=copies)
    counted = await store.copies([name, other])
    assert counted[1] == 0 and counted[0] >= copies
    assert await store.copies([]) == []


async def test_upload_urls_are_distinct_places_or_none(store: ChunkStore) -> None:
    name, _ = named(b"a chunk a client would upload")
    urls = store.upload_urls(name, 2)
    assert len(urls) == len(set(urls))
    assert all(u.startswith("http") for u in urls)
    if store.places() > 1:
        assert len(urls) >= 2  # a cluster names peers; a lone volume names none or itself
    readers = store.read_urls(name)
    assert len(readers) == len(set(readers)) and set(urls) <= set(readers)
    assert (len(readers) >= 2) == (store.places() > 1)
