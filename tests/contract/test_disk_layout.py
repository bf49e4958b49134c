"""What only the disk store promises: its layout, no leftovers, and sharing a directory."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from xolo.chunks.disk import DiskChunkStore

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
    assert await b.get(name) == data
    await a.close()
    await b.close()


async def test_sweep_removes_abandoned_temp_files(tmp_path: Path) -> None:
    import os
    import time

    store = DiskChunkStore(tmp_path)
    data = b"kept"
    name = hashlib.sha256(data).hexdigest()
    await store.put(name, data)
    shard = tmp_path / name[:2] / name[2:4]
    stale, fresh = shard / f".{name}.dead.tmp", shard / f".{name}.live.tmp"
    stale.write_bytes(b"half")
    fresh.write_bytes(b"in progress")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    assert await store.sweep(lambda n: True, time.time() - 3600) == 0
    assert not stale.exists() and fresh.exists() and (shard / name).exists()
    await store.close()
