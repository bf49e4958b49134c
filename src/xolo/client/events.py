"""Handlers registered by decorator, in the spirit of Minos's ``enroute``::

    import xolo

    @xolo.on("object.created", bucket="inbox", prefix="orders/")
    async def new_order(event):
        print("order", event.key, event.size)

    @xolo.every("*/5 * * * *")
    async def tidy():
        ...

    xolo.run(url="http://127.0.0.1:9000", access_key="...", secret_key="...")

``run`` follows each bucket's change feed (Server-Sent Events), calls every matching handler
once per event, in order, and runs periodic handlers on their cron schedules. When the
connection drops it reconnects (with backoff) and resumes after the last event it handled, so
no event is missed and, while it runs, none is handled twice. A ``state`` file makes that hold
across restarts too.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from croniter import croniter

from xolo.client.base import BaseClient
from xolo.core.events import check_types

log = logging.getLogger("xolo.handlers")

Handler = Callable[["Event"], Awaitable[None] | None]
Periodic = Callable[[], Awaitable[None] | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """One change, as the feed publishes it."""

    type: str
    bucket: str
    key: str | None
    size: int | None
    etag: str | None
    sha256: str | None
    version: str | None
    actor: str | None
    sequence: int
    time: float
    mac: str

    @classmethod
    def from_json(cls, doc: dict[str, Any]) -> Event:
        """An event from the feed's JSON; fields its type lacks (a bucket's key) are ``None``."""
        return cls(
            type=str(doc["type"]),
            bucket=str(doc["bucket"]),
            key=doc.get("key"),
            size=doc.get("size"),
            etag=doc.get("etag"),
            sha256=doc.get("sha256"),
            version=doc.get("version"),
            actor=doc.get("actor"),
            sequence=int(doc["sequence"]),
            time=float(doc["time"]),
            mac=str(doc["mac"]),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class Subscription:
    """One handler registered with ``on``: which events of which bucket it wants."""

    types: frozenset[str]
    bucket: str
    prefix: str
    handler: Handler

    def matches(self, event: Event) -> bool:
        """Whether ``event`` has a wanted type and key prefix; the runner checks the bucket."""
        return event.type in self.types and (event.key or "").startswith(self.prefix)


async def _call(fn: Callable[..., Awaitable[None] | None], *args: Any) -> None:
    result = fn(*args)
    if inspect.isawaitable(result):
        await result


def parse_sse(lines: list[str]) -> tuple[str | None, str | None, str]:
    """(id, event, data) of one SSE message."""
    ident = kind = None
    data: list[str] = []
    for line in lines:
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "id":
            ident = value
        elif name == "event":
            kind = value
        elif name == "data":
            data.append(value)
    return ident, kind, "\n".join(data)


class FeedReader:
    """Turns the lines of an SSE stream into events: comments and keep-alives carry none, and
    an event at or before ``after`` (a replay after reconnecting) is skipped. Every reader of
    the feed (handlers, both clients) parses it here."""

    def __init__(self, after: int | None = None) -> None:
        self.after = after
        """The last sequence handed out; a resumed stream starts after it."""
        self._lines: list[str] = []

    def feed(self, line: str) -> Event | None:
        """Take one line; the event it completes, if any."""
        if line:
            self._lines.append(line)
            return None
        _, kind, data = parse_sse(self._lines)
        self._lines = []
        if not (kind and data):
            return None
        event = Event.from_json(json.loads(data))
        if self.after is not None and event.sequence <= self.after:
            return None
        self.after = event.sequence
        return event


@dataclass
class Handlers:
    """A registry of handlers, and the loop that runs them."""

    subscriptions: list[Subscription] = field(default_factory=list)
    periodic: list[tuple[str, Periodic]] = field(default_factory=list)

    def on(self, *types: str, bucket: str, prefix: str = "") -> Callable[[Handler], Handler]:
        """Call the decorated function for every event of ``types`` (all when none) in
        ``bucket`` whose key starts with ``prefix``."""
        checked = check_types(types)

        def register(fn: Handler) -> Handler:
            self.subscriptions.append(
                Subscription(types=checked, bucket=bucket, prefix=prefix, handler=fn)
            )
            return fn

        return register

    def every(self, schedule: str) -> Callable[[Periodic], Periodic]:
        """Call the decorated function on a cron schedule (five fields, or six with seconds)."""
        if not croniter.is_valid(schedule):
            raise ValueError(f"{schedule!r} is not a cron expression")

        def register(fn: Periodic) -> Periodic:
            self.periodic.append((schedule, fn))
            return fn

        return register

    async def serve(
        self,
        *,
        url: str,
        access_key: str,
        secret_key: str,
        state: Path | str | None = None,
        stop: asyncio.Event | None = None,
    ) -> None:
        """Run every handler until ``stop`` is set (or forever)."""
        stop = stop or asyncio.Event()
        cursors = _Cursors(Path(state) if state else None)
        auth = (access_key, secret_key)
        async with httpx.AsyncClient(base_url=url, auth=auth, timeout=None) as http:
            buckets = sorted({s.bucket for s in self.subscriptions})
            tasks = [asyncio.create_task(self._follow(http, b, cursors, stop)) for b in buckets]
            tasks += [
                asyncio.create_task(self._tick(schedule, fn, stop))
                for schedule, fn in self.periodic
            ]
            stopper = asyncio.create_task(_wait(stop))
            try:
                await asyncio.wait([stopper, *tasks], return_when=asyncio.FIRST_COMPLETED)
                for task in tasks:
                    failed = task.exception() if task.done() else None
                    if failed is not None:
                        raise failed
            finally:
                for task in [stopper, *tasks]:
                    task.cancel()
                await asyncio.gather(stopper, *tasks, return_exceptions=True)

    async def _follow(
        self, http: httpx.AsyncClient, bucket: str, cursors: _Cursors, stop: asyncio.Event
    ) -> None:
        failures = 0
        while not stop.is_set():
            try:
                async for event in self._stream(http, bucket, cursors.get(bucket)):
                    failures = 0
                    if event.sequence <= (cursors.get(bucket) or 0):
                        continue  # already handled (a replay after reconnecting)
                    for sub in self.subscriptions:
                        if sub.bucket == bucket and sub.matches(event):
                            await _call(sub.handler, event)
                    cursors.set(bucket, event.sequence)
            except (httpx.HTTPError, OSError) as exc:
                failures += 1
                delay = min(30.0, 0.25 * 2**failures) * random.uniform(0.5, 1.5)
                log.warning(
                    "the feed of %s dropped (%s); reconnecting in %.1fs", bucket, exc, delay
                )
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), delay)

    async def _stream(
        self, http: httpx.AsyncClient, bucket: str, after: int | None
    ) -> AsyncIterator[Event]:
        spec = BaseClient.events_spec(bucket, after=after)
        async with http.stream("GET", spec.path, params=spec.params, headers=spec.headers) as r:
            if r.status_code != 200:
                body = (await r.aread()).decode(errors="replace")[:300]
                raise httpx.HTTPStatusError(
                    f"{r.status_code}: {body}", request=r.request, response=r
                )
            reader = FeedReader()
            async for line in r.aiter_lines():
                event = reader.feed(line)
                if event is not None:
                    yield event

    async def _tick(self, schedule: str, fn: Periodic, stop: asyncio.Event) -> None:
        it = croniter(schedule, time.time())
        while not stop.is_set():
            due = float(it.get_next(float))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), max(0.0, due - time.time()))
            if stop.is_set():
                return
            try:
                await _call(fn)
            except Exception:
                log.exception("periodic handler %s failed", getattr(fn, "__name__", fn))


async def _wait(event: asyncio.Event) -> None:
    await event.wait()


class _Cursors:
    """The last sequence handled per bucket; in memory, and in ``path`` when given."""

    def __init__(self, path: Path | None) -> None:
        self._path = path
        self._seen: dict[str, int] = {}
        if path is not None and path.exists():
            self._seen = {k: int(v) for k, v in json.loads(path.read_text()).items()}

    def get(self, bucket: str) -> int | None:
        return self._seen.get(bucket)

    def set(self, bucket: str, sequence: int) -> None:
        self._seen[bucket] = sequence
        if self._path is not None:
            temp = self._path.with_name(self._path.name + ".tmp")
            temp.write_text(json.dumps(self._seen))
            temp.replace(self._path)


handlers = Handlers()
"""The registry ``xolo.on``, ``xolo.every`` and ``xolo.run`` use."""
on = handlers.on
every = handlers.every


def run(*, url: str, access_key: str, secret_key: str, state: Path | str | None = None) -> None:
    """Run the registered handlers (blocking) until interrupted."""
    asyncio.run(handlers.serve(url=url, access_key=access_key, secret_key=secret_key, state=state))
