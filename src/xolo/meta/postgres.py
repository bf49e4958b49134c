"""The PostgreSQL MetaStore: many routers sharing one truth.

Transactions are the shared SQL bodies of ``meta/sql``, run on pooled asyncpg connections at
PostgreSQL's default isolation (READ COMMITTED); the bodies lock what they read before they
write it, so that isolation is enough (see the concurrency rule in ``meta/base.py``).
Serialization failures, deadlocks and lost connections are retried with jittered backoff a
bounded number of times, then become ``StoreUnavailable``.
"""

from __future__ import annotations

import asyncio
import functools
import random
import re
from collections.abc import Callable
from typing import Any, TypeVar

import asyncpg

from xolo.core.errors import NoSuchBucket, StoreUnavailable, XoloError
from xolo.meta.sql.dialect import POSTGRES
from xolo.meta.sql.schema import migrate
from xolo.meta.sql.store import SqlMetaStore
from xolo.meta.sql.tx import Body, Row, Tx

T = TypeVar("T")

RETRIES = 6
"""Tries of a transaction that hit a transient failure; with the backoff below, about a second
in all before the caller sees 503."""

MIGRATION_LOCK = 0x786F6C6F  # "xolo": the advisory lock routers take while migrating

_TRANSIENT: tuple[type[BaseException], ...] = (
    asyncpg.SerializationError,
    asyncpg.DeadlockDetectedError,
    asyncpg.PostgresConnectionError,
    asyncpg.InterfaceError,
    asyncpg.CannotConnectNowError,
    asyncpg.TooManyConnectionsError,
    ConnectionError,
    OSError,
)


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """``?`` placeholders as PostgreSQL's ``$1, $2, ...`` (our SQL has no ``?`` in literals)."""
    counter = iter(range(1, 10_000))
    return re.sub(r"\?", lambda _: f"${next(counter)}", sql)


class _PgTx:
    __slots__ = ("_conn",)

    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def one(self, sql: str, *args: Any) -> Row | None:
        """``fetchrow``, with the ``?`` placeholders numbered."""
        row: Row | None = await self._conn.fetchrow(numbered(sql), *args)
        return row

    async def all(self, sql: str, *args: Any) -> list[Row]:
        """``fetch``, with the ``?`` placeholders numbered."""
        rows: list[Row] = await self._conn.fetch(numbered(sql), *args)
        return rows

    async def run(self, sql: str, *args: Any) -> int:
        """``execute``; the row count is the last word of PostgreSQL's command tag."""
        status: str = await self._conn.execute(numbered(sql), *args)
        last = status.rsplit(" ", 1)[-1]
        return int(last) if last.isdigit() else 0


def translate(exc: BaseException) -> XoloError:
    """asyncpg's errors as xolo's, at this boundary and nowhere else."""
    if isinstance(exc, asyncpg.ForeignKeyViolationError):
        return NoSuchBucket("the bucket was deleted while this request was running")
    if isinstance(exc, _TRANSIENT):
        return StoreUnavailable(f"the metadata database is unavailable ({type(exc).__name__})")
    return XoloError(f"metadata database error: {type(exc).__name__}: {exc}")


class PostgresDatabase:
    """The ``Database`` seam over an asyncpg pool."""

    dialect = POSTGRES

    def __init__(self, pool: asyncpg.Pool, *, dsn: str, settings: dict[str, str] | None) -> None:
        self._pool = pool
        self._dsn = dsn
        self._settings = settings
        self._listener: asyncpg.Connection | None = None

    async def listen(self, callback: Callable[[str], None]) -> None:
        """Call ``callback(bucket)`` whenever any connection commits a change to ``bucket``
        (PostgreSQL NOTIFY), on one dedicated connection."""
        conn = await asyncpg.connect(self._dsn, server_settings=self._settings)

        def relay(_conn: object, _pid: int, _channel: str, payload: str) -> None:
            callback(payload)

        await conn.add_listener("xolo_events", relay)
        self._listener = conn

    @classmethod
    async def connect(
        cls, dsn: str, *, schema: str | None = None, min_size: int = 2, max_size: int = 20
    ) -> PostgresDatabase:
        """A pool on ``dsn``; with ``schema``, every connection works in that schema (created
        if missing), so several stores can share one database."""
        settings = {"search_path": schema} if schema else None
        try:
            if schema:
                conn = await asyncpg.connect(dsn)
                try:
                    await conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{schema}"')
                finally:
                    await conn.close()
            pool = await asyncpg.create_pool(
                dsn, min_size=min_size, max_size=max_size, server_settings=settings
            )
        except (asyncpg.PostgresError, *_TRANSIENT) as exc:
            raise translate(exc) from None
        return cls(pool, dsn=dsn, settings=settings)

    async def _run(self, body: Body[T], *, write: bool) -> T:
        for attempt in range(RETRIES):
            try:
                async with self._pool.acquire() as conn:
                    if not write:
                        return await body(_PgTx(conn))
                    async with conn.transaction():
                        return await body(_PgTx(conn))
            except _TRANSIENT as exc:
                if attempt == RETRIES - 1:
                    raise translate(exc) from None
                await asyncio.sleep(random.uniform(0, 0.01 * 2**attempt))
            except asyncpg.PostgresError as exc:
                raise translate(exc) from None
        raise AssertionError("unreachable")

    async def write(self, body: Body[T]) -> T:
        """One ``conn.transaction()`` on a pooled connection, rerun on transient failures
        with jittered backoff."""
        return await self._run(body, write=True)

    async def read(self, body: Body[T], *, point: bool = False) -> T:
        """A pooled connection with no explicit transaction; ``point`` changes nothing,
        since every query is a round trip anyway."""
        return await self._run(body, write=False)  # every query is a network round trip

    async def migrate(self) -> None:
        """Bring the schema up to date; routers starting together take turns on a lock."""

        async def body(tx: Tx) -> None:
            await tx.run("SELECT pg_advisory_xact_lock(?)", MIGRATION_LOCK)
            await tx.run("CREATE TABLE IF NOT EXISTS xolo_schema (version BIGINT NOT NULL)")
            row = await tx.one("SELECT version FROM xolo_schema")
            current = int(row[0]) if row else 0
            version = await migrate(tx, POSTGRES, current)
            if row is None:
                await tx.run("INSERT INTO xolo_schema (version) VALUES (?)", version)
            elif version != current:
                await tx.run("UPDATE xolo_schema SET version = ?", version)

        await self.write(body)

    async def close(self) -> None:
        """Close the listening connection, if any, and the pool."""
        if self._listener is not None:
            await self._listener.close()
        await self._pool.close()


class PostgresMetaStore(SqlMetaStore):
    """The MetaStore on PostgreSQL. Open it with ``await PostgresMetaStore.open(dsn)``."""

    @classmethod
    async def open(
        cls,
        dsn: str,
        *,
        schema: str | None = None,
        max_connections: int = 20,
        chain_key: bytes | None = None,
    ) -> PostgresMetaStore:
        """Connect, migrate, and return the store."""
        db = await PostgresDatabase.connect(dsn, schema=schema, max_size=max_connections)
        try:
            await db.migrate()
        except BaseException:
            await db.close()
            raise
        store = cls(db, chain_key=chain_key)
        store._pg = db
        return store

    _pg: PostgresDatabase

    async def listen(self, callback: Callable[[str], None]) -> None:
        """See PostgresDatabase.listen: cross-router wake-ups for the change feed."""
        await self._pg.listen(callback)
