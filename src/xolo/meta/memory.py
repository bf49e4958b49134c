"""An in-memory MetaStore: for unit tests and ``xolo.open_memory()``.

Methods never await inside a critical section, so each is atomic on one event loop; several
``MemoryMetaStore`` instances may share one ``MemoryState`` (as several routers share one
database) to exercise multi-instance code paths in unit tests.
"""

from __future__ import annotations

import bisect
import dataclasses
import secrets
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from xolo.core import versions
from xolo.core.acl import anonymous_reads
from xolo.core.audit import GENESIS, Change, Entry, deleted_change, link
from xolo.core.conditions import NO_CONDITION, WriteCondition
from xolo.core.errors import (
    BucketNotEmpty,
    ChunkCollected,
    ConcurrentUpdate,
    InvalidArgument,
    NoSuchBucket,
    NoSuchUpload,
)
from xolo.core.listing import prefix_end
from xolo.core.records import (
    CONFIG_SECTIONS,
    AccessKey,
    Bucket,
    BucketConfig,
    BucketSettings,
    ChunkInfo,
    ChunkRef,
    MultipartUpload,
    NotifyTarget,
    ObjectInfo,
    ObjectRecord,
    Part,
    PeerRecord,
    RouterRecord,
    TaskRecord,
    Upload,
    VersionInfo,
)
from xolo.core.refs import combine_replicas, ref_delta


@dataclasses.dataclass(slots=True)
class _ChunkRow:
    size: int
    refs: int
    replicas: int
    zero_since: float | None
    gc_round: str | None = None


class _BucketState:
    __slots__ = ("bucket", "bytes_used", "history", "history_keys", "keys", "objects", "seqs")

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket
        self.objects: dict[bytes, ObjectRecord] = {}
        self.keys: list[bytes] = []
        self.bytes_used = 0
        self.seqs: dict[bytes, int] = {}
        """The place of each current version among its key's versions."""
        self.history: dict[bytes, list[tuple[int, ObjectRecord]]] = {}
        """Older versions and delete markers per key, oldest first."""
        self.history_keys: list[bytes] = []

    def top_seq(self, raw: bytes) -> int:
        older = self.history.get(raw)
        return max(self.seqs.get(raw, 0), older[-1][0] if older else 0)

    def add_history(self, raw: bytes, seq: int, record: ObjectRecord) -> None:
        older = self.history.get(raw)
        if older is None:
            older = self.history[raw] = []
            bisect.insort(self.history_keys, raw)
        bisect.insort(older, (seq, record), key=lambda e: e[0])

    def remove_history(self, raw: bytes, seq: int) -> ObjectRecord | None:
        older = self.history.get(raw, [])
        for i, (s, record) in enumerate(older):
            if s == seq:
                del older[i]
                if not older:
                    del self.history[raw]
                    del self.history_keys[bisect.bisect_left(self.history_keys, raw)]
                return record
        return None

    def find_history(self, raw: bytes, version_id: str) -> tuple[int, ObjectRecord] | None:
        for seq, record in self.history.get(raw, []):
            if record.version_id == version_id:
                return seq, record
        return None

    def set_current(self, raw: bytes, record: ObjectRecord, seq: int) -> ObjectRecord | None:
        current = self.objects.get(raw)
        if current is None:
            bisect.insort(self.keys, raw)
        self.objects[raw] = record
        self.seqs[raw] = seq
        self.bytes_used += record.size - (current.size if current else 0)
        return current

    def drop_current(self, raw: bytes) -> ObjectRecord:
        current = self.objects.pop(raw)
        del self.seqs[raw]
        del self.keys[bisect.bisect_left(self.keys, raw)]
        self.bytes_used -= current.size
        return current

    def apply_history(
        self, raw: bytes, plan: versions.Plan, replaced: tuple[int, ObjectRecord] | None
    ) -> tuple[list[frozenset[str]], list[ObjectRecord]]:
        """The history part of ``plan`` (see ``meta/sql/history.py``): released chunk sets,
        and the versions added as stored."""
        lost: list[frozenset[str]] = []
        if plan.drop_current and replaced is not None:
            lost.append(replaced[1].chunk_names())
        if plan.drop_null:
            found = self.find_history(raw, versions.NULL)
            if found is not None:
                self.remove_history(raw, found[0])
                lost.append(found[1].chunk_names())
        added: list[ObjectRecord] = []
        for version in plan.to_history:
            if replaced is not None and version is replaced[1]:
                self.add_history(raw, replaced[0], version)
            else:
                newest = replaced[0] if replaced is not None else 0
                seq = max(newest, self.top_seq(raw)) + 1
                version = versions.placed(version, seq)
                self.add_history(raw, seq, version)
            added.append(version)
        return lost, added


