"""Webhook delivery's failure path, with an injected clock: retries back off exponentially with
jitter, a target is dead after MAX_FAILURES failures in a row (and delivers nothing more until
revived), and a revived target delivers from where it stopped, in order."""

from __future__ import annotations

import random

import pytest

from tests.receiver import Receiver
from xolo.cluster.notify import MAX_FAILURES, Notifier, backoff
from xolo.core.audit import Change
from xolo.core.conditions import NO_CONDITION
from xolo.core.credentials import SecretBox, new_master_key
from xolo.core.records import BucketSettings, ObjectRecord
from xolo.meta.memory import MemoryMetaStore
from xolo.service.auth import Principal
from xolo.service.events import EventHub, Feed
from xolo.service.notify import NotifyAdmin
from xolo.service.policy import AccessPolicy

pytestmark = pytest.mark.anyio

ROOT = Principal("ROOT", is_root=True)


def test_backoff_doubles_with_jitter_up_to_five_minutes() -> None:
    rng = random.Random(1)
    for failures in range(1, 12):
        base = min(300, 2 ** (failures - 1))
        delay = backoff(failures, rng)
        assert 0.5 * base <= delay <= 1.5 * base


async def test_a_failing_webhook_dies_after_max_failures_and_revives_in_order() -> None:
    now = [1000.0]
    meta = MemoryMetaStore(chain_key=b"k" * 32)
    box = SecretBox(new_master_key())
    feed = Feed(meta=meta, hub=EventHub())
    notifier = Notifier(meta=meta, feed=feed, box=box, clock=lambda: now[0], rng=random.Random(3))

    async def bucket(name: str) -> object:
        return await meta.get_bucket(name)

    admin = NotifyAdmin(
        meta=meta, policy=AccessPolicy(bucket=bucket), box=box, clock=lambda: now[0]
    )  # type: ignore[arg-type]
    await meta.create_bucket("hooks", BucketSettings(), owner=None, now=1.0)
    with Receiver(status=500) as receiver:
        target, _ = await admin.create(ROOT, kind="webhook", target=receiver.url, bucket="hooks")
        for i in range(3):
            record = ObjectRecord(
                bucket="hooks",
                key=f"k{i}",
                size=1,
                etag=f"e{i}",
                sha256=None,
                modified=now[0],
                version=f"v{i}",
                inline=b"x",
            )
            await meta.put_object(
                record,
                NO_CONDITION,
                change=Change(op="put", bucket="hooks", key=f"k{i}", time=now[0]),
            )
        for attempt in range(1, MAX_FAILURES + 1):
            counters = await notifier.run_once()
            assert counters == ({"dead": 1} if attempt == MAX_FAILURES else {"failed": 1})
            (state,) = await meta.list_targets()
            assert state.failures == attempt and state.cursor == 0
            assert await notifier.run_once() == {}  # backing off: nothing is tried
            now[0] = state.next_try
        assert state.state == "dead" and "500" in (state.last_error or "")
        now[0] += 3600
        assert await notifier.run_once() == {}  # dead: no more tries
        assert receiver.attempts == MAX_FAILURES
        receiver.status = 200
        await admin.revive(ROOT, target.id)
        assert await notifier.run_once() == {"delivered": 3}
        assert [e["key"] for e in receiver.events()] == ["k0", "k1", "k2"]
        (state,) = await meta.list_targets()
        assert (state.state, state.failures, state.cursor) == ("active", 0, 3)
    await notifier.close()
