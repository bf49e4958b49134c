"""Buckets, objects, uploads and multipart uploads, written once for every SQL dialect.

Read ``meta/base.py`` for the concurrency rule these transactions keep.
"""

from __future__ import annotations

import dataclasses
import json
import secrets
import zlib
from collections.abc import Callable, Mapping
from typing import Any

from xolo.core import versions
from xolo.core.acl import anonymous_reads
from xolo.core.audit import Change, Entry, deleted_change
from xolo.core.conditions import NO_CONDITION, WriteCondition
from xolo.core.errors import (
    BucketNotEmpty,
    ConcurrentUpdate,
    InvalidArgument,
    NoSuchBucket,
    NoSuchUpload,
)
from xolo.core.listing import prefix_end
from xolo.core.records import (
    CONFIG_SECTIONS,
    Bucket,
    BucketSettings,
    MultipartUpload,
    ObjectInfo,
    ObjectRecord,
    Part,
    Upload,
    VersionInfo,
)
from xolo.core.refs import ref_delta
from xolo.meta.sql import audit, codecs
from xolo.meta.sql.codecs import MULTIPART_COLUMNS, OBJECT_COLUMNS, PART_COLUMNS, UPLOAD_COLUMNS
from xolo.meta.sql.history import History
from xolo.meta.sql.refs import apply_ref_delta, recount_replicas
from xolo.meta.sql.tx import Database, Tx

STATS_SHARDS = 16
"""Rows each bucket's totals are spread over, by key hash: writers of different keys rarely
touch the same row, so one bucket's totals do not serialize its writes (design note M2)."""

WRITE_TRIES = 8
"""Re-reads of a row whose guarded update lost to another writer; each loss means another
transaction committed, so running out is a sign of pathological contention (409)."""

_PLACEHOLDERS = ", ".join("?" * len(OBJECT_COLUMNS.split(",")))


def _shard(raw_key: bytes) -> int:
    return zlib.crc32(raw_key) % STATS_SHARDS


