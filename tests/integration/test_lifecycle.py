"""Lifecycle rules carried out by the ``lifecycle`` worker over a real SQLite file and disk
volume, with an injected clock (time moves; nothing waits): current versions expire (a delete
marker when versioned), noncurrent versions go for good, stale multipart uploads are aborted,
filters by prefix and tags hold, and every expiry is in the audit chain and change feed."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from xolo.chunks.disk import DiskChunkStore
from xolo.cluster.lifecycle import LifecycleWorker
from xolo.core.errors import InvalidArgument, MalformedXML, NoSuchLifecycleConfiguration
from xolo.core.lifecycle import DAY, due
from xolo.meta.sqlite import SQLiteMetaStore
from xolo.service.objects import ObjectService

pytestmark = pytest.mark.anyio

START = dt.datetime(2026, 3, 1, 15, 30, tzinfo=dt.UTC).timestamp()
"""Mid-afternoon: a rule's days fall due at a later midnight, never on the hour."""


class Clock:
    """The service's and the worker's time, moved by the test."""

    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> float:
        return self.now


World = tuple[ObjectService, Clock, LifecycleWorker]


@pytest.fixture
async def world(tmp_path: Path) -> AsyncIterator[World]:
    clock = Clock()
    key = b"k" * 32
    service = ObjectService(
        meta=SQLiteMetaStore(tmp_path / "meta.db", chain_key=key),
        chunks=DiskChunkStore(tmp_path / "chunks"),
        chain_key=key,
        clock=clock,
    )
    await service.create_bucket("logs")
    yield service, clock, LifecycleWorker(service=service, clock=clock)
    await service.close()


async def keys(service: ObjectService, bucket: str = "logs") -> list[str]:
    return [o.key for o in (await service.list_objects(bucket)).objects]


def test_days_fall_due_at_the_next_midnight_utc() -> None:
    assert due(START, 1) == dt.datetime(2026, 3, 3, tzinfo=dt.UTC).timestamp()
    midnight = dt.datetime(2026, 3, 1, tzinfo=dt.UTC).timestamp()
    assert due(midnight, 2) == midnight + 2 * DAY


async def test_expiration_days_remove_only_what_the_prefix_names_once_due(world: World) -> None:
    service, clock, worker = world
    await service.set_lifecycle(
        "logs", [{"id": "old-logs", "prefix": "app/", "expiration_days": 3}]
    )
    for key in ("app/1", "app/2", "keep/1"):
        await service.put_bytes("logs", key, b"x")
    clock.now = due(START, 3) - 1
    assert (await worker.run_once())["expired"] == 0
    clock.now = due(START, 3)
    counts = await worker.run_once()
    assert counts["expired"] == 2 and counts["buckets"] == 1
    assert await keys(service) == ["keep/1"]
    ops = [(e.op, e.key, e.actor) for e in await service.audit.page("logs")]
    assert ("expire", "app/1", "lifecycle") in ops and ("expire", "app/2", "lifecycle") in ops
    assert (await service.audit.verify("logs")).valid
    types = [e.event_type for e in await service.audit.page("logs") if e.op == "expire"]
    assert types == ["object.expired", "object.expired"]


async def test_a_rewritten_object_counts_its_days_again(world: World) -> None:
    service, clock, worker = world
    await service.set_lifecycle("logs", [{"id": "r", "expiration_days": 1}])
    await service.put_bytes("logs", "k", b"old")
    clock.now = due(START, 1) - 60
    await service.put_bytes("logs", "k", b"new")
    clock.now = due(START, 1)
    assert (await worker.run_once())["expired"] == 0
    assert await service.get_bytes("logs", "k") == b"new"


async def test_tag_filters_expire_only_tagged_objects(world: World) -> None:
    service, clock, worker = world
    rule = {"id": "tmp", "prefix": "", "tags": {"kind": "tmp"}, "expiration_days": 1}
    await service.set_lifecycle("logs", [rule])
    await service.put_bytes("logs", "a", b"x", tags={"kind": "tmp"})
    await service.put_bytes("logs", "b", b"x", tags={"kind": "keep"})
    await service.put_bytes("logs", "c", b"x")
    clock.now = due(START, 1)
    assert (await worker.run_once())["expired"] == 1
    assert await keys(service) == ["b", "c"]


async def test_expiry_in_a_versioned_bucket_adds_a_marker_and_noncurrent_versions_go(
    world: World,
) -> None:
    service, clock, worker = world
    await service.set_versioning("logs", "Enabled")
    await service.set_lifecycle("logs", [{"id": "v", "expiration_days": 10, "noncurrent_days": 2}])
    await service.put_bytes("logs", "k", b"v1")
    clock.now = START + DAY  # v1 becomes noncurrent here
    await service.put_bytes("logs", "k", b"v2")
    clock.now = due(START + DAY, 2) - 1
    assert (await worker.run_once())["noncurrent_expired"] == 0
    clock.now = due(START + DAY, 2)
    assert (await worker.run_once())["noncurrent_expired"] == 1
    versions = (await service.list_versions("logs")).versions
    assert [v.delete_marker for v in versions] == [False]
    clock.now = due(START + DAY, 10)
    assert (await worker.run_once())["expired"] == 1
    versions = (await service.list_versions("logs")).versions
    assert [v.delete_marker for v in versions] == [True, False]  # a marker over v2
    assert await keys(service) == []


async def test_stale_multipart_uploads_are_aborted(world: World) -> None:
    service, clock, worker = world
    await service.set_lifecycle("logs", [{"id": "mpu", "prefix": "big/", "abort_days": 7}])
    stale = await service.create_multipart("logs", "big/one")
    other = await service.create_multipart("logs", "small/one")
    clock.now = due(START, 7) - 1
    assert (await worker.run_once())["uploads_aborted"] == 0
    fresh = await service.create_multipart("logs", "big/two")
    clock.now = due(START, 7)
    assert (await worker.run_once())["uploads_aborted"] == 1
    left, _ = await service.list_multiparts("logs")
    assert {u.upload_id for u in left} == {other.upload_id, fresh.upload_id}
    assert stale.upload_id not in {u.upload_id for u in left}


async def test_disabled_rules_do_nothing_and_bad_rules_change_nothing(world: World) -> None:
    service, clock, worker = world
    await service.put_bytes("logs", "k", b"x")
    await service.set_lifecycle("logs", [{"id": "off", "enabled": False, "expiration_days": 1}])
    clock.now = due(START, 30)
    assert (await worker.run_once())["expired"] == 0
    bad = [
        [{"id": "a"}],
        [{"id": "a", "expiration_days": 0}],
        [{"id": "a", "expiration_days": 1}, {"id": "a", "expiration_days": 2}],
        [{"id": "a", "abort_days": 1, "tags": {"t": "v"}}],
        [{"id": "a", "expiration_date": "2026-03-01T12:00:00Z"}],
    ]
    for rules in bad:
        with pytest.raises(InvalidArgument):
            await service.set_lifecycle("logs", rules)
    with pytest.raises(MalformedXML):
        await service.set_lifecycle("logs", [])
    assert [r.id for r in await service.get_lifecycle("logs")] == ["off"]
    await service.delete_lifecycle("logs")
    with pytest.raises(NoSuchLifecycleConfiguration):
        await service.get_lifecycle("logs")
