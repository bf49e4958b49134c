"""The two seams a SQL dialect fills: a transaction's statements, and how transactions run."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Protocol, TypeVar

from xolo.meta.sql.dialect import Dialect

T = TypeVar("T")

Row = Sequence[Any]


class Tx(Protocol):
    """Statements inside one transaction; SQL is written with ``?`` placeholders."""

    async def one(self, sql: str, *args: Any) -> Row | None:
        """The first row, or None."""
        ...

    async def all(self, sql: str, *args: Any) -> list[Row]:
        """Every row."""
        ...

    async def run(self, sql: str, *args: Any) -> int:
        """Execute a statement; the number of rows it changed."""
        ...


Body = Callable[[Tx], Awaitable[T]]


class Database(Protocol):
    """Runs transaction bodies: writes atomically and durably, reads on a consistent view."""

    dialect: Dialect

    async def write(self, body: Body[T]) -> T:
        """Run ``body`` in one write transaction, retrying it on transient failures; resolves
        once the commit is durable. Backend errors come out as XoloErrors."""
        ...

    async def read(self, body: Body[T], *, point: bool = False) -> T:
        """Run a read-only ``body``. ``point`` marks a lookup of a few rows by key, cheap
        enough to run where it is called: SQLite then runs it on the caller's thread, since
        handing a 20 µs query to a reader thread costs more than the query (measured: +10%
        on 4 KiB S3 GETs). Listings and scans leave it off."""
        ...

    async def close(self) -> None:
        """Release connections and threads."""
        ...
