"""Lease fencing of background tasks (cluster/workers.py), over a real SQLite file shared by two
schedulers: a holder that loses its lease stops its run, so two never run one task at once."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from xolo.cluster.workers import LEASE_TTL, Scheduler
from xolo.meta.sqlite import SQLiteMetaStore

pytestmark = pytest.mark.anyio


class Blocking:
    """A task that runs until cancelled, and says when it started and when it stopped."""

    name = "gc"
    schedule = "17 * * * *"

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.stopped = asyncio.Event()

    async def run_once(self) -> dict[str, int]:
        self.started.set()
        try:
            await asyncio.Event().wait()
        finally:
            self.stopped.set()
        return {}


async def test_a_holder_whose_lease_was_taken_stops_its_run(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    now = [1_000_000.0]
    meta_a = SQLiteMetaStore(tmp_path / "meta.db")
    meta_b = SQLiteMetaStore(tmp_path / "meta.db")
    first, second = Blocking(), Blocking()
    a = Scheduler(meta=meta_a, workers=[first], holder="a", clock=lambda: now[0], renew_every=0.01)
    b = Scheduler(meta=meta_b, workers=[second], holder="b", clock=lambda: now[0])
    run_a = asyncio.create_task(a.run_now("gc"))
    await first.started.wait()
    # a's renewals are due but, in this test's clock, a stalled past its lease: b takes it.
    now[0] += LEASE_TTL + 1
    run_b = asyncio.create_task(b.run_now("gc"))
    await second.started.wait()
    status = await asyncio.wait_for(run_a, 10)
    assert first.stopped.is_set() and not second.stopped.is_set()
    assert "gc lost its lease to another holder" in caplog.text
    assert status.running and status.holder == "b"  # a wrote nothing over b's record
    run_b.cancel()
    await asyncio.gather(run_b, return_exceptions=True)
    await meta_a.close()
    await meta_b.close()


async def test_a_failing_renewal_stops_the_run(tmp_path: Path) -> None:
    meta = SQLiteMetaStore(tmp_path / "meta.db")
    worker = Blocking()
    scheduler = Scheduler(meta=meta, workers=[worker], holder="a", renew_every=0.01)
    run = asyncio.create_task(scheduler.run_now("gc"))
    await worker.started.wait()

    async def refuse(*args: object, **kwargs: object) -> bool:
        return False

    meta.renew_lease = refuse  # type: ignore[method-assign]
    status = await asyncio.wait_for(run, 10)
    assert worker.stopped.is_set()
    assert status.last_error is not None and "LeaseLost" in status.last_error
    await meta.close()


async def test_a_holder_whose_lease_expired_stops_its_run_though_nobody_took_it(
    tmp_path: Path,
) -> None:
    """A lapsed lease may have passed through another holder's hands (taken, run, released)
    before the next renewal: that renewal must fail, not take the free lease back."""
    now = [1_000_000.0]
    meta = SQLiteMetaStore(tmp_path / "meta.db")
    worker = Blocking()
    a = Scheduler(meta=meta, workers=[worker], holder="a", clock=lambda: now[0], renew_every=0.01)
    run = asyncio.create_task(a.run_now("gc"))
    await worker.started.wait()
    now[0] += LEASE_TTL + 1  # a stalled past its lease
    status = await asyncio.wait_for(run, 10)
    assert worker.stopped.is_set()
    assert status.last_error is not None and "LeaseLost" in status.last_error
    await meta.close()
