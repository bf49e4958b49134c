"""Repair, rebalance and drain decisions (cluster/repair.py) over in-memory volumes: a copy is
removed only when its owners hold live copies now, and a draining peer becomes drained only when
nothing it holds is still needed."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Sequence

import pytest

from xolo.chunks.memory import MemoryChunkStore
from xolo.chunks.replicated import Member
from xolo.cluster import repair
from xolo.cluster.repair import Repairer
from xolo.core.errors import PeerUnavailable
from xolo.core.placement import Candidate, owners
from xolo.core.records import ChunkInfo, ChunkRef, PeerRecord

pytestmark = pytest.mark.anyio


class Unreadable(MemoryChunkStore):
    """A volume that lists its chunks but cannot serve them (a busy peer timing out)."""

    async def read(self, sha256: str, offset: int = 0, length: int | None = None) -> bytes:
        raise PeerUnavailable("timed out")


class Meta:
    """The part of the metadata store repair uses, with peer states an operator can change."""

    def __init__(self, infos: Sequence[ChunkInfo], states: dict[str, str]) -> None:
        self.infos = sorted(infos, key=lambda i: i.sha256)
        self.states = states
        self.before_page: list[object] = []

    async def chunk_page(self, after: str, limit: int) -> list[ChunkInfo]:
        for hook in self.before_page:
            await hook(after)  # type: ignore[operator]
        return [i for i in self.infos if i.sha256 > after][:limit]

    async def chunk_infos(self, names: Sequence[str]) -> dict[str, ChunkInfo]:
        return {i.sha256: i for i in self.infos if i.sha256 in names}

    async def adopt_strays(self, chunks: Sequence[ChunkRef], *, now: float) -> int:
        return 0

    async def set_peer_state(
        self, peer_id: str, admin_state: str, *, expect: str | None = None
    ) -> PeerRecord | None:
        if expect is None or self.states.get(peer_id) == expect:
            self.states[peer_id] = admin_state
        return PeerRecord(  # only admin_state is read back
            id=peer_id,
            url="",
            zone="z",
            capacity=1,
            used_bytes=0,
            chunks=0,
            last_heartbeat=0.0,
            admin_state=self.states[peer_id],
        )


class Topo:
    def __init__(self, members: list[Member]) -> None:
        self._members = members

    def members(self) -> list[Member]:
        return self._members

    def suspect(self, peer_id: str) -> None:
        pass


def member(peer_id: str, volume: MemoryChunkStore, state: str = "up") -> Member:
    return Member(candidate=Candidate(id=peer_id, zone="z", weight=1.0), volume=volume, state=state)


def chunk(data: bytes, replicas: int) -> ChunkInfo:
    return ChunkInfo(
        sha256=hashlib.sha256(data).hexdigest(), size=len(data), refs=1, replicas=replicas
    )


async def test_a_draining_peer_with_the_only_unreadable_copy_is_not_drained() -> None:
    data = b"only copy, on a busy draining peer"
    info = chunk(data, 2)
    a, b, d = MemoryChunkStore(), MemoryChunkStore(), Unreadable()
    await d.put(info.sha256, data)
    meta = Meta([info], {"d": "draining"})
    topo = Topo([member("a", a), member("b", b), member("d", d, "draining")])
    counters = await Repairer(meta=meta, topology=topo, rate=0).run_once()
    assert counters["unreadable"] == 1
    assert meta.states["d"] == "draining"
    assert await d.has([info.sha256]) == [True]


async def test_draining_one_of_two_peers_at_r2_keeps_both_copies_and_the_drain() -> None:
    data = b"two copies wanted, two peers"
    info = chunk(data, 2)
    a, d = MemoryChunkStore(), MemoryChunkStore()
    await a.put(info.sha256, data)
    await d.put(info.sha256, data)
    meta = Meta([info], {"d": "draining"})
    topo = Topo([member("a", a), member("d", d, "draining")])
    await Repairer(meta=meta, topology=topo, rate=0).run_once()
    assert await a.has([info.sha256]) == [True] and await d.has([info.sha256]) == [True]
    assert meta.states["d"] == "draining"


async def test_an_undrain_made_during_the_pass_is_not_overwritten() -> None:
    data = b"moved off the draining peer"
    info = chunk(data, 1)
    a, d = MemoryChunkStore(), MemoryChunkStore()
    await d.put(info.sha256, data)
    meta = Meta([info], {"d": "draining"})

    async def operator_undrains(after: str) -> None:
        if after:  # the second page: the pass has seen every chunk
            meta.states["d"] = "active"

    meta.before_page.append(operator_undrains)
    topo = Topo([member("a", a), member("d", d, "draining")])
    monkey = pytest.MonkeyPatch()
    monkey.setattr(repair, "PAGE", 1)
    try:
        await Repairer(meta=meta, topology=topo, rate=0).run_once()
    finally:
        monkey.undo()
    assert meta.states["d"] == "active"


async def test_a_copy_is_kept_when_its_owner_lost_its_copy_after_the_inventory() -> None:
    """The inventories are read at the start of a long pass; the owner's copy goes before the
    pass reaches the chunk. The other copy is then the last one: it must not be removed before
    the owner holds a copy again."""
    data = b"x"
    info = chunk(data, 1)
    volumes = {"p1": MemoryChunkStore(), "p2": MemoryChunkStore()}
    members = [member(i, v) for i, v in volumes.items()]
    owner = owners([m.candidate for m in members], info.sha256, 1)[0].id
    for volume in volumes.values():
        await volume.put(info.sha256, data)
    early = [
        dataclasses.replace(info, sha256="0" * 63 + str(i), size=1) for i in range(2)
    ]  # sort before x: x is on a later metadata page than the inventory page naming it
    meta = Meta([*early, info], {})

    async def owner_loses_it(after: str) -> None:
        if after == early[-1].sha256:
            await volumes[owner].doom([info.sha256], mark="ab")
            await volumes[owner].delete_doomed([info.sha256], mark="ab")

    meta.before_page.append(owner_loses_it)
    monkey = pytest.MonkeyPatch()
    monkey.setattr(repair, "PAGE", 2)
    try:
        await Repairer(meta=meta, topology=Topo(members), rate=0).run_once()
    finally:
        monkey.undo()
    copies = [(await v.copies([info.sha256]))[0] for v in volumes.values()]
    assert sum(copies) >= 1  # never below R
    assert await volumes[owner].copies([info.sha256]) == [1]  # stored there again first


async def test_an_owner_with_a_stale_doom_gets_its_copy_back_before_the_other_goes() -> None:
    """A GC round doomed the owner's copy and then found the chunk wanted again (its confirm
    failed), so the mark stays: the copy lists but does not count. Repair stores it there again
    (lifting the doom) before it removes the copy elsewhere."""
    data = b"owner copy doomed by a round that then backed off"
    info = chunk(data, 1)
    volumes = {"p1": MemoryChunkStore(), "p2": MemoryChunkStore()}
    members = [member(i, v) for i, v in volumes.items()]
    owner = owners([m.candidate for m in members], info.sha256, 1)[0].id
    other = next(i for i in volumes if i != owner)
    for volume in volumes.values():
        await volume.put(info.sha256, data)
    await volumes[owner].doom([info.sha256], mark="c0ffee")
    counters = await Repairer(meta=Meta([info], {}), topology=Topo(members), rate=0).run_once()
    assert counters.get("restored") == 1
    assert await volumes[owner].copies([info.sha256]) == [1]
    assert await volumes[other].has([info.sha256]) == [False]
