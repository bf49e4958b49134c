"""What only the disk store promises: its layout, no leftovers, and sharing a directory."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import crc32c
import pytest

from xolo.chunks.disk import CRC_XATTR, DiskChunkStore

pytestmark = pytest.mark.anyio


async def test_layout_and_no_temp_files(tmp_path: Path) -> None:
    store = DiskChunkStore(tmp_path)
    data = b"hello chunk"
    name = hashlib.sha256(data).hexdigest()
    await store.put(name, data)
    assert (tmp_path / name[:2] / name[2:4] / name).read_bytes() == data
    assert [p.name for p in tmp_path.rglob(".*.tmp")] == []
    await store.close()


async def test_two_stores_share_one_directory(tmp_path: Path) -> None:
    a, b = DiskChunkStore(tmp_path), DiskChunkStore(tmp_path)
    data = b"shared"
    name = hashlib.sha256(data).hexdigest()
    await a.put(name, data)
    await b.put(name, data)
    assert await b.read(name) == data
    await a.close()
    await b.close()


async def test_a_store_by_another_instance_clears_the_doom_of_the_first(tmp_path: Path) -> None:
    gc_side, writer_side = DiskChunkStore(tmp_path), DiskChunkStore(tmp_path)
    data = b"claimed by a writer in another process"
    name = hashlib.sha256(data).hexdigest()
    await writer_side.put(name, data)
    assert await gc_side.doom([name]) == [True]
    assert (tmp_path / name[:2] / name[2:4] / f".{name}.doom").exists()
    await writer_side.put(name, data)
    assert await gc_side.delete_doomed([name]) == [False]
    assert await gc_side.read(name) == data
    await gc_side.close()
    await writer_side.close()


async def test_clean_temp_removes_only_abandoned_temp_files(tmp_path: Path) -> None:
    import os

    now = [10_000.0]
    store = DiskChunkStore(tmp_path, clock=lambda: now[0])
    data = b"kept"
    name = hashlib.sha256(data).hexdigest()
    await store.put(name, data)
    shard = tmp_path / name[:2] / name[2:4]
    stale, fresh = shard / f".{name}.dead.tmp", shard / f".{name}.live.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"in progress")
    os.utime(stale, (now[0] - 7200, now[0] - 7200))
    os.utime(fresh, (now[0] - 60, now[0] - 60))
    assert await store.clean_temp(3600) == 1
    assert not stale.exists() and fresh.exists() and (shard / name).exists()
    await store.close()


async def test_a_quarantined_copy_is_kept_for_inspection(tmp_path: Path) -> None:
    store = DiskChunkStore(tmp_path, clock=lambda: 1234.0)
    data = b"will rot"
    name = hashlib.sha256(data).hexdigest()
    await store.put(name, data)
    (tmp_path / name[:2] / name[2:4] / name).write_bytes(b"has rot")
    assert (await store.scrub([name])).bad == [name]
    assert store.quarantined() == [name]
    assert (tmp_path / "quarantine" / f"{name}.1234").read_bytes() == b"has rot"
    assert [c.sha256 for c in await store.inventory("", 10)] == []
    await store.close()


async def test_the_crc_lives_in_an_xattr_and_scrub_records_a_missing_one(tmp_path: Path) -> None:
    store = DiskChunkStore(tmp_path)
    data = os.urandom(10_000)
    name = hashlib.sha256(data).hexdigest()
    await store.put(name, data)
    path = tmp_path / name[:2] / name[2:4] / name
    assert int.from_bytes(os.getxattr(path, CRC_XATTR), "big") == crc32c.crc32c(data)
    os.removexattr(path, CRC_XATTR)  # a chunk stored before checksums were recorded
    assert await store.read_checked(name) == (data, None)
    path.write_bytes(b"\0" * len(data))
    assert await store.read(name) == b"\0" * len(data)  # unrecorded: only scrub can tell
    path.write_bytes(data)
    assert (await store.scrub([name])).bad == []
    assert await store.read_checked(name) == (data, crc32c.crc32c(data))
    await store.close()
