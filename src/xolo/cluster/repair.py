"""Repair, rebalance and drain: one pass that moves every chunk toward its computed owners.

For each chunk the metadata store knows (in name order), the pass learns which peers hold it by
merging the peers' own inventories (also in name order, so memory stays bounded), computes its
owners among the peers that count for placement, and then:

* copies it from a holder to every owner that lacks it (repair after a loss or a dead peer,
  rebalance after a peer joins);
* once every owner holds it, removes the copies on other peers (handoff copies, copies on a
  draining peer, copies on a peer that came back after its chunks were re-replicated), through
  the same doom-then-delete phases GC uses, so a write racing the removal keeps its copy;
* hands chunks a peer holds but the store does not know (strays) to GC, by recording them as
  unreferenced.

A draining peer becomes ``drained`` after a pass in which every chunk it held had all its owner
copies elsewhere. Copies are throttled to a byte rate so foreground traffic keeps its speed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from typing import Protocol

from xolo.chunks.base import ChunkVolume
from xolo.chunks.replicated import Member, Topology
from xolo.core.errors import XoloError
from xolo.core.placement import Candidate, owners
from xolo.core.records import ChunkInfo, ChunkRef, default_replication
from xolo.meta.base import ChunkRefStore, ClusterStore

log = logging.getLogger("xolo.repair")

PAGE = 500
"""Chunks considered per step: one metadata page and one inventory page per peer."""

PARALLEL = 4
"""Chunks converged at once."""

END = "g"
"""Sorts after every chunk name (lowercase hex), marking the end of the name space."""


class RepairStore(ChunkRefStore, ClusterStore, Protocol):
    """What repair needs of the metadata store."""


class _Inventory:
    """One peer's chunk names, read page by page in name order."""

    def __init__(self, volume: ChunkVolume) -> None:
        self._volume = volume
        self._buffer: list[ChunkRef] = []
        self._after = ""
        self._done = False
        self.failed = False

    async def upto(self, last: str) -> list[ChunkRef]:
        """The names not yet returned that are <= ``last``."""
        out: list[ChunkRef] = []
        while True:
            while self._buffer and self._buffer[0].sha256 <= last:
                out.append(self._buffer.pop(0))
            if self._buffer or self._done or self.failed:
                return out
            try:
                page = await self._volume.inventory(self._after, PAGE)
            except XoloError as exc:
                log.warning("inventory of %r failed: %s", self._volume, exc)
                self.failed = True
                return out
            if len(page) < PAGE:
                self._done = True
            if page:
                self._after = page[-1].sha256
            self._buffer.extend(page)


