"""The SQLite MetaStore: the embedded default, one file in WAL mode."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

from xolo.core.conditions import WriteCondition
from xolo.core.errors import BucketNotEmpty, NoSuchBucket, NoSuchUpload
from xolo.core.listing import prefix_end
from xolo.core.records import (
    AccessKey,
    Bucket,
    BucketSettings,
    ChunkRef,
    MultipartUpload,
    ObjectInfo,
    ObjectRecord,
    Part,
    Upload,
)
from xolo.meta.migrations import MIGRATIONS
from xolo.meta.sqlite_runner import SQLiteRunner

_OBJECT_COLUMNS = (
    "key, size, etag, modified, content_type, sha256, version, metadata, tags, chunks, "
    "checksums, headers, inline"
)


def _migrate(conn: sqlite3.Connection) -> None:
    (version,) = conn.execute("PRAGMA user_version").fetchone()
    for number, script in enumerate(MIGRATIONS[version:], start=version + 1):
        for statement in script.split(";"):
            if statement.strip():
                conn.execute(statement)
        conn.execute(f"PRAGMA user_version = {number}")


def _bucket(row: tuple[Any, ...]) -> Bucket:
    name, created, settings, count, used = row
    return Bucket(name, created, BucketSettings.from_json(json.loads(settings)), count, used)


def _object(bucket: str, row: tuple[Any, ...]) -> ObjectRecord:
    (
        key,
        size,
        etag,
        modified,
        ctype,
        sha256,
        version,
        metadata,
        tags,
        chunks,
        sums,
        hdrs,
        inline,
    ) = row
    return ObjectRecord(
        bucket=bucket,
        key=key.decode(),
        size=size,
        etag=etag,
        sha256=sha256,
        modified=modified,
        version=version,
        content_type=ctype,
        metadata=json.loads(metadata),
        tags=json.loads(tags),
        chunks=_chunks(chunks),
        inline=inline,
        checksums=json.loads(sums),
        headers=json.loads(hdrs),
    )


def _chunks(doc: str) -> tuple[ChunkRef, ...]:
    return tuple(ChunkRef(h, n) for h, n in json.loads(doc))


def _chunks_json(chunks: tuple[ChunkRef, ...]) -> str:
    return json.dumps([[c.sha256, c.size] for c in chunks])


def _object_row(record: ObjectRecord) -> tuple[Any, ...]:
    return (
        record.bucket,
        record.key.encode(),
        record.size,
        record.etag,
        record.modified,
        record.content_type,
        record.sha256,
        record.version,
        json.dumps(dict(record.metadata)),
        json.dumps(dict(record.tags)),
        _chunks_json(record.chunks),
        json.dumps(dict(record.checksums)),
        json.dumps(dict(record.headers)),
        record.inline,
    )


_MULTIPART_COLUMNS = (
    "upload_id, bucket, key, created, content_type, metadata, tags, checksum_algorithm, headers"
)

_PART_COLUMNS = "upload_id, number, size, etag, modified, chunks, checksums"


def _multipart(row: tuple[Any, ...]) -> MultipartUpload:
    uid, bucket, key, created, ctype, metadata, tags, algorithm, hdrs = row
    return MultipartUpload(
        uid,
        bucket,
        key.decode(),
        created,
        ctype,
        json.loads(metadata),
        json.loads(tags),
        algorithm,
        json.loads(hdrs),
    )


def _part(row: tuple[Any, ...]) -> Part:
    uid, number, size, etag, modified, chunks, sums = row
    return Part(uid, number, size, etag, modified, _chunks(chunks), json.loads(sums))


def _require_bucket(conn: sqlite3.Connection, name: str) -> None:
    if conn.execute("SELECT 1 FROM buckets WHERE name = ?", (name,)).fetchone() is None:
        raise NoSuchBucket(f"bucket {name!r} does not exist")


class SQLiteMetaStore:
    def __init__(self, path: Path | str, *, readers: int = 4, synchronous: str = "FULL") -> None:
        self._db = SQLiteRunner(path, readers=readers, synchronous=synchronous)
        self._db.write_sync(_migrate)

    async def put_bucket(
        self, name: str, settings: BucketSettings, now: float
    ) -> tuple[Bucket, bool]:
        doc = json.dumps(settings.to_json())

        def tx(conn: sqlite3.Connection) -> tuple[Bucket, bool]:
            cur = conn.execute(
                "INSERT INTO buckets (name, created, settings) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO NOTHING",
                (name, now, doc),
            )
            created = cur.rowcount == 1
            if not created:
                conn.execute("UPDATE buckets SET settings = ? WHERE name = ?", (doc, name))
            row = conn.execute("SELECT * FROM buckets WHERE name = ?", (name,)).fetchone()
            return _bucket(row), created

        return await self._db.write(tx)

    async def get_bucket(self, name: str) -> Bucket:
        def q(conn: sqlite3.Connection) -> Bucket:
            row = conn.execute("SELECT * FROM buckets WHERE name = ?", (name,)).fetchone()
            if row is None:
                raise NoSuchBucket(f"bucket {name!r} does not exist")
            return _bucket(row)

        return await self._db.read(q)

    async def list_buckets(self) -> list[Bucket]:
        def q(conn: sqlite3.Connection) -> list[Bucket]:
            return [_bucket(r) for r in conn.execute("SELECT * FROM buckets ORDER BY name")]

        return await self._db.read(q)

    async def delete_bucket(self, name: str) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            row = conn.execute(
                "SELECT object_count FROM buckets WHERE name = ?", (name,)
            ).fetchone()
            if row is None:
                raise NoSuchBucket(f"bucket {name!r} does not exist")
            if row[0]:
                raise BucketNotEmpty(f"bucket {name!r} still holds {row[0]} objects")
            conn.execute("DELETE FROM buckets WHERE name = ?", (name,))

        await self._db.write(tx)

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        raw = key.encode()

        def q(conn: sqlite3.Connection) -> ObjectRecord | None:
            row = conn.execute(
                f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?", (bucket, raw)
            ).fetchone()
            if row is None:
                _require_bucket(conn, bucket)
                return None
            return _object(bucket, row)

        return await self._db.read(q)

    async def put_object(
        self, record: ObjectRecord, condition: WriteCondition, *, upload_id: str | None = None
    ) -> ObjectRecord | None:
        raw = record.key.encode()
        values = _object_row(record)

        def tx(conn: sqlite3.Connection) -> ObjectRecord | None:
            return self._put_object(conn, record, raw, values, condition, upload_id)

        return await self._db.write(tx)

    @staticmethod
    def _put_object(
        conn: sqlite3.Connection,
        record: ObjectRecord,
        raw: bytes,
        values: tuple[Any, ...],
        condition: WriteCondition,
        upload_id: str | None,
    ) -> ObjectRecord | None:
        _require_bucket(conn, record.bucket)
        row = conn.execute(
            f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?",
            (record.bucket, raw),
        ).fetchone()
        current = _object(record.bucket, row) if row else None
        condition.check(current.etag if current else None, current.version if current else None)
        if upload_id is not None:
            cur = conn.execute(
                "DELETE FROM uploads WHERE upload_id = ? AND expires > ?",
                (upload_id, record.modified),
            )
            if cur.rowcount != 1:
                raise NoSuchUpload()
        conn.execute(
            f"INSERT OR REPLACE INTO objects (bucket, {_OBJECT_COLUMNS}) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            values,
        )
        conn.execute(
            "UPDATE buckets SET object_count = object_count + ?, bytes_used = bytes_used + ? "
            "WHERE name = ?",
            (
                0 if current else 1,
                record.size - (current.size if current else 0),
                record.bucket,
            ),
        )
        return current

    async def delete_object(
        self, bucket: str, key: str, condition: WriteCondition
    ) -> ObjectRecord | None:
        raw = key.encode()

        def tx(conn: sqlite3.Connection) -> ObjectRecord | None:
            _require_bucket(conn, bucket)
            row = conn.execute(
                f"SELECT {_OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?", (bucket, raw)
            ).fetchone()
            current = _object(bucket, row) if row else None
            condition.check(current.etag if current else None, current.version if current else None)
            if current is None:
                return None
            conn.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, raw))
            conn.execute(
                "UPDATE buckets SET object_count = object_count - 1, bytes_used = bytes_used - ? "
                "WHERE name = ?",
                (current.size, bucket),
            )
            return current

        return await self._db.write(tx)

    async def scan_objects(
        self, bucket: str, prefix: bytes, start: bytes, limit: int
    ) -> list[ObjectInfo]:
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

        def q(conn: sqlite3.Connection) -> list[ObjectInfo]:
            return [
                ObjectInfo(k.decode(), size, etag, modified, ctype)
                for k, size, etag, modified, ctype in conn.execute(sql, args)
            ]

        return await self._db.read(q)

    async def create_upload(self, upload: Upload) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            _require_bucket(conn, upload.bucket)
            conn.execute(
                "INSERT INTO uploads VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    upload.upload_id,
                    upload.bucket,
                    upload.key,
                    upload.size,
                    upload.sha256,
                    upload.content_type,
                    json.dumps(dict(upload.tags)),
                    upload.created,
                    upload.expires,
                ),
            )

        await self._db.write(tx)

    async def get_upload(self, upload_id: str, now: float) -> Upload | None:
        def q(conn: sqlite3.Connection) -> Upload | None:
            row = conn.execute(
                "SELECT upload_id, bucket, key, size, sha256, content_type, tags, created, expires "
                "FROM uploads WHERE upload_id = ? AND expires > ?",
                (upload_id, now),
            ).fetchone()
            if row is None:
                return None
            uid, bucket, key, size, sha256, ctype, tags, created, expires = row
            return Upload(uid, bucket, key, size, sha256, ctype, json.loads(tags), created, expires)

        return await self._db.read(q)

    async def create_multipart(self, upload: MultipartUpload) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            _require_bucket(conn, upload.bucket)
            conn.execute(
                f"INSERT INTO multipart_uploads ({_MULTIPART_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    upload.upload_id,
                    upload.bucket,
                    upload.key.encode(),
                    upload.created,
                    upload.content_type,
                    json.dumps(dict(upload.metadata)),
                    json.dumps(dict(upload.tags)),
                    upload.checksum_algorithm,
                    json.dumps(dict(upload.headers)),
                ),
            )

        await self._db.write(tx)

    async def get_multipart(self, upload_id: str) -> MultipartUpload | None:
        def q(conn: sqlite3.Connection) -> MultipartUpload | None:
            row = conn.execute(
                f"SELECT {_MULTIPART_COLUMNS} FROM multipart_uploads WHERE upload_id = ?",
                (upload_id,),
            ).fetchone()
            return _multipart(row) if row else None

        return await self._db.read(q)

    async def put_part(self, part: Part) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            exists = conn.execute(
                "SELECT 1 FROM multipart_uploads WHERE upload_id = ?", (part.upload_id,)
            ).fetchone()
            if exists is None:
                raise NoSuchUpload()
            conn.execute(
                f"INSERT OR REPLACE INTO parts ({_PART_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    part.upload_id,
                    part.number,
                    part.size,
                    part.etag,
                    part.modified,
                    _chunks_json(part.chunks),
                    json.dumps(dict(part.checksums)),
                ),
            )

        await self._db.write(tx)

    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]:
        def q(conn: sqlite3.Connection) -> list[Part]:
            rows = conn.execute(
                f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id = ? AND number > ? "
                "ORDER BY number LIMIT ?",
                (upload_id, after, limit),
            )
            return [_part(r) for r in rows]

        return await self._db.read(q)

    async def list_multiparts(
        self, bucket: str, prefix: bytes, after: tuple[bytes, str] | None, limit: int
    ) -> list[MultipartUpload]:
        end = prefix_end(prefix)
        sql = f"SELECT {_MULTIPART_COLUMNS} FROM multipart_uploads WHERE bucket = ? AND key >= ?"
        args: list[Any] = [bucket, prefix]
        if end is not None:
            sql += " AND key < ?"
            args.append(end)
        if after is not None:
            sql += " AND (key > ? OR (key = ? AND upload_id > ?))"
            args += [after[0], after[0], after[1]]
        sql += " ORDER BY key, upload_id LIMIT ?"
        args.append(limit)

        def q(conn: sqlite3.Connection) -> list[MultipartUpload]:
            return [_multipart(r) for r in conn.execute(sql, args)]

        return await self._db.read(q)

    async def complete_multipart(
        self, upload_id: str, record: ObjectRecord, condition: WriteCondition
    ) -> ObjectRecord | None:
        raw = record.key.encode()
        values = _object_row(record)

        def tx(conn: sqlite3.Connection) -> ObjectRecord | None:
            cur = conn.execute("DELETE FROM multipart_uploads WHERE upload_id = ?", (upload_id,))
            if cur.rowcount != 1:
                raise NoSuchUpload()
            return self._put_object(conn, record, raw, values, condition, None)

        return await self._db.write(tx)

    async def abort_multipart(self, upload_id: str) -> bool:
        def tx(conn: sqlite3.Connection) -> bool:
            cur = conn.execute("DELETE FROM multipart_uploads WHERE upload_id = ?", (upload_id,))
            return cur.rowcount == 1

        return await self._db.write(tx)

    async def referenced_chunks(self) -> set[str]:
        def q(conn: sqlite3.Connection) -> set[str]:
            names: set[str] = set()
            conn.execute("BEGIN")  # one snapshot across both tables
            try:
                for sql in (
                    "SELECT chunks FROM objects WHERE chunks != '[]'",
                    "SELECT chunks FROM parts WHERE chunks != '[]'",
                ):
                    for (doc,) in conn.execute(sql):
                        names.update(h for h, _ in json.loads(doc))
            finally:
                conn.execute("COMMIT")
            return names

        return await self._db.read(q)

    async def put_key(self, key: AccessKey) -> None:
        def tx(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT OR REPLACE INTO access_keys VALUES (?, ?, ?, ?, ?)",
                (
                    key.access_key,
                    key.sealed_secret,
                    key.created,
                    int(key.is_root),
                    json.dumps(dict(key.grants)),
                ),
            )

        await self._db.write(tx)

    @staticmethod
    def _key(row: tuple[Any, ...]) -> AccessKey:
        access_key, sealed, created, is_root, grants = row
        return AccessKey(access_key, bytes(sealed), created, bool(is_root), json.loads(grants))

    async def get_key(self, access_key: str) -> AccessKey | None:
        def q(conn: sqlite3.Connection) -> AccessKey | None:
            row = conn.execute(
                "SELECT * FROM access_keys WHERE access_key = ?", (access_key,)
            ).fetchone()
            return self._key(row) if row else None

        return await self._db.read(q)

    async def list_keys(self) -> list[AccessKey]:
        def q(conn: sqlite3.Connection) -> list[AccessKey]:
            return [self._key(r) for r in conn.execute("SELECT * FROM access_keys ORDER BY 1")]

        return await self._db.read(q)

    async def close(self) -> None:
        self._db.close()
