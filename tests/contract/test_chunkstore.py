"""The ChunkVolume contract: every backend in stores.py passes this file unchanged."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import crc32c
import pytest

from tests.contract.stores import VOLUME_BACKENDS, VolumeUnderTest
from xolo.core.errors import ChunkCorrupt, NoSuchChunk

pytestmark = pytest.mark.anyio


@pytest.fixture(params=sorted(VOLUME_BACKENDS))
async def vut(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[VolumeUnderTest]:
    async with VOLUME_BACKENDS[request.param](tmp_path) as under_test:
        yield under_test


def named(data: bytes) -> tuple[str, bytes]:
    return hashlib.sha256(data).hexdigest(), data


async def test_volume_put_read_size_has(vut: VolumeUnderTest) -> None:
    store = vut.volume
    name, data = named(os.urandom(100_000))
    other, _ = named(b"other")
    assert await store.size(name) is None
    assert await store.put(name, data) >= 1
    assert await store.put(name, data) >= 1  # idempotent
    assert await store.read(name) == data
    assert await store.read(name, 10, 20) == data[10:30]
    assert await store.read(name, 99_990) == data[99_990:]
    assert await store.read(name, 5, 0) == b""
    assert await store.size(name) == 100_000
    assert await store.has([name, other]) == [True, False]
    with pytest.raises(NoSuchChunk):
        await store.read(other)


async def test_concurrent_puts_of_one_chunk_store_it_once(vut: VolumeUnderTest) -> None:
    name, data = named(os.urandom(50_000))
    await asyncio.gather(*(vut.volume.put(name, data) for _ in range(8)))
    assert await vut.volume.read(name) == data
    assert (await vut.volume.usage()).chunks == 1


async def test_inventory_is_sorted_and_pages(vut: VolumeUnderTest) -> None:
    names = sorted(named(str(i).encode())[0] for i in range(30))
    for i in range(30):
        await vut.volume.put(*named(str(i).encode()))
    first = await vut.volume.inventory("", 12)
    rest = await vut.volume.inventory(first[-1].sha256, 100)
    assert [c.sha256 for c in first + rest] == names
    assert all(c.size in (1, 2) for c in first + rest)
    usage = await vut.volume.usage()
    assert usage.chunks == 30 and usage.used_bytes == sum(c.size for c in first + rest)


async def test_doomed_chunks_are_deleted_only_while_still_doomed(vut: VolumeUnderTest) -> None:
    store = vut.volume
    kept, kept_data = named(b"stored again after its doom")
    gone, gone_data = named(b"collected")
    absent, _ = named(b"never stored")
    await store.put(kept, kept_data)
    await store.put(gone, gone_data)
    assert await store.doom([kept, gone, absent]) == [True, True, False]
    await store.put(kept, kept_data)  # a write re-stored it: the mark is gone
    assert await store.delete_doomed([kept, gone, absent]) == [False, True, False]
    assert await store.has([kept, gone]) == [True, False]
    assert await store.delete_doomed([gone]) == [False]
    assert (await store.usage()).chunks == 1


async def test_a_delete_removes_only_its_own_rounds_dooms(vut: VolumeUnderTest) -> None:
    store = vut.volume
    name, data = named(b"doomed by two rounds")
    await store.put(name, data)
    assert await store.doom([name], mark="aa01") == [True]
    assert await store.doom([name], mark="bb02") == [True]  # a later round's doom replaces it
    assert await store.delete_doomed([name], mark="aa01") == [False]
    assert await store.has([name]) == [True]
    assert await store.delete_doomed([name], mark="bb02") == [True]
    assert await store.has([name]) == [False]


async def test_a_part_of_a_truncated_copy_is_corrupt_never_short(vut: VolumeUnderTest) -> None:
    name, data = named(os.urandom(100_000))
    await vut.volume.put(name, data)
    vut.corrupt(name, data[:50_000])  # the file lost its tail
    assert await vut.volume.read(name, 10_000, 20_000) == data[10_000:30_000]
    with pytest.raises(ChunkCorrupt):
        await vut.volume.read(name, 40_000, 20_000)


async def test_a_put_over_a_damaged_copy_stores_the_good_bytes(vut: VolumeUnderTest) -> None:
    """A write of a chunk the volume already has must not count a copy that rotted: the good
    bytes replace it (and the copy is counted once)."""
    name, data = named(os.urandom(70_000))
    await vut.volume.put(name, data)
    vut.corrupt(name, bytes([data[0] ^ 1]) + data[1:])
    await vut.volume.put(name, data)
    assert await vut.volume.read(name) == data
    assert (await vut.volume.usage()).chunks == 1


async def test_delete_needs_a_doom_first(vut: VolumeUnderTest) -> None:
    name, data = named(b"never doomed")
    await vut.volume.put(name, data)
    assert await vut.volume.delete_doomed([name]) == [False]
    assert await vut.volume.has([name]) == [True]


async def test_scrub_quarantines_a_damaged_copy_and_reports_it(vut: VolumeUnderTest) -> None:
    good, good_data = named(b"good chunk")
    bad, bad_data = named(b"chunk about to rot")
    await vut.volume.put(good, good_data)
    await vut.volume.put(bad, bad_data)
    vut.corrupt(bad, b"chunk about to rox")
    report = await vut.volume.scrub()
    assert report.checked == 2 and report.bad == [bad] and report.next_after is None
    assert report.bytes == len(good_data) + len(bad_data)
    assert await vut.volume.has([good, bad]) == [True, False]
    assert (await vut.volume.scrub([good])).bad == []
    await vut.volume.put(bad, bad_data)  # repair stores a good copy again
    assert await vut.volume.read(bad) == bad_data


async def test_scrub_pages_through_the_volume(vut: VolumeUnderTest) -> None:
    for i in range(5):
        await vut.volume.put(*named(f"chunk {i}".encode()))
    seen, after = 0, ""
    while True:
        report = await vut.volume.scrub(after=after, limit=2)
        seen += report.checked
        if report.next_after is None:
            break
        after = report.next_after
    assert seen == 5


async def test_a_doomed_copy_does_not_count_until_it_is_stored_again(vut: VolumeUnderTest) -> None:
    volume = vut.volume
    name, data = named(b"doomed, then wanted again")
    await volume.put(name, data)
    assert await volume.copies([name]) == [1]
    assert await volume.doom([name]) == [True]
    assert await volume.has([name]) == [True]  # still readable while doomed
    assert await volume.copies([name]) == [0]  # but no transfer may lean on it
    await volume.put(name, data)  # a store lifts the doom
    assert await volume.copies([name]) == [1]
    assert await volume.delete_doomed([name]) == [False]


@pytest.mark.parametrize("size", [50_000, 9 * 1024 * 1024], ids=["small", "streamed"])
async def test_a_whole_read_comes_with_the_crc_recorded_when_it_was_stored(
    vut: VolumeUnderTest, size: int
) -> None:
    """Small and large chunks alike (a peer reads a chunk above 8 MiB in pieces instead of at
    once, and leaves the check to the reader)."""
    name, data = named(os.urandom(size))
    await vut.volume.put(name, data)
    got, crc = await vut.volume.read_checked(name)
    assert got == data and crc in (None, crc32c.crc32c(data))
    if crc is None:
        return  # this volume records no checksum (memory)
    vut.corrupt(name, data[:-1] + bytes([data[-1] ^ 1]))  # one flipped bit, same size
    for read in (vut.volume.read(name), vut.volume.read_checked(name)):
        with pytest.raises(ChunkCorrupt):
            await read
    assert await vut.volume.read(name, 0, 10) == data[:10]  # a part is not checked


async def test_bodiless_answers_in_a_row_each_end(vut: VolumeUnderTest) -> None:
    """A peer's HEAD answers carry no body; reading the next one must not wait for ever."""
    name, data = named(b"sized")
    await vut.volume.put(name, data)
    for _ in range(4):
        assert await asyncio.wait_for(vut.volume.size(name), 10) == len(data)
        assert await asyncio.wait_for(vut.volume.size("0" * 64), 10) is None