class Repairer:
    """The ``repair`` background task (see the module docstring)."""

    name = "repair"

    def __init__(
        self,
        *,
        meta: RepairStore,
        topology: Topology,
        schedule: str = "*/5 * * * *",
        rate: float = 64 * 1024 * 1024,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._meta = meta
        self._topology = topology
        self.schedule = schedule
        self.rate = rate
        self._clock = clock

    async def _throttle(self, size: int) -> None:
        if self.rate > 0:
            await asyncio.sleep(size / self.rate)

    async def run_once(self) -> dict[str, int]:
        """One pass over every chunk the metadata store knows, page by page (the module docstring);
        draining peers that no longer hold anything needed become drained at the end."""
        counters: Counter[str] = Counter()
        members = list(self._topology.members())
        readable = [m for m in members if m.readable]
        cursors = {m.candidate.id: _Inventory(m.volume) for m in readable}
        draining = {m.candidate.id for m in readable if m.state == "draining"}
        needed: Counter[str] = Counter()
        limit = asyncio.Semaphore(PARALLEL)
        after = ""
        while True:
            page = await self._meta.chunk_page(after, PAGE)
            last = page[-1].sha256 if len(page) == PAGE else END
            holders: dict[str, set[str]] = defaultdict(set)
            sizes: dict[str, int] = {}
            for peer_id, cursor in cursors.items():
                for ref in await cursor.upto(last):
                    holders[ref.sha256].add(peer_id)
                    sizes[ref.sha256] = ref.size
            known = {c.sha256 for c in page}
            strays = [ChunkRef(sha256=n, size=sizes[n]) for n in holders if n not in known]
            if strays:
                counters["strays"] += await self._meta.adopt_strays(strays, now=self._clock())

            unknown = {peer_id for peer_id, cursor in cursors.items() if cursor.failed}

            async def one(info: ChunkInfo, found: set[str], unknown: set[str]) -> None:
                async with limit:
                    await self._converge(info, found, members, counters, needed, unknown)

            await asyncio.gather(
                *(
                    one(info, holders.get(info.sha256, set()), unknown)
                    for info in page
                    if info.refs > 0
                )
            )
            counters["checked"] += len(page)
            if len(page) < PAGE:
                break
            after = last
        for peer_id in draining:
            if not needed[peer_id] and not cursors[peer_id].failed:
                peer = await self._meta.set_peer_state(peer_id, "drained", expect="draining")
                counters["drained"] += peer is not None and peer.admin_state == "drained"
        return dict(counters)

    async def repair_chunk(self, sha256: str) -> dict[str, int]:
        """Converge one chunk now (after scrub quarantined a copy, say)."""
        counters: Counter[str] = Counter()
        infos = await self._meta.chunk_infos([sha256])
        info = infos.get(sha256)
        if info is None or info.refs == 0:
            return {}
        members = list(self._topology.members())
        readable = [m for m in members if m.readable]
        answers = await asyncio.gather(
            *(m.volume.has([sha256]) for m in readable), return_exceptions=True
        )
        holders = {m.candidate.id for m, a in zip(readable, answers, strict=True) if a == [True]}
        await self._converge(info, holders, members, counters, Counter(), set())
        return dict(counters)

    async def _converge(
        self,
        info: ChunkInfo,
        holders: set[str],
        members: Sequence[Member],
        counters: Counter[str],
        needed: Counter[str],
        unknown: set[str],
    ) -> None:
        """Copy to missing owners, then remove the copies that are not an owner's.
        ``unknown`` peers' inventories could not be read: nothing is removed from them."""
        by_id = {m.candidate.id: m for m in members}
        placeable = [m.candidate for m in members if m.placeable]
        if not placeable:
            return
        # 0 replicas recorded means the default, min(2, peers), which grows with the cluster.
        replicas = info.replicas or default_replication(len(placeable))
        wanted = owners(placeable, info.sha256, max(1, min(replicas, len(placeable))))
        if not holders:
            counters["lost"] += 1
            log.error("chunk %s has no readable copy on any peer", info.sha256)
            return
        # Until this chunk has its copies, every holder still holds something the cluster needs
        # (a draining peer with the only copy must not become drained).
        still_needed = sorted(holders)
        have = set(holders)
        data: bytes | None = None
        for owner in wanted:
            target = by_id[owner.id]
            if owner.id in have or not target.writable:
                continue
            data = data or await self._fetch(info.sha256, [by_id[h] for h in holders if h in by_id])
            if data is None:
                counters["unreadable"] += 1
                for peer_id in still_needed:
                    needed[peer_id] += 1
                return
            await self._throttle(len(data))
            try:
                await target.volume.put(info.sha256, data)
            except XoloError as exc:
                log.warning("copying %s to %s failed: %s", info.sha256[:12], owner.id, exc)
                counters["failed"] += 1
                continue
            have.add(owner.id)
            counters["copied"] += 1
        owner_ids = {o.id for o in wanted}
        if not owner_ids <= have or len(wanted) < replicas:
            # Copies missing, or too few peers for R owners: every copy stays, and is needed.
            for peer_id in still_needed:
                needed[peer_id] += 1
            return
        if holders - owner_ids:
            lacking = await self._owners_lacking(info.sha256, wanted, by_id)
            if lacking:
                # An owner's copy went since the inventory was read, or is doomed by a GC round
                # whose confirm failed: store it there again (a put lifts a doom), then ask again.
                sources = [by_id[h] for h in holders if h in by_id]
                data = data or await self._fetch(info.sha256, sources)
                for owner in lacking:
                    if data is not None and by_id[owner.id].writable:
                        with contextlib.suppress(XoloError):
                            await by_id[owner.id].volume.put(info.sha256, data)
                            counters["restored"] += 1
                if await self._owners_lacking(info.sha256, wanted, by_id):
                    for peer_id in still_needed:
                        needed[peer_id] += 1
                    return
        for peer_id in sorted(holders - owner_ids):
            member = by_id.get(peer_id)
            if member is None or not member.readable or peer_id in unknown:
                continue
            if await self._remove(member, info.sha256):
                counters["moved" if member.placeable else "drained_chunks"] += 1

    async def _owners_lacking(
        self, sha256: str, wanted: Sequence[Candidate], by_id: Mapping[str, Member]
    ) -> list[Candidate]:
        """The owners without a live copy now, asked just before a copy elsewhere is removed:
        the inventories were read at the start of a pass that may have taken hours, and they
        list doomed copies too."""
        answers = await asyncio.gather(
            *(by_id[o.id].volume.copies([sha256]) for o in wanted), return_exceptions=True
        )
        return [o for o, a in zip(wanted, answers, strict=True) if a != [1]]

    async def _fetch(self, sha256: str, sources: Sequence[Member]) -> bytes | None:
        for source in sources:
            try:
                return await source.volume.read(sha256)  # a whole read: verified
            except XoloError as exc:
                log.warning("reading %s from %s failed: %s", sha256[:12], source.candidate.id, exc)
        return None

    async def _remove(self, member: Member, sha256: str) -> bool:
        try:
            mark = secrets.token_hex(8)
            if await member.volume.doom([sha256], mark=mark) == [True]:
                return await member.volume.delete_doomed([sha256], mark=mark) == [True]
        except XoloError as exc:
            log.warning("removing %s from %s failed: %s", sha256[:12], member.candidate.id, exc)
        return False
