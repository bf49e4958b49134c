"""One framework for every background task: a ``Worker`` does one pass when asked; the
``Scheduler`` asks on a cron schedule (croniter) or on demand, under a lease in the metadata
store so that exactly one router (or one ``xolo serve`` worker process) runs each task at a
time, never by luck.

Garage's ``Worker`` and Swift's ``run_once`` daemons are the models: a worker is a plain object
with ``run_once()`` returning counters, which tests call directly; the scheduler adds timing,
coordination and the status the admin API shows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from croniter import croniter

from xolo.core.errors import InvalidArgument, LeaseLost, NotFound, XoloError
from xolo.meta.base import ClusterStore

log = logging.getLogger("xolo.workers")

LEASE_TTL = 60.0
"""Seconds a lease lasts without renewal; a running task renews it every third of that, so a
router that dies mid-task frees its tasks within a minute."""


class Worker(Protocol):
    """One kind of background work."""

    name: str
    schedule: str
    """A cron expression (five fields, or six with seconds last, as croniter reads them)."""

    async def run_once(self) -> Mapping[str, int]:
        """Do one pass; counters of what it did."""
        ...


@dataclass(slots=True, kw_only=True)
class TaskStatus:
    """What the admin API shows of a task."""

    name: str
    schedule: str
    runs: int = 0
    running: bool = False
    last_started: float | None = None
    last_duration: float | None = None
    last_error: str | None = None
    counters: dict[str, int] = field(default_factory=dict)
    next_run: float | None = None
    holder: str | None = None

    def to_json(self) -> dict[str, Any]:
        """The status as the admin API answers it, with times in ISO 8601."""

        def iso(ts: float | None) -> str | None:
            return None if ts is None else datetime.fromtimestamp(ts, UTC).isoformat()

        return {
            "name": self.name,
            "schedule": self.schedule,
            "runs": self.runs,
            "running": self.running,
            "last_run": iso(self.last_started),
            "duration_seconds": self.last_duration,
            "last_error": self.last_error,
            "counters": self.counters,
            "next_run": iso(self.next_run),
            "holder": self.holder,
        }


def check_schedule(expression: str) -> str:
    """``expression``, or InvalidArgument when croniter cannot read it, so a bad schedule fails
    when the scheduler is built rather than when the task comes due."""
    if not croniter.is_valid(expression):
        raise InvalidArgument(f"{expression!r} is not a cron expression")
    return expression


class Scheduler:
    """Runs workers on their schedules, one holder at a time across processes."""

    def __init__(
        self,
        *,
        meta: ClusterStore,
        workers: Sequence[Worker],
        holder: str | None = None,
        clock: Callable[[], float] = time.time,
        renew_every: float = LEASE_TTL / 3,
    ) -> None:
        self._meta = meta
        self._renew_every = renew_every
        self._workers = {w.name: w for w in workers}
        for worker in workers:
            check_schedule(worker.schedule)
        self.holder = holder or f"h-{secrets.token_hex(6)}"
        self._clock = clock
        self._status = {w.name: TaskStatus(name=w.name, schedule=w.schedule) for w in workers}
        self._locks = {w.name: asyncio.Lock() for w in workers}
        self._wake = asyncio.Event()
        self._due_now: set[str] = set()

    def names(self) -> list[str]:
        """Every task's name, sorted, as the admin API lists them."""
        return sorted(self._workers)

    def _next(self, schedule: str, after: float) -> float:
        return float(croniter(schedule, after).get_next(float))

    async def run_now(self, name: str, *, wait: float = 0.0) -> TaskStatus:
        """Run the task here and now; its status afterwards. When another holder is running it,
        wait up to ``wait`` seconds for its lease to come free (a pass that starts after this
        call), else return without running."""
        worker = self._workers.get(name)
        if worker is None:
            raise NotFound(f"no background task named {name!r}; tasks: {', '.join(self.names())}")
        async with self._locks[name]:
            deadline = time.monotonic() + wait
            while not await self._meta.acquire_lease(
                name, self.holder, now=self._clock(), ttl=LEASE_TTL
            ):
                if time.monotonic() >= deadline:
                    return await self.status(name)
                await asyncio.sleep(0.1)
            status = self._status[name]
            status.running, status.last_started = True, self._clock()
            started = time.perf_counter()
            try:
                counters = await self._run_fenced(name, worker)
                status.counters, status.last_error = dict(counters), None
            except Exception as exc:
                log.exception("background task %s failed", name)
                status.last_error = f"{type(exc).__name__}: {exc}"
            finally:
                status.running, status.runs = False, status.runs + 1
                status.last_duration = round(time.perf_counter() - started, 6)
                await self._meta.release_lease(name, self.holder, self._persisted(status))
        return await self.status(name)

    async def _run_fenced(self, name: str, worker: Worker) -> Mapping[str, int]:
        """``worker.run_once()`` while this holder keeps the lease: renewed every third of its
        time to live, and the run cancelled the moment a renewal fails or finds the lease
        taken, so two holders never run one task at once (``LeaseLost`` then)."""
        work = asyncio.create_task(worker.run_once())
        renew = asyncio.create_task(self._renew(name, work))
        try:
            return await work
        except asyncio.CancelledError:
            if renew.done() and not renew.cancelled() and renew.result():
                raise LeaseLost(f"{name} lost its lease to another holder and stopped") from None
            work.cancel()
            raise
        finally:
            renew.cancel()

    async def _renew(self, name: str, work: asyncio.Task[Mapping[str, int]]) -> bool:
        """Renew the lease until cancelled; on a failed renewal cancel ``work``, return True.
        A lease that expired counts as lost even when nobody took it: another holder may have
        taken it, run the task and released it in between."""
        while True:
            await asyncio.sleep(self._renew_every)
            try:
                held = await asyncio.wait_for(
                    self._meta.renew_lease(name, self.holder, now=self._clock(), ttl=LEASE_TTL),
                    timeout=self._renew_every,  # a renewal that hangs is one that failed
                )
            except (XoloError, TimeoutError) as exc:
                log.error("renewing the lease of %s failed: %s", name, exc or "timed out")
                held = False
            if not held:
                work.cancel()
                return True

    @staticmethod
    def _persisted(status: TaskStatus) -> dict[str, Any]:
        return {
            "runs": status.runs,
            "last_started": status.last_started,
            "last_duration": status.last_duration,
            "last_error": status.last_error,
            "counters": status.counters,
        }

    async def status(self, name: str | None = None) -> TaskStatus:
        """A task's status as the cluster knows it (the last run by any holder)."""
        found = [s for s in await self.statuses() if s.name == name]
        if not found:
            raise NotFound(f"no background task named {name!r}")
        return found[0]

    async def statuses(self) -> list[TaskStatus]:
        """Every task: the shared record of its last run, this process's schedule."""
        shared = {t.name: t for t in await self._meta.list_tasks()}
        now = self._clock()
        out = []
        for name in self.names():
            local = self._status[name]
            status = TaskStatus(name=name, schedule=local.schedule, running=local.running)
            record = shared.get(name)
            if record is not None:
                doc = record.status
                status.runs = int(doc.get("runs", 0))
                status.last_started = doc.get("last_started")
                status.last_duration = doc.get("last_duration")
                status.last_error = doc.get("last_error")
                status.counters = dict(doc.get("counters", {}))
                if record.holder and record.lease_until > now:
                    status.running, status.holder = True, record.holder
            status.next_run = self._next(local.schedule, now)
            out.append(status)
        return out

    def trigger(self, name: str) -> None:
        """Ask for a run as soon as possible (e.g. a peer just went down)."""
        if name in self._workers:
            self._due_now.add(name)
            self._wake.set()

    async def run_forever(self) -> None:
        """Run every task on its schedule until cancelled."""
        due = {name: self._next(w.schedule, self._clock()) for name, w in self._workers.items()}
        running: dict[str, asyncio.Task[TaskStatus]] = {}
        try:
            while True:
                now = self._clock()
                for name in sorted(self._workers):
                    if name in running and running[name].done():
                        del running[name]
                    if name in running:
                        continue
                    if due[name] <= now or name in self._due_now:
                        self._due_now.discard(name)
                        due[name] = self._next(self._workers[name].schedule, now)
                        running[name] = asyncio.create_task(self.run_now(name))
                wait = max(0.05, min(due.values()) - self._clock()) if due else 3600.0
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), timeout=min(wait, 30.0))
        finally:
            for task in running.values():
                task.cancel()
            await asyncio.gather(*running.values(), return_exceptions=True)
