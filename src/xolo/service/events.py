"""The change feed's service side: reading events after a cursor, and waking readers.

``EventHub`` wakes the readers of a bucket when this process commits a change to it, and when
another process says so (PostgreSQL NOTIFY on routers sharing a database; a short poll where
no such signal exists), so an SSE listener on one router hears a write through another within
a second.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

from xolo.core.audit import Entry
from xolo.core.events import wanted
from xolo.meta.base import AuditStore

DRAINING = threading.Event()
"""Set when the process begins a graceful shutdown: open feeds end (their clients reconnect,
to another router or after the restart, with Last-Event-ID), so they do not hold it up."""

POLL = 0.5
"""Seconds a reader waits for a wake-up before it looks again anyway (the cross-process
fallback; also bounds how long a missed wake-up can delay an event)."""

PAGE = 500


class EventHub:
    """Per-bucket wake-ups for feed readers in this process."""

    def __init__(self) -> None:
        self._events: dict[str, asyncio.Event] = {}

    def _event(self, bucket: str) -> asyncio.Event:
        event = self._events.get(bucket)
        if event is None:
            event = self._events[bucket] = asyncio.Event()
        return event

    def changed(self, bucket: str) -> None:
        """A change to ``bucket`` committed: wake its readers."""
        event = self._events.pop(bucket, None)
        if event is not None:
            event.set()

    async def wait(self, bucket: str, seconds: float) -> None:
        """Until the next change to ``bucket``, or ``seconds`` at most."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event(bucket).wait(), seconds)


class Feed:
    """The events of a bucket after a sequence, forever (``follow``) or once (``page``)."""

    def __init__(self, *, meta: AuditStore, hub: EventHub, poll: float = POLL) -> None:
        self._meta = meta
        self.hub = hub
        self._poll = poll

    async def page(
        self, bucket: str, *, after: int, prefix: str, types: frozenset[str], limit: int = PAGE
    ) -> tuple[list[Entry], int]:
        """Wanted events after ``after``, and the sequence read up to (a cursor that skips the
        entries not wanted, so a reader never re-reads them)."""
        entries = await self._meta.audit_page(bucket, after, limit)
        cursor = entries[-1].sequence if entries else after
        return [e for e in entries if wanted(e, prefix=prefix, types=types)], cursor

    async def follow(
        self, bucket: str, *, after: int, prefix: str, types: frozenset[str], idle: float
    ) -> AsyncIterator[Entry | None]:
        """Every wanted event after ``after`` as it is committed, in order; ``None`` after each
        ``idle`` seconds without one (for heartbeats)."""
        cursor = after
        quiet = 0.0
        while not DRAINING.is_set():
            before = cursor
            batch, cursor = await self.page(bucket, after=cursor, prefix=prefix, types=types)
            for entry in batch:
                quiet = 0.0
                yield entry
            if cursor != before:
                continue  # there may be more: read on before waiting
            await self.hub.wait(bucket, self._poll)
            quiet += self._poll
            if quiet >= idle:
                quiet = 0.0
                yield None
