"""A wave-1 data directory (schema version 1) opens under the current schema with its objects,
its bucket totals and a reference count for every chunk its manifests and parts name."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from xolo.meta.sql.dialect import SQLITE
from xolo.meta.sql.schema import MIGRATIONS, V1
from xolo.meta.sqlite import SQLiteMetaStore

pytestmark = pytest.mark.anyio

A, B = "a" * 64, "b" * 64


def wave1_file(path: Path) -> None:
    conn = sqlite3.connect(path)
    for statement in SQLITE.ddl(V1).split(";"):
        if statement.strip():
            conn.execute(statement)
    conn.execute("PRAGMA user_version = 1")
    conn.execute(
        "INSERT INTO buckets VALUES ('old', 1.0, ?, 2, 30)",
        (json.dumps({"replication": 2, "public_read": True}),),
    )
    row = ("old", 3, "e", 1.0, "text/plain", None, "v", "{}", "{}")
    conn.execute(
        "INSERT INTO objects (bucket, key, size, etag, modified, content_type, sha256, version, "
        "metadata, tags, chunks) VALUES (?, ?, 10, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row[0], b"k1", *row[2:], json.dumps([[A, 5], [B, 5]])),
    )
    conn.execute(
        "INSERT INTO objects (bucket, key, size, etag, modified, content_type, sha256, version, "
        "metadata, tags, chunks) VALUES (?, ?, 20, ?, ?, ?, ?, ?, ?, ?, ?)",
        (row[0], b"k2", *row[2:], json.dumps([[A, 5]])),
    )
    conn.execute(
        "INSERT INTO multipart_uploads VALUES ('m', 'old', ?, 1.0, 'text/plain', '{}', '{}', "
        "NULL, '{}')",
        (b"k3",),
    )
    conn.execute("INSERT INTO parts VALUES ('m', 1, 5, 'e', 1.0, ?, '{}')", (json.dumps([[B, 5]]),))
    conn.commit()
    conn.close()


async def test_a_wave1_file_is_migrated_with_totals_and_references_per_chunk_and_bucket(
    tmp_path: Path,
) -> None:
    path = tmp_path / "meta.db"
    wave1_file(path)
    store = SQLiteMetaStore(path)
    try:
        bucket = await store.get_bucket("old")
        assert (bucket.object_count, bucket.bytes_used) == (2, 30)
        assert bucket.settings.replication == 2 and bucket.settings.public_read
        infos = await store.chunk_infos([A, B])
        assert (infos[A].refs, infos[B].refs) == (2, 2)
        assert await store.bucket_chunks("old", [A, B]) == {A, B}  # counted per bucket too
        assert await store.bucket_chunks("new", [A, B]) == frozenset()
        record = await store.get_object("old", "k1")
        assert record is not None and [c.sha256 for c in record.chunks] == [A, B]
    finally:
        await store.close()
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA user_version").fetchone()[0] == len(MIGRATIONS)
    conn.close()
