"""Garbage collection of chunks from metadata: reference counts, a grace period, two phases.

Why no interleaving loses a chunk an acknowledged write needs
-------------------------------------------------------------
A write *claims* each chunk in the metadata store before it sends the chunk anywhere
(``service/ingest.py``), and commits its manifest, which turns claims into references, only if
every chunk it names still has its row (``ChunkCollected`` otherwise). A round of GC:

1. **mark**: rows with no reference whose time (last claim, or loss of the last reference) is
   older than the grace period get this round's id;
2. **doom**: every volume that holds them marks them for deletion, naming the round; a later
   ``put`` of a chunk on a volume clears its mark there;
3. **confirm**: in one transaction, rows still marked by this round and still unreferenced are
   deleted; a claim or a new reference in between cleared the mark, so those survive;
4. **delete**: volumes delete the confirmed chunks still doomed by this round.

Take a write of chunk X racing a round. If its claim lands before step 3, the row survives and
step 4 is never sent for X. If the claim lands after step 3, the write's ``put`` happens after
step 2 finished (step 3 waited for it), so the put clears the doom, or finds X gone and stores it
again; step 4 deletes only doomed chunks. Either way X is on disk when the write commits, and a
commit after step 3 finds no row unless the claim re-created it. The race that broke the
mtime-based collector (a put refreshing a chunk between the sweep's stat and unlink) has no
counterpart: nothing here reads a file time or compares clocks of two machines.

Rounds do not overlap: the ``gc`` task runs under a lease (``cluster/workers.py``), which
``xolo gc`` takes too. Should two ever overlap (a holder that stalled past its lease), the round
named in each doom mark keeps the argument above: round B confirms X, a write stores X again
(clearing B's mark), round A's late doom marks X again, and B's delete leaves X alone because
the mark is A's; A's confirm then fails on the write's new row, so A never deletes it either.
``tests/faults/test_gc_race.py`` plays that interleaving.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from xolo.chunks.base import ChunkVolume
from xolo.meta.base import ChunkRefStore

DEFAULT_GRACE = 24 * 3600.0
"""Unreferenced chunks younger than this stay: a write may be about to name them (a claimed
chunk of an upload in progress), or a reader may still be streaming an object just replaced."""

BATCH = 1000
"""Chunks one round marks at most; bounds each transaction and each call to a volume."""

TEMP_AGE = 3600.0
"""Temporary files of writes older than this were abandoned by a crash."""


@dataclass(frozen=True, slots=True, kw_only=True)
class GCReport:
    """What one collection did."""

    marked: int
    confirmed: int
    deleted: int
    temp_removed: int

    def counters(self) -> dict[str, int]:
        """The report as a background task's counters."""
        return {
            "marked": self.marked,
            "confirmed": self.confirmed,
            "deleted": self.deleted,
            "temp_removed": self.temp_removed,
        }


class GarbageCollector:
    """One collection over a metadata store and the volumes that hold chunks."""

    def __init__(
        self,
        *,
        meta: ChunkRefStore,
        volumes: Callable[[], Sequence[ChunkVolume]],
        grace: float = DEFAULT_GRACE,
        clock: Callable[[], float] = time.time,
        pause: Callable[[str], Awaitable[None]] | None = None,
    ) -> None:
        self._meta = meta
        self._volumes = volumes
        self.grace = grace
        self._clock = clock
        self._pause = pause

    async def _between(self, step: str) -> None:
        """A seam for tests that interleave a write with a round at a chosen step."""
        if self._pause is not None:
            await self._pause(step)

    async def _doom(self, names: list[str], mark: str) -> list[ChunkVolume]:
        """Doom on every volume; the ones that answered. A volume that cannot be reached keeps
        its copies (they become strays, which repair hands back to GC later)."""
        volumes = list(self._volumes())
        doomed = (v.doom(names, mark=mark) for v in volumes)
        results = await asyncio.gather(*doomed, return_exceptions=True)
        return [v for v, r in zip(volumes, results, strict=True) if isinstance(r, list)]

    async def collect(self) -> GCReport:
        """Run rounds until no due chunk is left; what was done."""
        marked = confirmed = deleted = 0
        while True:
            round_id = secrets.token_hex(8)
            names = await self._meta.gc_mark(self._clock() - self.grace, round_id, BATCH)
            if not names:
                break
            marked += len(names)
            await self._between("marked")
            volumes = await self._doom(names, round_id)
            await self._between("doomed")
            sure = await self._meta.gc_confirm(names, round_id)
            confirmed += len(sure)
            await self._between("confirmed")
            if sure:
                results = await asyncio.gather(
                    *(v.delete_doomed(sure, mark=round_id) for v in volumes),
                    return_exceptions=True,
                )
                deleted += sum(sum(r) for r in results if isinstance(r, list))
            if len(names) < BATCH:
                break
        cleaned = await asyncio.gather(
            *(v.clean_temp(TEMP_AGE) for v in self._volumes()), return_exceptions=True
        )
        removed = sum(n for n in cleaned if isinstance(n, int))
        return GCReport(marked=marked, confirmed=confirmed, deleted=deleted, temp_removed=removed)


class GCWorker:
    """The ``gc`` background task."""

    name = "gc"

    def __init__(self, collector: GarbageCollector, *, schedule: str = "17 * * * *") -> None:
        self.collector = collector
        self.schedule = schedule

    async def run_once(self) -> dict[str, int]:
        """One full collection (``GarbageCollector.collect``)."""
        return (await self.collector.collect()).counters()
