"""The one place store implementations join the contract suites: add a line, pass the suite.

Each backend opens any number of *independent* store instances on one backing store (shared
state, the same file, the same PostgreSQL schema), so the race tests can pit several instances,
as several routers or workers would be, against each other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from tests.services import POSTGRES, require
from xolo.chunks.base import ChunkVolume
from xolo.chunks.disk import DiskChunkStore
from xolo.chunks.memory import MemoryChunkStore
from xolo.meta.base import MetaStore
from xolo.meta.memory import MemoryMetaStore, MemoryState
from xolo.meta.sqlite import SQLiteMetaStore

Opener = Callable[[], Awaitable[MetaStore]]
Backend = Callable[[Path], contextlib.AbstractAsyncContextManager[Opener]]

PG_DSN = os.environ.get("XOLO_TEST_PG_DSN", f"postgresql://postgres@{POSTGRES.address}/postgres")


@contextlib.asynccontextmanager
async def memory(tmp: Path) -> AsyncIterator[Opener]:
    state = MemoryState()

    async def open_one() -> MetaStore:
        return MemoryMetaStore(state)

    yield open_one


@contextlib.asynccontextmanager
async def sqlite(tmp: Path) -> AsyncIterator[Opener]:
    path = tmp / "meta.db"

    async def open_one() -> MetaStore:
        return SQLiteMetaStore(path)

    yield open_one


@contextlib.asynccontextmanager
async def postgres(tmp: Path) -> AsyncIterator[Opener]:
    require(POSTGRES)
    import asyncpg

    from xolo.meta.postgres import PostgresMetaStore

    schema = f"xolo_test_{secrets.token_hex(6)}"

    async def open_one() -> MetaStore:
        return await PostgresMetaStore.open(PG_DSN, schema=schema, max_connections=8)

    try:
        yield open_one
    finally:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


META_BACKENDS: dict[str, Backend] = {
    "memory": memory,
    "sqlite": sqlite,
    "postgres": postgres,
}
"""Every MetaStore implementation; the contract and race suites run against each."""

PERSISTENT = ("sqlite", "postgres")
"""Backends whose state outlives the instance that wrote it."""


# -- chunk volumes -----------------------------------------------------------------------------


@dataclasses.dataclass
class VolumeUnderTest:
    """A volume, and a way to damage a stored chunk behind its back (for scrub and reads)."""

    volume: ChunkVolume
    corrupt: Callable[[str, bytes], None]
    remove: Callable[[str], None]


def _disk_hooks(root: Path) -> tuple[Callable[[str, bytes], None], Callable[[str], None]]:
    def path(sha: str) -> Path:
        return root / sha[:2] / sha[2:4] / sha

    def corrupt(sha: str, data: bytes) -> None:
        path(sha).write_bytes(data)

    def remove(sha: str) -> None:
        path(sha).unlink()

    return corrupt, remove


@contextlib.asynccontextmanager
async def memory_volume(tmp: Path) -> AsyncIterator[VolumeUnderTest]:
    volume = MemoryChunkStore()
    yield VolumeUnderTest(
        volume=volume, corrupt=volume.corrupt, remove=lambda sha: volume.corrupt_remove(sha)
    )


@contextlib.asynccontextmanager
async def disk_volume(tmp: Path) -> AsyncIterator[VolumeUnderTest]:
    volume = DiskChunkStore(tmp / "chunks")
    corrupt, remove = _disk_hooks(tmp / "chunks")
    try:
        yield VolumeUnderTest(volume=volume, corrupt=corrupt, remove=remove)
    finally:
        await volume.close()


VOLUME_BACKENDS: dict[
    str, Callable[[Path], contextlib.AbstractAsyncContextManager[VolumeUnderTest]]
] = {
    "memory": memory_volume,
    "disk": disk_volume,
}
"""Every ChunkVolume implementation; the volume contract runs against each."""
