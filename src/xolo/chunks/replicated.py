"""A ChunkStore over many peers: computed placement, quorum writes with handoff, verified reads
with failover.

Writes send a chunk to its owners (``core/placement.py``) in parallel and return once ``quorum``
copies are durable; when an owner cannot take its copy (down, suspect, failing) the next peer in
preference order takes it instead (handoff), and rebalance moves it home later. Copies beyond the
quorum finish in the background. Reads try the owners in score order, then every other peer
that may hold a copy; a whole-chunk read is verified against the chunk's name, so a missing or
damaged copy only makes the read move on to the next peer.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from xolo.chunks.base import ChunkVolume
from xolo.core.errors import (
    ChunkCorrupt,
    ChunkUnavailable,
    InsufficientReplicas,
    NoSuchChunk,
    XoloError,
)
from xolo.core.placement import Candidate, preference

log = logging.getLogger("xolo.chunks")

HEDGE_AFTER = 2.0
"""Seconds a read waits on one copy before it asks the next one as well."""

READ_OWNERS = 2
"""Owners assumed when ordering a read (the chunk's own R is not known at read time); a chunk
with more copies is still found, one peer later."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Member:
    """A peer as the chunk layer sees it right now, with its state (see
    ``cluster/membership.py``: up, suspect, down, draining, drained)."""

    candidate: Candidate
    volume: ChunkVolume
    state: str

    @property
    def placeable(self) -> bool:
        """Counts for placement: an active peer that is not down."""
        return self.state in ("up", "suspect")

    @property
    def writable(self) -> bool:
        """Takes new copies now."""
        return self.state == "up"

    @property
    def readable(self) -> bool:
        """May hold copies worth reading."""
        return self.state != "down"


class Topology(Protocol):
    """The current peers (``cluster/membership.py`` keeps them)."""

    def members(self) -> Sequence[Member]:
        """Every known peer with what it may be used for."""
        ...

    def suspect(self, peer_id: str) -> None:
        """A request to the peer just failed: stop writing to it until it is heard from."""
        ...


class ReplicatedChunkStore:
    """ChunkStore over the peers a Topology names."""

    def __init__(self, *, topology: Topology) -> None:
        self._topology = topology
        self._background: set[asyncio.Task[None]] = set()

    def places(self) -> int:
        """The peers that count for placement (up or suspect)."""
        return sum(1 for m in self._topology.members() if m.placeable)

    def _order(self, sha256: str, replicas: int, members: Sequence[Member]) -> list[Member]:
        by_id = {m.candidate.id: m for m in members}
        ranked = preference([m.candidate for m in members], sha256, replicas)
        return [by_id[c.id] for c in ranked]

    # -- writes ------------------------------------------------------------------------------

    async def put(self, sha256: str, data: bytes, *, copies: int = 1, quorum: int = 1) -> int:
        """Sends copies to the chunk's owners in parallel, handing a failed copy to the next peer;
        copies beyond the quorum finish in the background."""
        members = [m for m in self._topology.members() if m.placeable or m.writable]
        targets = [m for m in self._order(sha256, copies, members) if m.writable]
        candidates = iter(targets)
        pending: set[asyncio.Task[bool]] = set()

        def launch() -> bool:
            member = next(candidates, None)
            if member is None:
                return False
            pending.add(asyncio.create_task(self._put_one(member, sha256, data)))
            return True

        for _ in range(copies):
            if not launch():
                break
        durable = 0
        while pending and durable < quorum:
            done, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                pending.discard(task)
                if task.result():
                    durable += 1
                else:
                    launch()  # handoff: the next peer in preference order takes the copy
        if durable < quorum:
            for task in pending:
                task.cancel()
            raise InsufficientReplicas(
                f"only {durable} of the {quorum} copies this write needs could be stored"
            )
        for task in pending:
            self._finish_later(task)
        return durable

    async def _put_one(self, member: Member, sha256: str, data: bytes) -> bool:
        try:
            await member.volume.put(sha256, data)
        except XoloError as exc:
            log.warning("storing %s on %s failed: %s", sha256[:12], member.candidate.id, exc)
            self._topology.suspect(member.candidate.id)
            return False
        return True

    def _finish_later(self, task: asyncio.Task[bool]) -> None:
        async def wait() -> None:
            with contextlib.suppress(asyncio.CancelledError):
                await task

        waiter = asyncio.ensure_future(wait())
        self._background.add(waiter)
        waiter.add_done_callback(self._background.discard)

    # -- reads -------------------------------------------------------------------------------

    def _readable(self, sha256: str) -> list[Member]:
        """Where to look for a chunk: every peer that is not down, in preference order, but
        peers that are up before the others (a suspect peer may be a host that vanished, whose
        requests only time out)."""
        members = [m for m in self._topology.members() if m.readable]
        ordered = self._order(sha256, READ_OWNERS, members)
        return sorted(ordered, key=lambda m: m.state != "up")

    async def read(self, sha256: str, offset: int = 0, length: int | None = None) -> bytes:
        """Read from the best copy; when it has not answered after ``HEDGE_AFTER`` seconds,
        ask the next copy too and take whichever answers first (a peer whose host vanished
        holds a read only that long)."""
        candidates = iter(self._readable(sha256))
        pending: dict[asyncio.Task[bytes], Member] = {}
        failures: list[str] = []

        def launch() -> None:
            member = next(candidates, None)
            if member is not None:
                task = asyncio.ensure_future(member.volume.read(sha256, offset, length))
                pending[task] = member

        launch()
        try:
            while pending:
                done, _ = await asyncio.wait(
                    pending, timeout=HEDGE_AFTER, return_when=asyncio.FIRST_COMPLETED
                )
                if not done:
                    launch()  # the copies asked so far are slow: ask one more
                    continue
                for task in done:
                    member = pending.pop(task)
                    try:
                        return task.result()
                    except NoSuchChunk:
                        pass
                    except ChunkCorrupt as exc:
                        failures.append(str(exc))
                        self._quarantine_later(member, sha256)
                    except XoloError as exc:
                        failures.append(str(exc))
                        self._topology.suspect(member.candidate.id)
                    launch()
        finally:
            for task in pending:
                task.cancel()
        if failures:
            raise ChunkUnavailable(
                f"no intact copy of chunk {sha256[:12]}… could be read: " + "; ".join(failures)
            )
        raise NoSuchChunk(f"no peer holds chunk {sha256}")

    def _quarantine_later(self, member: Member, sha256: str) -> None:
        """Ask the peer to scrub the copy that failed verification (it quarantines it), so the
        next repair pass replaces it."""

        async def scrub() -> None:
            with contextlib.suppress(XoloError):
                await member.volume.scrub([sha256])

        task = asyncio.ensure_future(scrub())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def size(self, sha256: str) -> int | None:
        """Asks the readable peers in read order; the first that holds the chunk answers."""
        for member in self._readable(sha256):
            with contextlib.suppress(XoloError):
                found = await member.volume.size(sha256)
                if found is not None:
                    return found
        return None

    async def has(self, names: Sequence[str]) -> list[bool]:
        """Asks every readable peer at once; a peer that fails to answer holds nothing."""
        if not names:
            return []
        members = [m for m in self._topology.members() if m.readable]
        answers = await asyncio.gather(
            *(m.volume.has(names) for m in members), return_exceptions=True
        )
        found = [False] * len(names)
        for answer in answers:
            if isinstance(answer, list):
                found = [a or b for a, b in zip(found, answer, strict=True)]
        return found

    async def copies(self, names: Sequence[str]) -> list[int]:
        """The sum over every readable peer; a peer that fails to answer counts as none."""
        if not names:
            return []
        members = [m for m in self._topology.members() if m.readable]
        answers = await asyncio.gather(
            *(m.volume.copies(names) for m in members), return_exceptions=True
        )
        counts = [0] * len(names)
        for answer in answers:
            if isinstance(answer, list):
                counts = [n + b for n, b in zip(counts, answer, strict=True)]
        return counts

    def read_urls(self, sha256: str) -> list[str]:
        """The peers a read asks, in the order ``read`` asks them."""
        urls: list[str] = []
        for member in self._readable(sha256):
            urls += member.volume.read_urls(sha256)
        return urls

    def upload_urls(self, sha256: str, copies: int) -> list[str]:
        """The writable peers placement ranks first for the chunk (handoff order after)."""
        members = [m for m in self._topology.members() if m.placeable or m.writable]
        ranked = [m for m in self._order(sha256, len(members), members) if m.writable]
        urls: list[str] = []
        for member in ranked:
            urls += member.volume.upload_urls(sha256, 1)
        return urls[: max(copies, 1) + 1]

    async def close(self) -> None:
        """Let copies still being stored in the background finish."""
        if self._background:
            await asyncio.wait(set(self._background), timeout=30)
