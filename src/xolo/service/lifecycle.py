"""Lifecycle: a bucket's rules (``core/lifecycle.py``) kept in its configuration, and carried out.

A mixin of ObjectService. ``apply_lifecycle`` is what the scheduled ``lifecycle`` task runs for
each bucket with rules (``cluster/lifecycle.py``): it expires current versions (a delete marker
in a versioned bucket, as S3 does), removes noncurrent versions for good, and aborts unfinished
multipart uploads, each by the same store calls a client's request makes, so every expiry is in
the audit chain (``expire``) and the change feed (``object.expired``). Every removal is
conditional on the version it judged, so an object rewritten meanwhile is left alone.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from typing import Any

from xolo.core.audit import Change
from xolo.core.conditions import WriteCondition
from xolo.core.errors import (
    ConcurrentUpdate,
    NoSuchKey,
    NoSuchLifecycleConfiguration,
    PreconditionFailed,
)
from xolo.core.lifecycle import Rule, check_rules, rule_from_json, rule_json
from xolo.core.listing import after
from xolo.core.records import Bucket, ObjectInfo, VersionInfo
from xolo.meta.base import MetaStore
from xolo.service.context import actor

PAGE = 500
LIFECYCLE_ACTOR = "lifecycle"
"""The actor the audit chain records for what the rules did."""


class LifecycleMixin:
    """Lifecycle configuration and its application, for ObjectService."""

    _meta: MetaStore
    _clock: Callable[[], float]

    def _changed(self, bucket: str) -> None:
        raise NotImplementedError

    async def set_lifecycle(self, bucket: str, rules: Sequence[Mapping[str, Any]]) -> Bucket:
        """Replace the bucket's rules with these (checked whole: one bad rule changes nothing)."""
        checked = [rule_json(r) for r in check_rules(rules)]
        change = Change(op="bucket.update", bucket=bucket, time=self._clock(), actor=actor())
        return await self._meta.set_bucket_config(bucket, "lifecycle", checked, change=change)

    async def get_lifecycle(self, bucket: str) -> list[Rule]:
        """The bucket's rules; NoSuchLifecycleConfiguration when it has none."""
        found = (await self._meta.get_bucket(bucket)).config.lifecycle
        if not found:
            raise NoSuchLifecycleConfiguration("the bucket has no lifecycle configuration")
        return [rule_from_json(r) for r in found]

    async def delete_lifecycle(self, bucket: str) -> None:
        """Remove the bucket's rules; the ``lifecycle`` task then leaves it alone."""
        change = Change(op="bucket.update", bucket=bucket, time=self._clock(), actor=actor())
        await self._meta.set_bucket_config(bucket, "lifecycle", [], change=change)

    async def apply_lifecycle(self, bucket: str, *, now: float) -> dict[str, int]:
        """Carry out the bucket's rules as of ``now``; what was done, counted."""
        counts = {"expired": 0, "noncurrent_expired": 0, "uploads_aborted": 0}
        rules = [rule_from_json(r) for r in (await self._meta.get_bucket(bucket)).config.lifecycle]
        for rule in (r for r in rules if r.enabled):
            if rule.expiration_days is not None or rule.expiration_date is not None:
                counts["expired"] += await self._expire_current(bucket, rule, now)
            if rule.noncurrent_days is not None:
                counts["noncurrent_expired"] += await self._expire_noncurrent(bucket, rule, now)
            if rule.abort_days is not None:
                counts["uploads_aborted"] += await self._abort_stale(bucket, rule, now)
        if any(counts.values()):
            self._changed(bucket)
        return counts

    async def _current(self, bucket: str, prefix: str) -> AsyncIterator[ObjectInfo]:
        start = prefix.encode()
        while True:
            page = await self._meta.scan_objects(bucket, prefix.encode(), start, PAGE)
            for info in page:
                yield info
            if len(page) < PAGE:
                return
            start = after(page[-1].key.encode())

    async def _remove(
        self, bucket: str, key: str, version: str, now: float, version_id: str | None = None
    ) -> bool:
        """Delete what was judged, and only that: the delete is conditional on the judged
        version's token, so a write since (even of the same bytes, or a new ``null`` version
        in a suspended bucket) is left alone."""
        change = Change(op="expire", bucket=bucket, key=key, time=now, actor=LIFECYCLE_ACTOR)
        try:
            removed = await self._meta.delete_object(
                bucket,
                key,
                WriteCondition(expect_version=version),
                now=now,
                version_id=version_id,
                change=change,
            )
        except (PreconditionFailed, ConcurrentUpdate, NoSuchKey):  # changed since judged
            return False
        return removed is not None

    async def _expire_current(self, bucket: str, rule: Rule, now: float) -> int:
        done = 0
        async for info in self._current(bucket, rule.prefix):
            if not rule.expires(info.modified, now):
                continue
            record = await self._meta.get_object(bucket, info.key)
            if record is None or not rule.applies(info.key, record.tags):
                continue
            if rule.expires(record.modified, now):
                done += await self._remove(bucket, info.key, record.version, now)
        return done

    async def _versions(self, bucket: str, prefix: str) -> AsyncIterator[list[VersionInfo]]:
        """Each key's versions, newest first."""
        position: tuple[bytes, int] | None = None
        key_versions: list[VersionInfo] = []
        while True:
            page = await self._meta.scan_versions(bucket, prefix.encode(), position, PAGE)
            for v in page:
                if key_versions and key_versions[0].key != v.key:
                    yield key_versions
                    key_versions = []
                key_versions.append(v)
            if len(page) < PAGE:
                break
            position = (page[-1].key.encode(), page[-1].seq)
        if key_versions:
            yield key_versions

    async def _expire_noncurrent(self, bucket: str, rule: Rule, now: float) -> int:
        done = 0
        async for versions in self._versions(bucket, rule.prefix):
            for newer, older in itertools.pairwise(versions):
                # A version became noncurrent when the one above it was written.
                if older.is_latest or not rule.noncurrent_expires(newer.modified, now):
                    continue
                record = await self._meta.get_version(bucket, older.key, older.version_id)
                if record is None or not rule.applies(older.key, record.tags):
                    continue
                done += await self._remove(
                    bucket, older.key, record.version, now, version_id=older.version_id
                )
        return done

    async def _abort_stale(self, bucket: str, rule: Rule, now: float) -> int:
        done = 0
        position: tuple[bytes, str] | None = None
        while True:
            page = await self._meta.list_multiparts(bucket, rule.prefix.encode(), position, PAGE)
            for upload in page:
                if rule.aborts(upload.created, now):
                    done += await self._meta.abort_multipart(upload.upload_id, now=now)
            if len(page) < PAGE:
                return done
            position = (page[-1].key.encode(), page[-1].upload_id)