def _version_info(record: ObjectRecord, seq: int, *, latest: bool) -> VersionInfo:
    return VersionInfo(
        key=record.key,
        version_id=record.version_id,
        size=record.size,
        etag=record.etag,
        modified=record.modified,
        is_latest=latest,
        delete_marker=record.delete_marker,
        seq=seq,
    )


class MemoryState:
    """Everything a MemoryMetaStore keeps; shareable between instances."""

    def __init__(self) -> None:
        self.buckets: dict[str, _BucketState] = {}
        self.uploads: dict[str, Upload] = {}
        self.keys: dict[str, AccessKey] = {}
        self.multiparts: dict[str, MultipartUpload] = {}
        self.parts: dict[str, dict[int, Part]] = {}
        self.chunks: dict[str, _ChunkRow] = {}
        self.bucket_chunks: Counter[tuple[str, str]] = Counter()
        self.peers: dict[str, PeerRecord] = {}
        self.routers: dict[str, RouterRecord] = {}
        self.tasks: dict[str, TaskRecord] = {}
        self.audit: dict[str, list[Entry]] = {}
        self.targets: dict[str, NotifyTarget] = {}


class MemoryMetaStore:
    """A MetaStore in a dictionary; see the module docstring."""

    def __init__(self, state: MemoryState | None = None, *, chain_key: bytes | None = None) -> None:
        self._s = state or MemoryState()
        self._chain_key = chain_key

    def _audit(self, change: Change | None) -> None:
        if change is None or self._chain_key is None:
            return
        chain = self._s.audit.setdefault(change.bucket, [])
        prev = chain[-1].mac if chain else GENESIS
        chain.append(
            link(self._chain_key, change, sequence=len(chain) + 1, time=change.time, prev=prev)
        )

    async def audit_page(self, bucket: str, after: int, limit: int) -> list[Entry]:
        """See ``MetaStore.audit_page``; a store made without a chain key records no entries."""
        return [e for e in self._s.audit.get(bucket, []) if e.sequence > after][:limit]

    async def audit_head(self, bucket: str) -> tuple[int, str] | None:
        """See ``MetaStore.audit_head``."""
        chain = self._s.audit.get(bucket)
        return (chain[-1].sequence, chain[-1].mac) if chain else None

    def _state(self, name: str) -> _BucketState:
        try:
            return self._s.buckets[name]
        except KeyError:
            raise NoSuchBucket(f"bucket {name!r} does not exist") from None

    @staticmethod
    def _with_stats(state: _BucketState) -> Bucket:
        return dataclasses.replace(
            state.bucket, object_count=len(state.objects), bytes_used=state.bytes_used
        )

    # -- buckets -----------------------------------------------------------------------------

    async def create_bucket(
        self,
        name: str,
        settings: BucketSettings,
        *,
        owner: str | None,
        now: float,
        change: Change | None = None,
    ) -> tuple[Bucket, bool]:
        """In memory: no await between the check and the insert, so one racing creator wins."""
        state = self._s.buckets.get(name)
        if state is not None:
            return self._with_stats(state), False
        state = _BucketState(Bucket(name=name, created=now, settings=settings, owner=owner))
        self._s.buckets[name] = state
        self._audit(change)
        return self._with_stats(state), True

    async def update_bucket(
        self, name: str, changes: Mapping[str, Any], *, change: Change | None = None
    ) -> Bucket:
        """See ``MetaStore.update_bucket``."""
        state = self._state(name)
        settings = state.bucket.settings.updated(changes)
        before = state.bucket.settings.replication
        state.bucket = dataclasses.replace(state.bucket, settings=settings)
        if settings.replication != before:
            self._recount_replicas(name)
        self._audit(change)
        return self._with_stats(state)

    async def set_bucket_config(
        self, name: str, section: str, value: Any, *, change: Change | None = None
    ) -> Bucket:
        """See ``MetaStore.set_bucket_config``; an unknown section is a ValueError, a bug."""
        if section not in CONFIG_SECTIONS:
            raise ValueError(f"unknown bucket configuration section {section!r}")
        state = self._state(name)
        doc = state.bucket.config.to_json()
        doc[section] = value
        settings = state.bucket.settings
        if section == "acl":
            settings = settings.updated({"public_read": anonymous_reads(str(value))})
        state.bucket = dataclasses.replace(
            state.bucket, config=BucketConfig.from_json(doc), settings=settings
        )
        self._audit(change)
        return self._with_stats(state)

    async def get_bucket(self, name: str) -> Bucket:
        """See ``MetaStore.get_bucket``; the usage totals are counted at the call."""
        return self._with_stats(self._state(name))

    async def list_buckets(self) -> list[Bucket]:
        """See ``MetaStore.list_buckets``."""
        return [self._with_stats(self._s.buckets[n]) for n in sorted(self._s.buckets)]

    async def delete_bucket(self, name: str, *, now: float, change: Change | None = None) -> None:
        """In memory: the bucket's multipart uploads are aborted, releasing their parts' chunks."""
        state = self._state(name)
        if state.objects:
            raise BucketNotEmpty(f"bucket {name!r} still holds objects")
        if state.history:
            raise BucketNotEmpty(f"bucket {name!r} still holds object versions")
        del self._s.buckets[name]
        for upload_id in [u.upload_id for u in self._s.uploads.values() if u.bucket == name]:
            del self._s.uploads[upload_id]
        for upload_id in [u.upload_id for u in self._s.multiparts.values() if u.bucket == name]:
            await self.abort_multipart(upload_id, now=now)
        for held in [k for k in self._s.bucket_chunks if k[0] == name]:
            del self._s.bucket_chunks[held]
        self._audit(change)

    # -- references --------------------------------------------------------------------------

    def _check_present(self, names: frozenset[str]) -> None:
        for name in names:
            if name not in self._s.chunks:
                raise ChunkCollected(f"chunk {name} was collected while this write was running")

    def _apply(
        self,
        bucket: str,
        gained: list[frozenset[str]],
        lost: list[frozenset[str]],
        now: float,
    ) -> None:
        delta = ref_delta(gained, lost)
        for name, n in delta.items():
            if n > 0 and name not in self._s.chunks:
                raise ChunkCollected(f"chunk {name} was collected while this write was running")
        wanted = self._replication(bucket)
        for name, n in delta.items():
            held = self._s.bucket_chunks
            held[(bucket, name)] += n
            if held[(bucket, name)] <= 0:
                del held[(bucket, name)]
            row = self._s.chunks.get(name)
            if row is None:
                continue
            row.refs += n
            if n > 0:
                row.zero_since, row.gc_round = None, None
                row.replicas = combine_replicas(row.replicas, wanted)
            elif row.refs <= 0:
                row.zero_since = now

    def _replication(self, bucket: str) -> int:
        """The bucket's explicit replication, 0 for the default or a bucket gone."""
        state = self._s.buckets.get(bucket)
        return (state.bucket.settings.replication or 0) if state else 0

    def _recount_replicas(self, bucket: str) -> None:
        """Each chunk ``bucket`` names wants what the buckets naming it combine to (the SQL
        stores' ``refs.recount_replicas``)."""
        names = {name for b, name in self._s.bucket_chunks if b == bucket}
        best = dict.fromkeys(names, self._replication(bucket))
        for b, name in self._s.bucket_chunks:
            if name in best and b != bucket:
                best[name] = combine_replicas(best[name], self._replication(b))
        for name, replicas in best.items():
            row = self._s.chunks.get(name)
            if row is not None:
                row.replicas = replicas

    # -- objects -----------------------------------------------------------------------------

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        """See ``MetaStore.get_object``."""
        return self._state(bucket).objects.get(key.encode())

    def _write(
        self,
        record: ObjectRecord,
        condition: WriteCondition,
        also_lost: list[frozenset[str]],
        change: Change | None,
    ) -> tuple[ObjectRecord, ObjectRecord | None]:
        state = self._state(record.bucket)
        raw = record.key.encode()
        current = state.objects.get(raw)
        condition.check(current.etag if current else None, current.version if current else None)
        plan = versions.plan_put(state.bucket.versioning, current, record)
        assert plan.current is not None
        # Check every chunk before changing anything: a collected one fails the whole write.
        self._check_present(plan.current.chunk_names())
        seq = state.top_seq(raw) + 1
        stored = versions.placed(plan.current, seq)
        replaced = (state.seqs[raw], current) if current is not None else None
        state.set_current(raw, stored, seq)
        lost, _ = state.apply_history(raw, plan, replaced)
        self._apply(record.bucket, [stored.chunk_names()], lost + also_lost, record.modified)
        self._audit(change)
        return stored, current

    async def put_object(
        self,
        record: ObjectRecord,
        condition: WriteCondition,
        *,
        upload_id: str | None = None,
        change: Change | None = None,
    ) -> tuple[ObjectRecord, ObjectRecord | None]:
        """See ``MetaStore.put_object``."""
        self._state(record.bucket)
        if upload_id is not None:
            upload = self._s.uploads.get(upload_id)
            if upload is None or upload.expires <= record.modified:
                raise NoSuchUpload()
        written = self._write(record, condition, [], change)
        if upload_id is not None:
            del self._s.uploads[upload_id]
        return written

    async def delete_object(
        self,
        bucket: str,
        key: str,
        condition: WriteCondition,
        *,
        now: float,
        version_id: str | None = None,
        change: Change | None = None,
    ) -> ObjectRecord | None:
        """See ``MetaStore.delete_object``."""
        state = self._state(bucket)
        raw = key.encode()
        if version_id is not None:
            removed = self._remove_version(state, raw, version_id, condition, now)
        else:
            removed = self._delete_current(state, raw, condition, now)
        if removed is not None and change is not None:
            self._audit(deleted_change(change, removed))
        return removed

    def _delete_current(
        self, state: _BucketState, raw: bytes, condition: WriteCondition, now: float
    ) -> ObjectRecord | None:
        mode = state.bucket.versioning
        current = state.objects.get(raw)
        condition.check(current.etag if current else None, current.version if current else None)
        plan = versions.plan_delete(
            mode, current, bucket=state.bucket.name, key=raw.decode(), now=now
        )
        if current is None and mode is None:
            return None
        replaced = (state.seqs[raw], current) if current is not None else None
        if current is not None:
            state.drop_current(raw)
        lost, added = state.apply_history(raw, plan, replaced)
        self._apply(state.bucket.name, [], lost, now)
        return added[-1] if added else current

    def _remove_version(
        self,
        state: _BucketState,
        raw: bytes,
        version_id: str,
        condition: WriteCondition,
        now: float,
    ) -> ObjectRecord | None:
        current = state.objects.get(raw)
        if current is not None and current.version_id == version_id:
            condition.check(current.etag, current.version)
            removed = state.drop_current(raw)
        else:
            found = state.find_history(raw, version_id)
            if found is None:
                condition.check(None, None)
                return None
            removed = found[1]
            condition.check(removed.etag if not removed.delete_marker else None, removed.version)
            state.remove_history(raw, found[0])
        self._apply(state.bucket.name, [], [removed.chunk_names()], now)
        older = state.history.get(raw)
        if raw not in state.objects and older and versions.promotes(older[-1][1]):
            seq, record = older[-1]
            state.remove_history(raw, seq)
            state.set_current(raw, record, seq)
        return removed

    async def get_version(
        self, bucket: str, key: str, version_id: str | None
    ) -> ObjectRecord | None:
        """See ``MetaStore.get_version``."""
        state = self._state(bucket)
        raw = key.encode()
        current = state.objects.get(raw)
        if current is not None and version_id in (None, current.version_id):
            return current
        if version_id is None:
            older = state.history.get(raw)
            return older[-1][1] if older and older[-1][1].delete_marker else None
        found = state.find_history(raw, version_id)
        return found[1] if found else None

    async def amend_object(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        *,
        tags: Mapping[str, str] | None = None,
        acl: str | None = None,
        expect_version: str | None = None,
        change: Change | None = None,
    ) -> ObjectRecord | None:
        """In memory: the version is replaced where it is, keeping its place among the key's."""
        state = self._state(bucket)
        raw = key.encode()
        current = state.objects.get(raw)
        if current is not None and version_id in (None, current.version_id):
            place: tuple[int, ObjectRecord] | None = None
            record = current
        elif version_id is None:
            return None
        else:
            place = state.find_history(raw, version_id)
            if place is None:
                return None
            record = place[1]
        if record.delete_marker:
            return record
        if expect_version is not None and record.version != expect_version:
            raise ConcurrentUpdate("the object changed since it was read; retry")
        amended = dataclasses.replace(
            record,
            tags=dict(tags) if tags is not None else record.tags,
            acl=acl if acl is not None else record.acl,
        )
        if place is None:
            state.objects[raw] = amended
        else:
            older = state.history[raw]
            older[older.index(place)] = (place[0], amended)
        self._audit(change)
        return amended

    async def move_prefix(
        self,
        bucket: str,
        source: str,
        target: str,
        *,
        now: float,
        limit: int,
        audit: Callable[[str, ObjectRecord], Change] | None = None,
    ) -> list[ObjectRecord]:
        """In memory: every chunk is checked before the first move, so a failure moves nothing."""
        state = self._state(bucket)
        lo = source.encode()
        olds = [state.objects[k] for k in state.keys if k.startswith(lo)]
        if len(olds) > limit:
            raise InvalidArgument(f"more than {limit} objects under {source!r}: move fewer")
        for old in olds:  # every check first: a failure must change nothing
            self._check_present(old.chunk_names())
        moved = []
        for old in olds:
            new = dataclasses.replace(
                old,
                key=target + old.key[len(source) :],
                modified=now,
                version=secrets.token_hex(8),
                version_id=versions.new_version_id(),
                upload_id=None,
            )
            stored, _ = self._write(new, NO_CONDITION, [], audit("put", new) if audit else None)
            expect = WriteCondition(expect_version=old.version)
            gone = self._delete_current(state, old.key.encode(), expect, now)
            if gone is not None and audit is not None:
                self._audit(deleted_change(audit("delete", old), gone))
            moved.append(stored)
        return moved

    async def version_seq(self, bucket: str, key: str, version_id: str) -> int | None:
        """See ``MetaStore.version_seq``."""
        state = self._state(bucket)
        raw = key.encode()
        current = state.objects.get(raw)
        if current is not None and current.version_id == version_id:
            return state.seqs[raw]
        found = state.find_history(raw, version_id)
        return found[0] if found else None

    async def scan_versions(
        self, bucket: str, prefix: bytes, after: tuple[bytes, int] | None, limit: int
    ) -> list[VersionInfo]:
        """In memory: current and older versions' keys are merged on each call (fine for tests)."""
        state = self._s.buckets.get(bucket)
        if state is None:
            return []
        end = prefix_end(prefix)
        start = max(prefix, after[0]) if after else prefix
        keys = sorted(set(state.keys) | set(state.history_keys))
        out: list[VersionInfo] = []
        for raw in keys[bisect.bisect_left(keys, start) :]:
            if (end is not None and raw >= end) or len(out) >= limit:
                break
            for seq, record in self._versions_of(state, raw):
                if after is not None and raw == after[0] and seq >= after[1]:
                    continue
                if len(out) >= limit:
                    break
                out.append(_version_info(record, seq, latest=seq == state.top_seq(raw)))
        return out

    @staticmethod
    def _versions_of(state: _BucketState, raw: bytes) -> list[tuple[int, ObjectRecord]]:
        """The key's versions newest first."""
        found = list(reversed(state.history.get(raw, [])))
        current = state.objects.get(raw)
        if current is not None:
            found.insert(0, (state.seqs[raw], current))
        return found

    async def set_versioning(
        self, bucket: str, status: str, *, change: Change | None = None
    ) -> Bucket:
        """See ``MetaStore.set_versioning``."""
        state = self._state(bucket)
        state.bucket = dataclasses.replace(state.bucket, versioning=status)
        self._audit(change)
        return self._with_stats(state)

    async def scan_objects(
        self, bucket: str, prefix: bytes, start: bytes, limit: int
    ) -> list[ObjectInfo]:
        """In memory: a bisection into the bucket's sorted keys, so a page reads only its keys."""
        state = self._s.buckets.get(bucket)
        if state is None:
            return []
        end = prefix_end(prefix)
        i = bisect.bisect_left(state.keys, max(start, prefix))
        out: list[ObjectInfo] = []
        while i < len(state.keys) and len(out) < limit:
            raw = state.keys[i]
            if end is not None and raw >= end:
                break
            out.append(state.objects[raw].info())
            i += 1
        return out

    # -- two-step uploads --------------------------------------------------------------------

    async def create_upload(self, upload: Upload) -> None:
        """See ``MetaStore.create_upload``."""
        self._state(upload.bucket)
        self._s.uploads[upload.upload_id] = upload

    async def get_upload(self, upload_id: str, now: float) -> Upload | None:
        """See ``MetaStore.get_upload``."""
        upload = self._s.uploads.get(upload_id)
        if upload is None or upload.expires <= now:
            return None
        return upload

    async def expire_uploads(self, now: float, limit: int) -> int:
        """See ``MetaStore.expire_uploads``."""
        doomed = [u.upload_id for u in self._s.uploads.values() if u.expires <= now][:limit]
        for upload_id in doomed:
            del self._s.uploads[upload_id]
        return len(doomed)

    # -- multipart uploads -------------------------------------------------------------------

    async def create_multipart(self, upload: MultipartUpload) -> None:
        """See ``MetaStore.create_multipart``."""
        self._state(upload.bucket)
        self._s.multiparts[upload.upload_id] = upload
        self._s.parts[upload.upload_id] = {}

    async def get_multipart(self, upload_id: str) -> MultipartUpload | None:
        """See ``MetaStore.get_multipart``."""
        return self._s.multiparts.get(upload_id)

    async def put_part(self, part: Part, *, now: float) -> None:
        """See ``MetaStore.put_part``."""
        parts = self._s.parts.get(part.upload_id)
        if parts is None:
            raise NoSuchUpload()
        old = parts.get(part.number)
        lost = [frozenset(c.sha256 for c in old.chunks)] if old else []
        bucket = self._s.multiparts[part.upload_id].bucket
        self._apply(bucket, [frozenset(c.sha256 for c in part.chunks)], lost, now)
        parts[part.number] = part

    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]:
        """See ``MetaStore.list_parts``."""
        parts = self._s.parts.get(upload_id, {})
        return [parts[n] for n in sorted(parts) if n > after][:limit]

    async def list_multiparts(
        self, bucket: str, prefix: bytes, after: tuple[bytes, str] | None, limit: int
    ) -> list[MultipartUpload]:
        """See ``MetaStore.list_multiparts``."""
        found = sorted(
            ((u.key.encode(), u.upload_id), u)
            for u in self._s.multiparts.values()
            if u.bucket == bucket and u.key.encode().startswith(prefix)
        )
        return [u for pos, u in found if after is None or pos > after][:limit]

    async def stale_multiparts(self, created_before: float, limit: int) -> list[MultipartUpload]:
        """See ``MetaStore.stale_multiparts``; oldest first."""
        stale = [u for u in self._s.multiparts.values() if u.created < created_before]
        return sorted(stale, key=lambda u: u.created)[:limit]

    def _part_chunks(self, upload_id: str) -> list[frozenset[str]]:
        return [
            frozenset(c.sha256 for c in p.chunks) for p in self._s.parts.get(upload_id, {}).values()
        ]

    async def complete_multipart(
        self,
        upload_id: str,
        record: ObjectRecord,
        condition: WriteCondition,
        *,
        change: Change | None = None,
    ) -> tuple[ObjectRecord, ObjectRecord | None]:
        """See ``MetaStore.complete_multipart``."""
        if upload_id not in self._s.multiparts:
            raise NoSuchUpload()
        previous = self._write(record, condition, self._part_chunks(upload_id), change)
        self._s.parts.pop(upload_id, None)
        self._s.multiparts.pop(upload_id, None)
        return previous

    async def abort_multipart(self, upload_id: str, *, now: float) -> bool:
        """See ``MetaStore.abort_multipart``."""
        if upload_id not in self._s.multiparts:
            return False
        bucket = self._s.multiparts[upload_id].bucket
        self._apply(bucket, [], self._part_chunks(upload_id), now)
        self._s.parts.pop(upload_id, None)
        self._s.multiparts.pop(upload_id, None)
        return True

    # -- keys --------------------------------------------------------------------------------

    async def put_key(self, key: AccessKey, *, change: Change | None = None) -> None:
        """See ``MetaStore.put_key``."""
        self._s.keys[key.access_key] = key
        self._audit(change)

    async def get_key(self, access_key: str) -> AccessKey | None:
        """See ``MetaStore.get_key``."""
        return self._s.keys.get(access_key)

    async def list_keys(self) -> list[AccessKey]:
        """See ``MetaStore.list_keys``."""
        return [self._s.keys[k] for k in sorted(self._s.keys)]

    async def delete_key(self, access_key: str, *, change: Change | None = None) -> bool:
        """See ``MetaStore.delete_key``; deleting an unknown key leaves no audit entry."""
        gone = self._s.keys.pop(access_key, None) is not None
        if gone:
            self._audit(change)
        return gone

    # -- chunk references --------------------------------------------------------------------

    async def claim_chunks(self, chunks: Sequence[ChunkRef], *, replicas: int, now: float) -> None:
        """See ``MetaStore.claim_chunks``."""
        for chunk in chunks:
            row = self._s.chunks.get(chunk.sha256)
            if row is None:
                self._s.chunks[chunk.sha256] = _ChunkRow(chunk.size, 0, replicas, now)
                continue
            row.zero_since = now if row.refs == 0 else None
            row.gc_round = None
            row.replicas = combine_replicas(row.replicas, replicas)

    async def gc_mark(self, cutoff: float, round_id: str, limit: int) -> list[str]:
        """See ``MetaStore.gc_mark``; the longest unreferenced are marked first."""
        due = sorted(
            (row.zero_since, name)
            for name, row in self._s.chunks.items()
            if row.refs == 0 and row.zero_since is not None and row.zero_since < cutoff
        )[:limit]
        for _, name in due:
            self._s.chunks[name].gc_round = round_id
        return [name for _, name in due]

    async def gc_confirm(self, names: Sequence[str], round_id: str) -> list[str]:
        """See ``MetaStore.gc_confirm``."""
        confirmed = []
        for name in sorted(names):
            row = self._s.chunks.get(name)
            if row is not None and row.gc_round == round_id and row.refs == 0:
                del self._s.chunks[name]
                confirmed.append(name)
        return confirmed

    def _info(self, name: str, row: _ChunkRow) -> ChunkInfo:
        return ChunkInfo(sha256=name, size=row.size, refs=row.refs, replicas=row.replicas)

    async def chunk_page(self, after: str, limit: int) -> list[ChunkInfo]:
        """See ``MetaStore.chunk_page``."""
        names = sorted(n for n in self._s.chunks if n > after)[:limit]
        return [self._info(n, self._s.chunks[n]) for n in names]

    async def chunk_infos(self, names: Sequence[str]) -> dict[str, ChunkInfo]:
        """See ``MetaStore.chunk_infos``."""
        return {n: self._info(n, self._s.chunks[n]) for n in names if n in self._s.chunks}

    async def bucket_chunks(self, bucket: str, names: Sequence[str]) -> frozenset[str]:
        """In memory: answered from per-bucket reference counts kept beside the chunk rows."""
        return frozenset(n for n in names if (bucket, n) in self._s.bucket_chunks)

    async def adopt_strays(self, chunks: Sequence[ChunkRef], *, now: float) -> int:
        """In memory: an adopted chunk asks for no copies until a write claims it."""
        added = 0
        for chunk in chunks:
            if chunk.sha256 not in self._s.chunks:
                self._s.chunks[chunk.sha256] = _ChunkRow(chunk.size, 0, 0, now)
                added += 1
        return added

    # -- membership and leases ---------------------------------------------------------------

    async def put_peer(self, peer: PeerRecord) -> PeerRecord | None:
        """See ``MetaStore.put_peer``."""
        known = self._s.peers.get(peer.id)
        if known is not None and known.sent >= peer.sent:
            return None
        if known is not None:
            peer = dataclasses.replace(peer, joined=known.joined, admin_state=known.admin_state)
        self._s.peers[peer.id] = peer
        return peer

    async def list_peers(self) -> list[PeerRecord]:
        """See ``MetaStore.list_peers``."""
        return [self._s.peers[p] for p in sorted(self._s.peers)]

    async def set_peer_state(
        self, peer_id: str, admin_state: str, *, expect: str | None = None
    ) -> PeerRecord | None:
        """See ``MetaStore.set_peer_state``."""
        peer = self._s.peers.get(peer_id)
        if peer is None or (expect is not None and peer.admin_state != expect):
            return peer
        peer = self._s.peers[peer_id] = dataclasses.replace(peer, admin_state=admin_state)
        return peer

    async def remove_peer(self, peer_id: str) -> bool:
        """See ``MetaStore.remove_peer``."""
        return self._s.peers.pop(peer_id, None) is not None

    async def put_router(self, router: RouterRecord) -> None:
        """See ``MetaStore.put_router``."""
        self._s.routers[router.id] = router

    async def list_routers(self, seen_after: float) -> list[RouterRecord]:
        """See ``MetaStore.list_routers``."""
        return [r for _, r in sorted(self._s.routers.items()) if r.last_seen > seen_after]

    async def acquire_lease(self, name: str, holder: str, *, now: float, ttl: float) -> bool:
        """See ``MetaStore.acquire_lease``."""
        task = self._s.tasks.get(name)
        if task is not None and task.holder not in (None, holder) and task.lease_until >= now:
            return False
        status = task.status if task else {}
        self._s.tasks[name] = TaskRecord(
            name=name, holder=holder, lease_until=now + ttl, status=status
        )
        return True

    async def renew_lease(self, name: str, holder: str, *, now: float, ttl: float) -> bool:
        """See ``MetaStore.renew_lease``."""
        task = self._s.tasks.get(name)
        if task is None or task.holder != holder or task.lease_until < now:
            return False
        self._s.tasks[name] = TaskRecord(
            name=name, holder=holder, lease_until=now + ttl, status=task.status
        )
        return True

    async def release_lease(self, name: str, holder: str, status: Mapping[str, Any]) -> None:
        """See ``MetaStore.release_lease``."""
        task = self._s.tasks.get(name)
        if task is not None and task.holder == holder:
            self._s.tasks[name] = TaskRecord(
                name=name, holder=None, lease_until=0.0, status=dict(status)
            )

    async def list_tasks(self) -> list[TaskRecord]:
        """See ``MetaStore.list_tasks``."""
        return [self._s.tasks[n] for n in sorted(self._s.tasks)]

    async def put_target(self, target: NotifyTarget) -> None:
        """See ``MetaStore.put_target``."""
        known = self._s.targets.get(target.id)
        if known is not None:
            target = dataclasses.replace(
                known,
                cursor=target.cursor,
                failures=target.failures,
                state=target.state,
                last_error=target.last_error,
                next_try=target.next_try,
            )
        self._s.targets[target.id] = target

    async def list_targets(self) -> list[NotifyTarget]:
        """See ``MetaStore.list_targets``."""
        return [self._s.targets[t] for t in sorted(self._s.targets)]

    async def delete_target(self, target_id: str) -> bool:
        """See ``MetaStore.delete_target``."""
        return self._s.targets.pop(target_id, None) is not None

    async def close(self) -> None:
        """In memory: nothing to release; the state stays usable by other instances sharing it."""
        return None
