"""Scrub: re-hash every stored copy at a throttled byte rate, quarantine the damaged ones and
have repair restore them from a good copy.

The hashing happens on each volume (on the peer itself, next to its disk: no chunk crosses the
network to be checked); this task walks the volumes, throttles, and repairs.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence

from xolo.chunks.base import ChunkVolume
from xolo.core.errors import XoloError

log = logging.getLogger("xolo.scrub")

STEP = 32
"""Chunks one scrub call re-hashes."""


class Scrubber:
    """The ``scrub`` background task: one full pass over every readable volume per run."""

    name = "scrub"

    def __init__(
        self,
        *,
        volumes: Callable[[], Sequence[tuple[str, ChunkVolume]]],
        repair: Callable[[str], Awaitable[object]] | None = None,
        schedule: str = "30 3 * * *",
        rate: float = 32 * 1024 * 1024,
    ) -> None:
        self._volumes = volumes
        self._repair = repair
        self.schedule = schedule
        self.rate = rate

    async def run_once(self) -> dict[str, int]:
        """Scrub each volume in turn; one that fails is counted and the pass goes on."""
        counters: Counter[str] = Counter()
        for peer_id, volume in self._volumes():
            try:
                await self._pass(volume, counters)
            except XoloError as exc:
                log.warning("scrubbing %s stopped: %s", peer_id, exc)
                counters["volumes_failed"] += 1
        return dict(counters)

    async def _pass(self, volume: ChunkVolume, counters: Counter[str]) -> None:
        after = ""
        while True:
            report = await volume.scrub(after=after, limit=STEP)
            counters["checked"] += report.checked
            counters["bytes"] += report.bytes
            for name in report.bad:
                counters["quarantined"] += 1
                log.error("scrub quarantined a damaged copy of %s on %r", name, volume)
                if self._repair is not None:
                    await self._repair(name)
                    counters["repaired"] += 1
            if self.rate > 0:
                await asyncio.sleep(report.bytes / self.rate)
            if report.next_after is None:
                return
            after = report.next_after
