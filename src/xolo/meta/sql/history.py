"""The version history of object keys in SQL: the ``object_versions`` table, written inside the
transactions of ``meta/sql/objects.py`` as the plans of ``core/versions.py`` say.

A key's versions are ordered by ``vseq``, higher is newer; the current version (in ``objects``)
always has the highest. Inserts that could race on PostgreSQL (two delete markers for a key with
no current version) are ``ON CONFLICT DO NOTHING`` and retried after re-reading, as every other
guarded write of the store is.
"""

from __future__ import annotations

from typing import Any

from xolo.core.errors import ConcurrentUpdate
from xolo.core.listing import prefix_end
from xolo.core.records import ObjectRecord, VersionInfo
from xolo.core.versions import NULL, Plan, placed
from xolo.meta.sql import codecs
from xolo.meta.sql.codecs import HISTORY_COLUMNS
from xolo.meta.sql.dialect import Dialect
from xolo.meta.sql.tx import Tx

TRIES = 8
_HISTORY_PLACEHOLDERS = ", ".join("?" * len(HISTORY_COLUMNS.split(",")))


class History:
    """Statements over ``object_versions`` for one dialect."""

    def __init__(self, dialect: Dialect) -> None:
        self._d = dialect

    async def top(
        self, t: Tx, bucket: str, raw: bytes, *, lock: bool = True
    ) -> tuple[ObjectRecord, int] | None:
        """The newest version in the key's history, locked where rows lock (unless a read)."""
        row = await t.one(
            f"SELECT {HISTORY_COLUMNS} FROM object_versions WHERE bucket = ? AND key = ? "
            f"ORDER BY vseq DESC LIMIT 1{self._d.for_update if lock else ''}",
            bucket,
            raw,
        )
        return codecs.history(bucket, row) if row else None

    async def top_seq(self, t: Tx, bucket: str, raw: bytes) -> int:
        """The highest place in the key's history (0 for none): a new version goes above it."""
        row = await t.one(
            "SELECT MAX(vseq) FROM object_versions WHERE bucket = ? AND key = ?", bucket, raw
        )
        return int(row[0]) if row and row[0] is not None else 0

    async def find(
        self, t: Tx, bucket: str, raw: bytes, version_id: str, lock: bool = False
    ) -> tuple[ObjectRecord, int] | None:
        """The history version ``version_id`` and its place; ``lock`` when about to change it."""
        row = await t.one(
            f"SELECT {HISTORY_COLUMNS} FROM object_versions "
            f"WHERE bucket = ? AND key = ? AND version_id = ?"
            f"{self._d.for_update if lock else ''}",
            bucket,
            raw,
            version_id,
        )
        return codecs.history(bucket, row) if row else None

    async def add(self, t: Tx, record: ObjectRecord, seq: int) -> bool:
        """Insert ``record`` at ``seq``; False when that place or version id is taken."""
        written = await t.run(
            f"INSERT INTO object_versions (bucket, {HISTORY_COLUMNS}) "
            f"VALUES (?, {_HISTORY_PLACEHOLDERS}) ON CONFLICT DO NOTHING",
            record.bucket,
            *codecs.record_values(record),
            1 if record.delete_marker else 0,
            seq,
        )
        return written == 1

    async def remove(self, t: Tx, bucket: str, raw: bytes, seq: int) -> bool:
        """Delete the history row at ``seq``; False when it is already gone (another writer won)."""
        deleted = await t.run(
            "DELETE FROM object_versions WHERE bucket = ? AND key = ? AND vseq = ?",
            bucket,
            raw,
            seq,
        )
        return deleted == 1

    async def drop_null(self, t: Tx, bucket: str, raw: bytes) -> list[frozenset[str]]:
        """Remove the key's ``null`` version from the history; the chunks it released."""
        found = await self.find(t, bucket, raw, NULL, lock=True)
        if found is None or not await self.remove(t, bucket, raw, found[1]):
            return []
        return [found[0].chunk_names()]

    async def apply(
        self,
        t: Tx,
        bucket: str,
        raw: bytes,
        plan: Plan,
        replaced: tuple[ObjectRecord, int] | None,
    ) -> tuple[list[frozenset[str]], list[ObjectRecord]]:
        """Carry out the history part of ``plan`` for the key whose current version was
        ``replaced`` (with its place); the chunk sets whose references are released, and the
        versions added as stored (a new marker's id holds its place)."""
        lost: list[frozenset[str]] = []
        if plan.drop_current and replaced is not None:
            lost.append(replaced[0].chunk_names())
        for _ in range(TRIES):
            if plan.drop_null:
                lost += await self.drop_null(t, bucket, raw)
            added = await self._add_all(t, plan, replaced, bucket, raw)
            if added is not None:
                return lost, added
        raise ConcurrentUpdate("the key's versions kept changing under this write; retry it")

    async def _add_all(
        self,
        t: Tx,
        plan: Plan,
        replaced: tuple[ObjectRecord, int] | None,
        bucket: str,
        raw: bytes,
    ) -> list[ObjectRecord] | None:
        added: list[ObjectRecord] = []
        for version in plan.to_history:
            if replaced is not None and version is replaced[0]:
                seq = replaced[1]
            else:
                newest = replaced[1] if replaced is not None else 0
                seq = max(newest, await self.top_seq(t, bucket, raw)) + 1
                version = placed(version, seq)
            if not await self.add(t, version, seq):
                return None
            added.append(version)
        return added

    async def scan(
        self,
        t: Tx,
        bucket: str,
        prefix: bytes,
        after: tuple[bytes, int] | None,
        limit: int,
    ) -> list[VersionInfo]:
        """Up to ``limit`` versions (current and historic) under ``prefix`` in listing order,
        key ascending then newest first, after the position ``after`` (key, vseq)."""
        where = "bucket = ? AND key >= ?"
        args: list[Any] = [bucket, prefix]
        end = prefix_end(prefix)
        if end is not None:
            where += " AND key < ?"
            args.append(end)
        if after is not None:
            where += " AND (key > ? OR (key = ? AND vseq < ?))"
            args += [after[0], after[0], after[1]]
        latest = (
            "CASE WHEN NOT EXISTS (SELECT 1 FROM objects o WHERE o.bucket = v.bucket "
            "AND o.key = v.key) AND v.vseq = (SELECT MAX(w.vseq) FROM object_versions w "
            "WHERE w.bucket = v.bucket AND w.key = v.key) THEN 1 ELSE 0 END"
        )
        columns = "key, vseq, version_id, size, etag, modified"
        sql = (
            f"SELECT {columns}, 0, 1 FROM objects WHERE {where} UNION ALL "
            f"SELECT {columns}, delete_marker, {latest} FROM object_versions v WHERE {where} "
            "ORDER BY 1, 2 DESC LIMIT ?"
        )
        rows = await t.all(sql, *args, *args, limit)
        return [
            VersionInfo(
                key=bytes(key).decode(),
                seq=int(seq),
                version_id=vid,
                size=int(size),
                etag=etag,
                modified=modified,
                delete_marker=bool(marker),
                is_latest=bool(is_latest),
            )
            for key, seq, vid, size, etag, modified, marker, is_latest in rows
        ]

    async def holds_any(self, t: Tx, bucket: str) -> bool:
        """Whether the bucket keeps any historic version or delete marker."""
        return (
            await t.one("SELECT 1 FROM object_versions WHERE bucket = ? LIMIT 1", bucket)
        ) is not None