class SqlObjects:
    """The object-facing protocols (BucketStore, ObjectStore, UploadStore, MultipartStore)."""

    def __init__(self, db: Database, *, chain_key: bytes | None) -> None:
        self._db = db
        self._d = db.dialect
        self._chain_key = chain_key
        self._bucket_select = codecs.BUCKET_SELECT.format(bigint=self._d.bigint)
        self._history = History(db.dialect)

    async def _audit(self, t: Tx, change: Change | None) -> None:
        """Record ``change`` in its bucket's audit chain, in this same transaction."""
        if change is not None and self._chain_key is not None:
            await audit.append(t, self._d, self._chain_key, change)

    # -- buckets -----------------------------------------------------------------------------

    async def _bucket(self, tx: Tx, name: str) -> Bucket:
        row = await tx.one(f"{self._bucket_select} WHERE b.name = ?", name)
        if row is None:
            raise NoSuchBucket(f"bucket {name!r} does not exist")
        return codecs.bucket(row)

    @staticmethod
    async def _require_bucket(tx: Tx, name: str, lock: str = "") -> None:
        if await tx.one(f"SELECT 1 FROM buckets WHERE name = ?{lock}", name) is None:
            raise NoSuchBucket(f"bucket {name!r} does not exist")

    async def create_bucket(
        self,
        name: str,
        settings: BucketSettings,
        *,
        owner: str | None,
        now: float,
        change: Change | None = None,
    ) -> tuple[Bucket, bool]:
        """``INSERT ... ON CONFLICT DO NOTHING``: the one insert that changes a row is the
        creator, and only it is audited."""
        doc = codecs.dumps(settings.to_json())

        async def tx(t: Tx) -> tuple[Bucket, bool]:
            created = await t.run(
                "INSERT INTO buckets (name, created, settings, owner) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                name,
                now,
                doc,
                owner,
            )
            if created == 1:
                await self._audit(t, change)
            return await self._bucket(t, name), created == 1

        return await self._db.write(tx)

    async def update_bucket(
        self, name: str, changes: Mapping[str, Any], *, change: Change | None = None
    ) -> Bucket:
        """Read the settings locked (``FOR UPDATE`` where the dialect has it), merge
        ``changes``, write them back in the same transaction; a changed replication recounts
        the wanted copies of the bucket's chunks (``refs.recount_replicas``)."""

        async def tx(t: Tx) -> Bucket:
            row = await t.one(
                f"SELECT settings FROM buckets WHERE name = ?{self._d.for_update}", name
            )
            if row is None:
                raise NoSuchBucket(f"bucket {name!r} does not exist")
            current = BucketSettings.from_json(json.loads(row[0]))
            updated = current.updated(changes)
            await t.run(
                "UPDATE buckets SET settings = ? WHERE name = ?",
                codecs.dumps(updated.to_json()),
                name,
            )
            if updated.replication != current.replication:
                await recount_replicas(t, self._d, name)
            await self._audit(t, change)
            return await self._bucket(t, name)

        return await self._db.write(tx)

    async def set_bucket_config(
        self, name: str, section: str, value: Any, *, change: Change | None = None
    ) -> Bucket:
        """Rewrite one section of the locked ``config`` document; an ``acl`` section moves
        ``public_read`` with it, in the same transaction."""
        if section not in CONFIG_SECTIONS:
            raise ValueError(f"unknown bucket configuration section {section!r}")

        async def tx(t: Tx) -> Bucket:
            row = await t.one(
                f"SELECT config FROM buckets WHERE name = ?{self._d.for_update}", name
            )
            if row is None:
                raise NoSuchBucket(f"bucket {name!r} does not exist")
            doc = json.loads(row[0])
            doc[section] = value
            await t.run("UPDATE buckets SET config = ? WHERE name = ?", codecs.dumps(doc), name)
            if section == "acl":
                await self._follow_acl(t, name, str(value))
            await self._audit(t, change)
            return await self._bucket(t, name)

        return await self._db.write(tx)

    async def _follow_acl(self, t: Tx, name: str, acl: str) -> None:
        """Keep ``public_read`` in step with a canned ACL, in the same transaction."""
        row = await t.one(f"SELECT settings FROM buckets WHERE name = ?{self._d.for_update}", name)
        assert row is not None
        settings = BucketSettings.from_json(json.loads(row[0])).updated(
            {"public_read": anonymous_reads(acl)}
        )
        doc = codecs.dumps(settings.to_json())
        await t.run("UPDATE buckets SET settings = ? WHERE name = ?", doc, name)

    async def get_bucket(self, name: str) -> Bucket:
        """A point read of the bucket, its totals summed over the stats shards."""

        async def q(t: Tx) -> Bucket:
            return await self._bucket(t, name)

        return await self._db.read(q, point=True)

    async def list_buckets(self) -> list[Bucket]:
        """Every bucket with its summed totals, by name."""

        async def q(t: Tx) -> list[Bucket]:
            return [codecs.bucket(r) for r in await t.all(f"{self._bucket_select} ORDER BY b.name")]

        return await self._db.read(q)

    async def delete_bucket(self, name: str, *, now: float, change: Change | None = None) -> None:
        """Lock the bucket row first, so no insert can add an object between the emptiness
        checks and the delete; pending parts give their chunk references back."""

        async def tx(t: Tx) -> None:
            # The lock conflicts with the key-share lock every insert's foreign key check
            # takes, so no object can appear between the emptiness check and the delete.
            await self._require_bucket(t, name, self._d.for_update)
            if await t.one("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", name):
                raise BucketNotEmpty(f"bucket {name!r} still holds objects")
            if await self._history.holds_any(t, name):
                raise BucketNotEmpty(f"bucket {name!r} still holds object versions")
            # Lock the bucket's multipart uploads (in one order) before reading their parts: a
            # racing abort or part upload either finished before (its parts are read as it
            # left them) or waits and then finds no upload. Unlocked, an abort committing
            # between this read and the subtraction would give the same references back twice.
            await t.all(
                "SELECT upload_id FROM multipart_uploads WHERE bucket = ? "
                f"ORDER BY upload_id{self._d.for_update}",
                name,
            )
            rows = await t.all(
                "SELECT p.chunks FROM parts p JOIN multipart_uploads m "
                "ON p.upload_id = m.upload_id WHERE m.bucket = ?",
                name,
            )
            lost = [frozenset(c.sha256 for c in codecs.chunks(r[0])) for r in rows]
            await apply_ref_delta(t, ref_delta((), lost), now, bucket=name, dialect=self._d)
            await t.run("DELETE FROM uploads WHERE bucket = ?", name)
            await t.run("DELETE FROM multipart_uploads WHERE bucket = ?", name)
            # Nothing in the bucket names a chunk now; a bucket made later under this name
            # starts with no claim to any.
            await t.run("DELETE FROM bucket_chunks WHERE bucket = ?", name)
            await t.run("DELETE FROM buckets WHERE name = ?", name)
            await self._audit(t, change)

        await self._db.write(tx)

    # -- objects -----------------------------------------------------------------------------

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        """A point read; the bucket is checked only when the key is absent."""
        raw = key.encode()

        async def q(t: Tx) -> ObjectRecord | None:
            row = await t.one(
                f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?", bucket, raw
            )
            if row is None:
                await self._require_bucket(t, bucket)
                return None
            return codecs.record(bucket, row)

        return await self._db.read(q, point=True)

    async def _current(
        self, t: Tx, bucket: str, raw: bytes, *, lock: bool = True
    ) -> tuple[ObjectRecord, int] | None:
        """The key's current version and its place among the key's versions, locked unless
        this is a read."""
        row = await t.one(
            f"SELECT {OBJECT_COLUMNS}, vseq FROM objects WHERE bucket = ? AND key = ?"
            f"{self._d.for_update if lock else ''}",
            bucket,
            raw,
        )
        return (codecs.record(bucket, row), int(row[16])) if row else None

    async def _mode(self, t: Tx, bucket: str) -> str | None:
        """The bucket's versioning status; raises NoSuchBucket."""
        row = await t.one("SELECT versioning FROM buckets WHERE name = ?", bucket)
        if row is None:
            raise NoSuchBucket(f"bucket {bucket!r} does not exist")
        return str(row[0]) if row[0] is not None else None

    async def _store_current(
        self, t: Tx, record: ObjectRecord, seq: int, replaced: tuple[ObjectRecord, int] | None
    ) -> bool:
        """Insert ``record`` as the key's current version, or replace ``replaced`` (guarded by
        its version); False when another writer got there first."""
        values = codecs.record_values(record)
        if replaced is None:
            written = await t.run(
                f"INSERT INTO objects (bucket, {OBJECT_COLUMNS}, vseq) "
                f"VALUES (?, {_PLACEHOLDERS}, ?) ON CONFLICT (bucket, key) DO NOTHING",
                record.bucket,
                *values,
                seq,
            )
        else:
            written = await t.run(
                "UPDATE objects SET size = ?, etag = ?, modified = ?, content_type = ?, "
                "sha256 = ?, version = ?, metadata = ?, tags = ?, chunks = ?, checksums = ?, "
                "headers = ?, version_id = ?, parts = ?, acl = ?, inline = ?, vseq = ? "
                "WHERE bucket = ? AND key = ? AND version = ?",
                *values[1:],
                seq,
                record.bucket,
                values[0],
                replaced[0].version,
            )
        return written == 1

    async def _write_object(
        self,
        t: Tx,
        record: ObjectRecord,
        condition: WriteCondition,
        also_lost: list[frozenset[str]],
        change: Change | None,
    ) -> tuple[ObjectRecord, ObjectRecord | None]:
        """Make ``record`` the key's current version under ``condition`` and the bucket's
        versioning (``core/versions.py``); moves references and totals. Returns the version
        as stored and the one it replaced."""
        mode = await self._mode(t, record.bucket)
        raw = record.key.encode()
        for _ in range(WRITE_TRIES):
            found = await self._current(t, record.bucket, raw)
            current = found[0] if found else None
            condition.check(current.etag if current else None, current.version if current else None)
            plan = versions.plan_put(mode, current, record)
            assert plan.current is not None
            if found is not None:
                seq = found[1] + 1
            else:
                seq = 1 + (await self._history.top_seq(t, record.bucket, raw) if mode else 0)
            plan = dataclasses.replace(plan, current=versions.placed(plan.current, seq))
            assert plan.current is not None
            if await self._store_current(t, plan.current, seq, found):
                break
        else:
            raise ConcurrentUpdate("the object kept changing under this write; retry it")
        lost, _ = await self._history.apply(t, record.bucket, raw, plan, found)
        delta = ref_delta([plan.current.chunk_names()], lost + also_lost)
        await apply_ref_delta(t, delta, record.modified, bucket=record.bucket, dialect=self._d)
        await self._count(
            t,
            record.bucket,
            raw,
            0 if current else 1,
            record.size - (current.size if current else 0),
        )
        await self._audit(t, change)
        return plan.current, current

    @staticmethod
    async def _count(t: Tx, bucket: str, raw: bytes, objects: int, size: int) -> None:
        if not objects and not size:
            return
        await t.run(
            "INSERT INTO bucket_stats (bucket, shard, objects, bytes) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (bucket, shard) DO UPDATE SET "
            "objects = bucket_stats.objects + excluded.objects, "
            "bytes = bucket_stats.bytes + excluded.bytes",
            bucket,
            _shard(raw),
            objects,
            size,
        )

    async def put_object(
        self,
        record: ObjectRecord,
        condition: WriteCondition,
        *,
        upload_id: str | None = None,
        change: Change | None = None,
    ) -> tuple[ObjectRecord, ObjectRecord | None]:
        """The guarded write of ``_write_object``; with ``upload_id`` the upload row is deleted
        in the same transaction, and the put fails unless it was still unexpired."""

        async def tx(t: Tx) -> tuple[ObjectRecord, ObjectRecord | None]:
            written = await self._write_object(t, record, condition, [], change)
            if upload_id is not None:
                consumed = await t.run(
                    "DELETE FROM uploads WHERE upload_id = ? AND expires > ?",
                    upload_id,
                    record.modified,
                )
                if consumed != 1:
                    raise NoSuchUpload()
            return written

        return await self._db.write(tx)

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
        """The guarded delete of the current version, or of one version by id; the audit
        entry records what was removed or the marker added."""
        raw = key.encode()

        async def tx(t: Tx) -> ObjectRecord | None:
            mode = await self._mode(t, bucket)
            if version_id is not None:
                removed = await self._remove_version(t, bucket, raw, version_id, condition, now)
            else:
                removed = await self._delete_current(t, mode, bucket, raw, condition, now)
            if removed is not None and change is not None:
                await self._audit(t, deleted_change(change, removed))
            return removed

        return await self._db.write(tx)

    async def _delete_current(
        self,
        t: Tx,
        mode: str | None,
        bucket: str,
        raw: bytes,
        condition: WriteCondition,
        now: float,
    ) -> ObjectRecord | None:
        """A delete without a version id: removes the current version, or in a versioned
        bucket adds a delete marker; returns what was removed or the marker added."""
        for _ in range(WRITE_TRIES):
            found = await self._current(t, bucket, raw)
            current = found[0] if found else None
            condition.check(current.etag if current else None, current.version if current else None)
            plan = versions.plan_delete(mode, current, bucket=bucket, key=raw.decode(), now=now)
            if found is None:
                break
            deleted = await t.run(
                "DELETE FROM objects WHERE bucket = ? AND key = ? AND version = ?",
                bucket,
                raw,
                found[0].version,
            )
            if deleted == 1:
                break
        else:
            raise ConcurrentUpdate("the object kept changing under this delete; retry it")
        if current is None and mode is None:
            return None
        lost, added = await self._history.apply(t, bucket, raw, plan, found)
        await apply_ref_delta(t, ref_delta((), lost), now, bucket=bucket, dialect=self._d)
        if current is not None:
            await self._count(t, bucket, raw, -1, -current.size)
        return added[-1] if added else current

    async def _remove_version(
        self,
        t: Tx,
        bucket: str,
        raw: bytes,
        version_id: str,
        condition: WriteCondition,
        now: float,
    ) -> ObjectRecord | None:
        """Remove one version (or delete marker) for good; if it was the current version or
        the newest marker, the version beneath becomes current (``versions.promotes``)."""
        for _ in range(WRITE_TRIES):
            found = await self._current(t, bucket, raw)
            if found is not None and found[0].version_id == version_id:
                removed = found[0]
                condition.check(removed.etag, removed.version)
                gone = await t.run(
                    "DELETE FROM objects WHERE bucket = ? AND key = ? AND version = ?",
                    bucket,
                    raw,
                    removed.version,
                )
                if gone != 1:
                    continue
                await self._count(t, bucket, raw, -1, -removed.size)
                found = None
                break
            old = await self._history.find(t, bucket, raw, version_id, lock=True)
            if old is None:
                condition.check(None, None)
                return None
            removed = old[0]
            condition.check(removed.etag if not removed.delete_marker else None, removed.version)
            if await self._history.remove(t, bucket, raw, old[1]):
                break
        else:
            raise ConcurrentUpdate("the key's versions kept changing under this delete; retry it")
        await apply_ref_delta(
            t, ref_delta((), [removed.chunk_names()]), now, bucket=bucket, dialect=self._d
        )
        if found is None:
            await self._promote(t, bucket, raw)
        return removed

    async def _promote(self, t: Tx, bucket: str, raw: bytes) -> None:
        """Make the newest historic version current when the key has none and it is not a
        delete marker."""
        top = await self._history.top(t, bucket, raw)
        if top is None or not versions.promotes(top[0]):
            return
        record, seq = top
        if await self._store_current(t, record, seq, None):
            await self._history.remove(t, bucket, raw, seq)
            await self._count(t, bucket, raw, 1, record.size)

    async def get_version(
        self, bucket: str, key: str, version_id: str | None
    ) -> ObjectRecord | None:
        """The current row when it matches, else the history table; with no ``version_id``
        a history top counts only when it is a delete marker."""
        raw = key.encode()

        async def q(t: Tx) -> ObjectRecord | None:
            await self._mode(t, bucket)
            found = await self._current(t, bucket, raw, lock=False)
            if found is not None and version_id in (None, found[0].version_id):
                return found[0]
            if version_id is None:
                top = await self._history.top(t, bucket, raw, lock=False)
                return top[0] if top and top[0].delete_marker else None
            old = await self._history.find(t, bucket, raw, version_id)
            return old[0] if old else None

        return await self._db.read(q, point=True)

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
        """Update ``tags`` and ``acl`` of the one row, current or historic, and no other
        column; a current row is read locked."""
        raw = key.encode()

        async def tx(t: Tx) -> ObjectRecord | None:
            await self._mode(t, bucket)
            found = await self._current(t, bucket, raw)
            if found is not None and version_id in (None, found[0].version_id):
                table, record = "objects", found[0]
            elif version_id is None:
                return None
            else:
                old = await self._history.find(t, bucket, raw, version_id)
                if old is None:
                    return None
                record = old[0]
                table = "object_versions"
            if record.delete_marker:
                return record
            if expect_version is not None and record.version != expect_version:
                raise ConcurrentUpdate("the object changed since it was read; retry")
            amended = dataclasses.replace(
                record,
                tags=dict(tags) if tags is not None else record.tags,
                acl=acl if acl is not None else record.acl,
            )
            where = "bucket = ? AND key = ? AND version_id = ?"
            await t.run(
                f"UPDATE {table} SET tags = ?, acl = ? WHERE {where}",
                codecs.dumps(amended.tags),
                amended.acl,
                bucket,
                raw,
                record.version_id,
            )
            await self._audit(t, change)
            return amended

        return await self._db.write(tx)

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
        """Lock up to ``limit + 1`` source rows and move each by a write and a guarded delete,
        all in one transaction: any write to a source key since fails the whole move."""
        lo = source.encode()
        hi = prefix_end(lo)

        async def tx(t: Tx) -> list[ObjectRecord]:
            mode = await self._mode(t, bucket)
            sql = f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key >= ?"
            args: list[Any] = [bucket, lo]
            if hi is not None:
                sql += " AND key < ?"
                args.append(hi)
            rows = await t.all(sql + f" ORDER BY key LIMIT ?{self._d.for_update}", *args, limit + 1)
            if len(rows) > limit:
                raise InvalidArgument(f"more than {limit} objects under {source!r}: move fewer")
            moved = []
            for row in rows:
                old = codecs.record(bucket, row)
                new = dataclasses.replace(
                    old,
                    key=target + old.key[len(source) :],
                    modified=now,
                    version=secrets.token_hex(8),
                    version_id=versions.new_version_id(),
                    upload_id=None,
                )
                change = audit("put", new) if audit else None
                stored, _ = await self._write_object(t, new, NO_CONDITION, [], change)
                # Only the version that was moved is removed: a write to the staged key
                # since it was read fails the whole move (ConcurrentUpdate, nothing moved).
                gone = await self._delete_current(
                    t,
                    mode,
                    bucket,
                    old.key.encode(),
                    WriteCondition(expect_version=old.version),
                    now,
                )
                if gone is not None and audit is not None:
                    await self._audit(t, deleted_change(audit("delete", old), gone))
                moved.append(stored)
            return moved

        return await self._db.write(tx)

    async def version_seq(self, bucket: str, key: str, version_id: str) -> int | None:
        """``vseq`` of the current row when it matches, else of the historic version."""
        raw = key.encode()

        async def q(t: Tx) -> int | None:
            found = await self._current(t, bucket, raw, lock=False)
            if found is not None and found[0].version_id == version_id:
                return found[1]
            old = await self._history.find(t, bucket, raw, version_id)
            return old[1] if old else None

        return await self._db.read(q)

    async def scan_versions(
        self, bucket: str, prefix: bytes, after: tuple[bytes, int] | None, limit: int
    ) -> list[VersionInfo]:
        """The history's scan (``meta/sql/history.py``), in one read."""

        async def q(t: Tx) -> list[VersionInfo]:
            return await self._history.scan(t, bucket, prefix, after, limit)

        return await self._db.read(q)

    async def set_versioning(
        self, bucket: str, status: str, *, change: Change | None = None
    ) -> Bucket:
        """Update ``versioning`` after checking the bucket exists, with its audit entry."""

        async def tx(t: Tx) -> Bucket:
            await self._mode(t, bucket)
            await t.run("UPDATE buckets SET versioning = ? WHERE name = ?", status, bucket)
            await self._audit(t, change)
            return await self._bucket(t, bucket)

        return await self._db.write(tx)

    async def scan_objects(
        self, bucket: str, prefix: bytes, start: bytes, limit: int
    ) -> list[ObjectInfo]:
        """A range scan of ``objects`` from ``max(start, prefix)`` to the prefix's end,
        by key bytes."""
        end = prefix_end(prefix)
        sql = (
            "SELECT key, size, etag, modified, content_type FROM objects "
            "WHERE bucket = ? AND key >= ?"
        )
        args: list[Any] = [bucket, max(start, prefix)]
        if end is not None:
            sql += " AND key < ?"
            args.append(end)
        sql += " ORDER BY key LIMIT ?"
        args.append(limit)

        async def q(t: Tx) -> list[ObjectInfo]:
            return [
                ObjectInfo(
                    key=bytes(k).decode(), size=size, etag=etag, modified=mod, content_type=ctype
                )
                for k, size, etag, mod, ctype in await t.all(sql, *args)
            ]

        return await self._db.read(q)

    # -- the audit chain ---------------------------------------------------------------------

    async def audit_page(self, bucket: str, after: int, limit: int) -> list[Entry]:
        """The chain's page as ``meta/sql/audit.py`` reads it."""

        async def q(t: Tx) -> list[Entry]:
            return await audit.page(t, bucket, after, limit)

        return await self._db.read(q)

    async def audit_head(self, bucket: str) -> tuple[int, str] | None:
        """The chain's last entry as ``meta/sql/audit.py`` records it."""

        async def q(t: Tx) -> tuple[int, str] | None:
            return await audit.head(t, bucket)

        return await self._db.read(q)

    # -- two-step uploads --------------------------------------------------------------------

    async def create_upload(self, upload: Upload) -> None:
        """Check the bucket, then insert the upload row."""

        async def tx(t: Tx) -> None:
            await self._require_bucket(t, upload.bucket)
            await t.run(
                f"INSERT INTO uploads ({UPLOAD_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                *codecs.upload_values(upload),
            )

        await self._db.write(tx)

    async def get_upload(self, upload_id: str, now: float) -> Upload | None:
        """The row while ``expires`` is after ``now``: an expired upload is never returned."""

        async def q(t: Tx) -> Upload | None:
            row = await t.one(
                f"SELECT {UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ? AND expires > ?",
                upload_id,
                now,
            )
            return codecs.upload(row) if row else None

        return await self._db.read(q)

    async def expire_uploads(self, now: float, limit: int) -> int:
        """Delete at most ``limit`` rows with ``expires <= now``; counts the rows deleted."""

        async def tx(t: Tx) -> int:
            return await t.run(
                "DELETE FROM uploads WHERE upload_id IN "
                "(SELECT upload_id FROM uploads WHERE expires <= ? LIMIT ?)",
                now,
                limit,
            )

        return await self._db.write(tx)

    # -- multipart uploads -------------------------------------------------------------------

    async def create_multipart(self, upload: MultipartUpload) -> None:
        """Check the bucket, then insert the upload row."""

        async def tx(t: Tx) -> None:
            await self._require_bucket(t, upload.bucket)
            await t.run(
                f"INSERT INTO multipart_uploads ({MULTIPART_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                *codecs.multipart_values(upload),
            )

        await self._db.write(tx)

    async def get_multipart(self, upload_id: str) -> MultipartUpload | None:
        """A read of the upload row, present only while the upload is in progress."""

        async def q(t: Tx) -> MultipartUpload | None:
            row = await t.one(
                f"SELECT {MULTIPART_COLUMNS} FROM multipart_uploads WHERE upload_id = ?",
                upload_id,
            )
            return codecs.multipart(row) if row else None

        return await self._db.read(q)

    async def _lock_multipart(self, t: Tx, upload_id: str) -> str:
        """Lock the upload row (parts, completion and abort of one upload take turns); its
        bucket."""
        row = await t.one(
            f"SELECT bucket FROM multipart_uploads WHERE upload_id = ?{self._d.for_update}",
            upload_id,
        )
        if row is None:
            raise NoSuchUpload()
        return str(row[0])

    @staticmethod
    async def _part_chunks(t: Tx, upload_id: str) -> list[frozenset[str]]:
        rows = await t.all("SELECT chunks FROM parts WHERE upload_id = ?", upload_id)
        return [frozenset(c.sha256 for c in codecs.chunks(r[0])) for r in rows]

    async def put_part(self, part: Part, *, now: float) -> None:
        """Under the upload's row lock, upsert the part and move references from the chunks
        of the part it replaces to its own."""

        async def tx(t: Tx) -> None:
            bucket = await self._lock_multipart(t, part.upload_id)
            old = await t.one(
                "SELECT chunks FROM parts WHERE upload_id = ? AND number = ?",
                part.upload_id,
                part.number,
            )
            await t.run(
                f"INSERT INTO parts ({PART_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (upload_id, number) DO UPDATE SET size = excluded.size, "
                "etag = excluded.etag, modified = excluded.modified, chunks = excluded.chunks, "
                "checksums = excluded.checksums",
                *codecs.part_values(part),
            )
            lost = [frozenset(c.sha256 for c in codecs.chunks(old[0]))] if old else []
            gained = [frozenset(c.sha256 for c in part.chunks)]
            await apply_ref_delta(t, ref_delta(gained, lost), now, bucket=bucket, dialect=self._d)

        await self._db.write(tx)

    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]:
        """A keyset page of ``parts`` by part number."""

        async def q(t: Tx) -> list[Part]:
            rows = await t.all(
                f"SELECT {PART_COLUMNS} FROM parts WHERE upload_id = ? AND number > ? "
                "ORDER BY number LIMIT ?",
                upload_id,
                after,
                limit,
            )
            return [codecs.part(r) for r in rows]

        return await self._db.read(q)

    async def list_multiparts(
        self, bucket: str, prefix: bytes, after: tuple[bytes, str] | None, limit: int
    ) -> list[MultipartUpload]:
        """A keyset page of uploads under ``prefix``, by (key bytes, upload id)."""
        end = prefix_end(prefix)
        sql = f"SELECT {MULTIPART_COLUMNS} FROM multipart_uploads WHERE bucket = ? AND key >= ?"
        args: list[Any] = [bucket, prefix]
        if end is not None:
            sql += " AND key < ?"
            args.append(end)
        if after is not None:
            sql += " AND (key > ? OR (key = ? AND upload_id > ?))"
            args += [after[0], after[0], after[1]]
        sql += " ORDER BY key, upload_id LIMIT ?"
        args.append(limit)

        async def q(t: Tx) -> list[MultipartUpload]:
            return [codecs.multipart(r) for r in await t.all(sql, *args)]

        return await self._db.read(q)

    async def stale_multiparts(self, created_before: float, limit: int) -> list[MultipartUpload]:
        """Uploads with ``created`` before the cutoff, oldest first."""

        async def q(t: Tx) -> list[MultipartUpload]:
            rows = await t.all(
                f"SELECT {MULTIPART_COLUMNS} FROM multipart_uploads WHERE created < ? "
                "ORDER BY created LIMIT ?",
                created_before,
                limit,
            )
            return [codecs.multipart(r) for r in rows]

        return await self._db.read(q)

    async def complete_multipart(
        self,
        upload_id: str,
        record: ObjectRecord,
        condition: WriteCondition,
        *,
        change: Change | None = None,
    ) -> tuple[ObjectRecord, ObjectRecord | None]:
        """Under the upload's row lock, delete the upload and its parts and write the object,
        whose references replace the parts' in the same transaction."""

        async def tx(t: Tx) -> tuple[ObjectRecord, ObjectRecord | None]:
            await self._lock_multipart(t, upload_id)
            parts = await self._part_chunks(t, upload_id)
            await t.run("DELETE FROM parts WHERE upload_id = ?", upload_id)
            await t.run("DELETE FROM multipart_uploads WHERE upload_id = ?", upload_id)
            return await self._write_object(t, record, condition, parts, change)

        return await self._db.write(tx)

    async def abort_multipart(self, upload_id: str, *, now: float) -> bool:
        """Under the upload's row lock, give back the parts' chunk references and delete the
        upload with its parts."""

        async def tx(t: Tx) -> bool:
            try:
                bucket = await self._lock_multipart(t, upload_id)
            except NoSuchUpload:
                return False
            lost = await self._part_chunks(t, upload_id)
            await apply_ref_delta(t, ref_delta((), lost), now, bucket=bucket, dialect=self._d)
            await t.run("DELETE FROM parts WHERE upload_id = ?", upload_id)
            await t.run("DELETE FROM multipart_uploads WHERE upload_id = ?", upload_id)
            return True

        return await self._db.write(tx)
