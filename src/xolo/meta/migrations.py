"""Schema migrations for the SQL metadata stores, applied in order and tracked by number.

Object keys are stored as BLOBs of their UTF-8 bytes so that ``ORDER BY key`` is byte order,
the order S3 lists in. The inline body is the last column of ``objects`` so that listings never
read its overflow pages.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    """
    CREATE TABLE buckets (
        name          TEXT PRIMARY KEY,
        created       REAL NOT NULL,
        settings      TEXT NOT NULL,
        object_count  INTEGER NOT NULL DEFAULT 0,
        bytes_used    INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE objects (
        bucket        TEXT NOT NULL REFERENCES buckets(name),
        key           BLOB NOT NULL,
        size          INTEGER NOT NULL,
        etag          TEXT NOT NULL,
        modified      REAL NOT NULL,
        content_type  TEXT NOT NULL,
        sha256        TEXT,
        version       TEXT NOT NULL,
        metadata      TEXT NOT NULL,
        tags          TEXT NOT NULL,
        chunks        TEXT NOT NULL,
        checksums     TEXT NOT NULL DEFAULT '{}',
        headers       TEXT NOT NULL DEFAULT '{}',
        inline        BLOB,
        PRIMARY KEY (bucket, key)
    );
    CREATE TABLE uploads (
        upload_id     TEXT PRIMARY KEY,
        bucket        TEXT NOT NULL REFERENCES buckets(name) ON DELETE CASCADE,
        key           TEXT NOT NULL,
        size          INTEGER NOT NULL,
        sha256        TEXT NOT NULL,
        content_type  TEXT NOT NULL,
        tags          TEXT NOT NULL,
        created       REAL NOT NULL,
        expires       REAL NOT NULL
    );
    CREATE INDEX uploads_expires ON uploads (expires);
    CREATE TABLE multipart_uploads (
        upload_id     TEXT PRIMARY KEY,
        bucket        TEXT NOT NULL REFERENCES buckets(name) ON DELETE CASCADE,
        key           BLOB NOT NULL,
        created       REAL NOT NULL,
        content_type  TEXT NOT NULL,
        metadata      TEXT NOT NULL,
        tags          TEXT NOT NULL,
        checksum_algorithm TEXT,
        headers       TEXT NOT NULL DEFAULT '{}'
    );
    CREATE INDEX multipart_uploads_key ON multipart_uploads (bucket, key, upload_id);
    CREATE TABLE parts (
        upload_id     TEXT NOT NULL REFERENCES multipart_uploads(upload_id) ON DELETE CASCADE,
        number        INTEGER NOT NULL,
        size          INTEGER NOT NULL,
        etag          TEXT NOT NULL,
        modified      REAL NOT NULL,
        chunks        TEXT NOT NULL,
        checksums     TEXT NOT NULL,
        PRIMARY KEY (upload_id, number)
    );
    CREATE TABLE access_keys (
        access_key    TEXT PRIMARY KEY,
        sealed_secret BLOB NOT NULL,
        created       REAL NOT NULL,
        is_root       INTEGER NOT NULL DEFAULT 0,
        grants        TEXT NOT NULL DEFAULT '{}'
    );
    """,
]
