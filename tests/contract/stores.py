"""The one place store implementations join the contract suites: add a line, pass the suite.

Each backend opens any number of *independent* store instances on one backing store (shared
state, the same file, the same PostgreSQL schema), so the race tests can pit several instances,
as several routers or workers would be, against each other.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

from tests.server import PeerProcess
from tests.services import POSTGRES, require
from xolo.chunks.base import ChunkStore, ChunkVolume
from xolo.chunks.disk import DiskChunkStore
from xolo.chunks.memory import MemoryChunkStore
from xolo.chunks.remote import PeerVolume, cluster_http
from xolo.chunks.replicated import Member, ReplicatedChunkStore
from xolo.core.placement import Candidate
from xolo.meta.base import MetaStore
from xolo.meta.memory import MemoryMetaStore, MemoryState
from xolo.meta.sqlite import SQLiteMetaStore

Opener = Callable[[], Awaitable[MetaStore]]
Backend = Callable[[Path], contextlib.AbstractAsyncContextManager[Opener]]

PG_DSN = os.environ.get("XOLO_TEST_PG_DSN", f"postgresql://postgres@{POSTGRES.address}/postgres")
CHAIN_KEY = b"contract-test-chain-key-32-bytes"
"""Every contract store MACs its audit chains with this key."""


@contextlib.asynccontextmanager
async def memory(tmp: Path) -> AsyncIterator[Opener]:
    """In-memory stores: every instance shares one MemoryState, as routers share one database."""
    state = MemoryState()

    async def open_one() -> MetaStore:
        return MemoryMetaStore(state, chain_key=CHAIN_KEY)

    yield open_one


@contextlib.asynccontextmanager
async def sqlite(tmp: Path) -> AsyncIterator[Opener]:
    """SQLite stores: every instance opens the same file under ``tmp``."""
    path = tmp / "meta.db"

    async def open_one() -> MetaStore:
        return SQLiteMetaStore(path, chain_key=CHAIN_KEY)

    yield open_one


@contextlib.asynccontextmanager
async def postgres(tmp: Path) -> AsyncIterator[Opener]:
    """PostgreSQL stores in a fresh schema (recorded in LAST_PG_SCHEMA), dropped afterwards; skips
    or fails without a server, as ``tests.services`` says."""
    require(POSTGRES)
    import asyncpg

    from xolo.meta.postgres import PostgresMetaStore

    schema = f"xolo_test_{secrets.token_hex(6)}"
    LAST_PG_SCHEMA[0] = schema

    async def open_one() -> MetaStore:
        return await PostgresMetaStore.open(
            PG_DSN, schema=schema, max_connections=8, chain_key=CHAIN_KEY
        )

    try:
        yield open_one
    finally:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()


LAST_PG_SCHEMA = [""]
"""The schema of the PostgreSQL backend most recently opened (for tests that tamper with it)."""

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
    """An in-memory volume, damaged through its own test hooks."""
    volume = MemoryChunkStore()
    yield VolumeUnderTest(
        volume=volume, corrupt=volume.corrupt, remove=lambda sha: volume.corrupt_remove(sha)
    )


@contextlib.asynccontextmanager
async def disk_volume(tmp: Path) -> AsyncIterator[VolumeUnderTest]:
    """A DiskChunkStore under ``tmp``, damaged by writing or removing the files of its layout."""
    volume = DiskChunkStore(tmp / "chunks")
    corrupt, remove = _disk_hooks(tmp / "chunks")
    try:
        yield VolumeUnderTest(volume=volume, corrupt=corrupt, remove=remove)
    finally:
        await volume.close()


@contextlib.asynccontextmanager
async def peer_volume(tmp: Path) -> AsyncIterator[VolumeUnderTest]:
    """A real ``xolo peer`` process, reached over HTTP with cluster signatures."""
    async with peer_processes(tmp, 1) as procs:
        ((proc, data),) = procs
        http = cluster_http()
        volume = PeerVolume(peer_id="p0", url=proc.url, secret=CLUSTER_SECRET, http=http)
        corrupt, remove = _disk_hooks(data / "chunks")
        try:
            yield VolumeUnderTest(volume=volume, corrupt=corrupt, remove=remove)
        finally:
            await http.aclose()


VolumeBackend = Callable[[Path], contextlib.AbstractAsyncContextManager[VolumeUnderTest]]

VOLUME_BACKENDS: dict[str, VolumeBackend] = {
    "memory": memory_volume,
    "disk": disk_volume,
    "peer": peer_volume,
}
"""Every ChunkVolume implementation; the volume contract runs against each."""


# -- whole chunk stores ------------------------------------------------------------------------


class StaticTopology:
    """Peers with fixed states (the replicated store's own tests change them)."""

    def __init__(self, members: list[Member]) -> None:
        self.members_now = members
        self.suspected: list[str] = []

    def members(self) -> list[Member]:
        """The peers as they are now (the store asks on every placement and read, so set_state takes
        effect at once)."""
        return self.members_now

    def suspect(self, peer_id: str) -> None:
        """Record the store's report that a peer failed a request, for tests to assert on; its state
        does not change."""
        self.suspected.append(peer_id)

    def set_state(self, peer_id: str, state: str) -> None:
        """Put one peer in ``state`` (up, suspect, down), as a router's heartbeat tracking would."""
        self.members_now = [
            dataclasses.replace(m, state=state) if m.candidate.id == peer_id else m
            for m in self.members_now
        ]


Replicated = tuple[ReplicatedChunkStore, StaticTopology, list[Path]]


@contextlib.asynccontextmanager
async def replicated_store(tmp: Path, peers: int = 3) -> AsyncIterator[Replicated]:
    """A ReplicatedChunkStore over ``peers`` real peer processes (ids p0, p1, ...), and each
    peer's data directory."""
    async with peer_processes(tmp, peers) as procs:
        http = cluster_http()
        members = [
            Member(
                candidate=Candidate(id=f"p{i}", zone=f"z{i}", weight=1.0),
                volume=PeerVolume(peer_id=f"p{i}", url=proc.url, secret=CLUSTER_SECRET, http=http),
                state="up",
            )
            for i, (proc, _) in enumerate(procs)
        ]
        topology = StaticTopology(members)
        store = ReplicatedChunkStore(topology=topology)
        try:
            yield store, topology, [data for _, data in procs]
        finally:
            await store.close()
            await http.aclose()


@contextlib.asynccontextmanager
async def replicated_as_store(tmp: Path) -> AsyncIterator[ChunkStore]:
    """A replicated store over three peers, without its topology and paths: the shape the common
    store contract takes."""
    async with replicated_store(tmp) as (store, _, _):
        yield store


@contextlib.asynccontextmanager
async def volume_as_store(backend: VolumeBackend, tmp: Path) -> AsyncIterator[ChunkStore]:
    """A volume from ``backend`` as a plain ChunkStore, so the store contract also runs against
    every volume."""
    async with backend(tmp) as vut:
        yield vut.volume


StoreBackend = Callable[[Path], contextlib.AbstractAsyncContextManager[ChunkStore]]

STORE_BACKENDS: dict[str, StoreBackend] = {
    **{name: functools.partial(volume_as_store, b) for name, b in VOLUME_BACKENDS.items()},
    "replicated": replicated_as_store,
}
"""Every ChunkStore implementation; the store contract runs against each."""


# -- peer processes ----------------------------------------------------------------------------

CLUSTER_SECRET = "contract-test-cluster-secret"


@contextlib.asynccontextmanager
async def peer_processes(tmp: Path, n: int) -> AsyncIterator[list[tuple[PeerProcess, Path]]]:
    """``n`` real ``xolo peer`` processes sharing CLUSTER_SECRET, each with its data directory under
    ``tmp``; all are stopped on exit, even when one fails to start."""
    procs: list[tuple[PeerProcess, Path]] = []
    try:
        for i in range(n):
            data = tmp / f"peer{i}"
            procs.append((PeerProcess(data, secret=CLUSTER_SECRET).start(), data))
        yield procs
    finally:
        for proc, _ in procs:
            proc.stop()
