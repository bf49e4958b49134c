"""Notification targets of the change feed, for every SQL dialect."""

from __future__ import annotations

import json
from typing import Any

from xolo.core.records import NotifyTarget
from xolo.meta.sql.tx import Database, Row, Tx

COLUMNS = (
    "id, kind, target, subject, bucket, prefix, types, sealed_secret, cursor, failures, state, "
    "last_error, next_try, created"
)


def target(row: Row) -> NotifyTarget:
    """A notification target from a row of COLUMNS."""
    (tid, kind, url, subject, bucket, prefix, types, sealed, cursor, failures, state, error,
     next_try, created) = row  # fmt: skip
    return NotifyTarget(
        id=tid,
        kind=kind,
        target=url,
        subject=subject,
        bucket=bucket,
        prefix=prefix,
        types=tuple(json.loads(types)),
        sealed_secret=bytes(sealed) if sealed is not None else None,
        cursor=int(cursor),
        failures=int(failures),
        state=state,
        last_error=error,
        next_try=next_try,
        created=created,
    )


def values(t: NotifyTarget) -> tuple[Any, ...]:
    """The values of COLUMNS for a target."""
    return (
        t.id,
        t.kind,
        t.target,
        t.subject,
        t.bucket,
        t.prefix,
        json.dumps(list(t.types)),
        t.sealed_secret,
        t.cursor,
        t.failures,
        t.state,
        t.last_error,
        t.next_try,
        t.created,
    )


class SqlNotify:
    """NotifyStore over one SQL database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def put_target(self, t: NotifyTarget) -> None:
        """An upsert: a known target's progress columns change and its configuration stays."""

        async def tx(x: Tx) -> None:
            await x.run(
                f"INSERT INTO notify_targets ({COLUMNS}) VALUES "
                "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
                "cursor = excluded.cursor, failures = excluded.failures, state = excluded.state, "
                "last_error = excluded.last_error, next_try = excluded.next_try",
                *values(t),
            )

        await self._db.write(tx)

    async def list_targets(self) -> list[NotifyTarget]:
        """See ``MetaStore.list_targets``."""

        async def q(x: Tx) -> list[NotifyTarget]:
            return [
                target(r) for r in await x.all(f"SELECT {COLUMNS} FROM notify_targets ORDER BY id")
            ]

        return await self._db.read(q)

    async def delete_target(self, target_id: str) -> bool:
        """See ``MetaStore.delete_target``."""

        async def tx(x: Tx) -> bool:
            return await x.run("DELETE FROM notify_targets WHERE id = ?", target_id) == 1

        return await self._db.write(tx)
