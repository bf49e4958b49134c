"""The ``lifecycle`` background task: every bucket's lifecycle rules, carried out on schedule."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable

from xolo.service.objects import ObjectService


class LifecycleWorker:
    """Runs ``ObjectService.apply_lifecycle`` for each bucket that has rules. One router runs
    it at a time (the scheduler's lease); the clock is injectable so tests move time, not
    wait for it."""

    name = "lifecycle"

    def __init__(
        self,
        *,
        service: ObjectService,
        schedule: str = "7 * * * *",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._service = service
        self.schedule = schedule
        self._clock = clock

    async def run_once(self) -> dict[str, int]:
        """Apply the rules of every bucket that has some, all at one ``now``; counters summed."""
        now = self._clock()
        totals: Counter[str] = Counter(buckets=0)
        for bucket in await self._service.list_buckets():
            if not bucket.config.lifecycle:
                continue
            totals["buckets"] += 1
            totals.update(await self._service.apply_lifecycle(bucket.name, now=now))
        return dict(totals)
