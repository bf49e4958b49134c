"""Appending to the audit chain inside a change's transaction, and reading chains back."""

from __future__ import annotations

from xolo.core.audit import GENESIS, Change, Entry, link
from xolo.meta.sql.dialect import Dialect
from xolo.meta.sql.tx import Row, Tx


async def page(tx: Tx, bucket: str, after: int, limit: int) -> list[Entry]:
    """Entries of a bucket's chain after ``after``, for ``AuditStore.audit_page``."""
    rows = await tx.all(
        f"SELECT {ENTRY_COLUMNS} FROM audit WHERE bucket = ? AND seq > ? ORDER BY seq LIMIT ?",
        bucket,
        after,
        limit,
    )
    return [entry(r) for r in rows]


async def head(tx: Tx, bucket: str) -> tuple[int, str] | None:
    """The chain's recorded head (from ``audit_heads``, not the last row), for ``audit_head``."""
    row = await tx.one("SELECT seq, mac FROM audit_heads WHERE bucket = ?", bucket)
    return (int(row[0]), row[1]) if row else None


ENTRY_COLUMNS = "bucket, seq, time, actor, op, key, size, sha256, etag, version, prev, mac"


def entry(row: Row) -> Entry:
    """An entry from a row of ENTRY_COLUMNS."""
    bucket, seq, time, actor, op, key, size, sha256, etag, version, prev, mac = row
    return Entry(
        bucket=bucket,
        sequence=int(seq),
        time=time,
        actor=actor,
        op=op,
        key=key,
        size=None if size is None else int(size),
        sha256=sha256,
        etag=etag,
        version=version,
        prev=prev,
        mac=mac,
    )


async def append(tx: Tx, dialect: Dialect, key: bytes, change: Change) -> Entry:
    """Add ``change`` to its bucket's chain. The head row is locked until the transaction ends:
    entries of one bucket take turns, other buckets' chains are untouched."""
    select = f"SELECT seq, mac FROM audit_heads WHERE bucket = ?{dialect.for_update}"
    head = await tx.one(select, change.bucket)
    if head is None:  # the chain's first entry (racing first writers: one insert wins)
        await tx.run(
            "INSERT INTO audit_heads (bucket, seq, mac) VALUES (?, 0, ?) "
            "ON CONFLICT (bucket) DO NOTHING",
            change.bucket,
            GENESIS,
        )
        head = await tx.one(select, change.bucket)
    assert head is not None
    new = link(key, change, sequence=int(head[0]) + 1, time=change.time, prev=head[1])
    await tx.run(
        f"INSERT INTO audit ({ENTRY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        new.bucket,
        new.sequence,
        new.time,
        new.actor,
        new.op,
        new.key,
        new.size,
        new.sha256,
        new.etag,
        new.version,
        new.prev,
        new.mac,
    )
    await tx.run(
        "UPDATE audit_heads SET seq = ?, mac = ? WHERE bucket = ?",
        new.sequence,
        new.mac,
        change.bucket,
    )
    if dialect.notify is not None:
        await tx.run(dialect.notify, change.bucket)  # delivered to listeners at commit
    return new
