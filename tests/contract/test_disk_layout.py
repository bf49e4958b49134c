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
