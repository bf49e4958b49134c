"""The SQLite MetaStore: the embedded default, one file in WAL mode.

Transactions are the shared SQL bodies of ``meta/sql``; here they run on the runner's threads
(``sqlite_runner.py``). A body is an ``async def``, but the SQLite adapter's statements never
suspend, so the runner drives each body to completion synchronously on its own thread.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

from xolo.core.errors import NoSuchBucket, StoreUnavailable, XoloError
from xolo.meta.sql.dialect import SQLITE
from xolo.meta.sql.schema import migrate
from xolo.meta.sql.store import SqlMetaStore
from xolo.meta.sql.tx import Body, Row
from xolo.meta.sqlite_runner import SQLiteRunner

T = TypeVar("T")


class _SyncTx:
    """Statements on a sqlite3 connection, dressed as the async ``Tx`` protocol."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    async def one(self, sql: str, *args: Any) -> Row | None:
        """``fetchone`` on the thread's connection; never suspends."""
        row: Row | None = self._conn.execute(sql, args).fetchone()
        return row

    async def all(self, sql: str, *args: Any) -> list[Row]:
        """``fetchall`` on the thread's connection; never suspends."""
        return self._conn.execute(sql, args).fetchall()

    async def run(self, sql: str, *args: Any) -> int:
        """The statement's ``rowcount``; never suspends."""
        return self._conn.execute(sql, args).rowcount


def drive(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine that never suspends to completion, here and now."""
    try:
        coro.send(None)
    except StopIteration as done:
        result: T = done.value
        return result
    coro.close()
    raise RuntimeError("a SQLite transaction body awaited something other than a statement")


def translate(exc: sqlite3.Error) -> XoloError:
    """SQLite's errors as xolo's: a lock held past the busy timeout is worth a retry (503); a
    foreign key failure means the bucket went away under the write."""
    if isinstance(exc, sqlite3.IntegrityError) and "FOREIGN KEY" in str(exc):
        return NoSuchBucket("the bucket was deleted while this request was running")
    if isinstance(exc, sqlite3.OperationalError):
        return StoreUnavailable(f"the metadata database is busy or unavailable ({exc})")
    return XoloError(f"metadata database error: {exc}")


class SQLiteDatabase:
    """The ``Database`` seam over one SQLite file."""

    dialect = SQLITE

    def __init__(self, path: Path | str, *, readers: int = 4, synchronous: str = "FULL") -> None:
        self._runner = SQLiteRunner(path, readers=readers, synchronous=synchronous)

    @staticmethod
    def _sync(body: Body[T]) -> Any:
        def run(conn: sqlite3.Connection) -> T:
            try:
                return drive(body(_SyncTx(conn)))  # type: ignore[arg-type]
            except sqlite3.Error as exc:
                raise translate(exc) from None

        return run

    async def write(self, body: Body[T]) -> T:
        """Queued to the runner's single writer, inside the SAVEPOINT of a group commit;
        resolves once that commit is durable."""
        result: T = await self._runner.write(self._sync(body))
        return result

    async def read(self, body: Body[T], *, point: bool = False) -> T:
        """On a reader thread, or with ``point`` on the caller's own connection (the
        runner's ``inline`` read)."""
        result: T = await self._runner.read(self._sync(body), inline=point)
        return result

    def migrate(self) -> None:
        """Bring the file's schema up to date, holding SQLite's write lock meanwhile."""

        async def body(tx: _SyncTx) -> None:
            row = await tx.one("PRAGMA user_version")
            current = int(row[0]) if row else 0
            version = await migrate(tx, SQLITE, current)
            if version != current:
                await tx.run(f"PRAGMA user_version = {version}")

        self._runner.write_sync(lambda conn: drive(body(_SyncTx(conn))))

    async def close(self) -> None:
        """Stop the runner's threads and close its connections."""
        self._runner.close()


class SQLiteMetaStore(SqlMetaStore):
    """The MetaStore on a SQLite file; safe for several processes sharing the file."""

    def __init__(
        self,
        path: Path | str,
        *,
        readers: int = 4,
        synchronous: str = "FULL",
        chain_key: bytes | None = None,
    ) -> None:
        db = SQLiteDatabase(path, readers=readers, synchronous=synchronous)
        db.migrate()
        super().__init__(db, chain_key=chain_key)
