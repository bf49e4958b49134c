"""What differs between the SQL databases xolo speaks: a handful of names and one flag."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Dialect:
    """The few places SQLite and PostgreSQL differ, as SQL fragments."""

    name: str
    text: str
    """The type of text columns; byte-order collation so ORDER BY agrees with Python."""
    blob: str
    real: str
    bigint: str
    for_update: str
    """Appended to a SELECT that must lock the rows it reads ('' where writers are serial)."""
    for_share: str
    """Appended to a SELECT whose rows must not change until this transaction ends, while
    other readers may hold the same lock ('' where writers are serial)."""
    skip_locked: str
    """Appended to a SELECT whose locked rows another worker may simply skip."""
    greatest: str
    """The name of the two-argument maximum function."""
    notify: str | None = None
    """A statement that signals other connections at commit (one parameter: the payload)."""

    def ddl(self, template: str) -> str:
        """A schema statement with this dialect's column types filled in."""
        return template.format(text=self.text, blob=self.blob, real=self.real, bigint=self.bigint)


SQLITE = Dialect(
    name="sqlite",
    text="TEXT",
    blob="BLOB",
    real="REAL",
    bigint="INTEGER",
    for_update="",
    for_share="",
    skip_locked="",
    greatest="MAX",
)
"""One writer at a time per file (the runner's writer thread and a file lock), so no row locks."""

POSTGRES = Dialect(
    name="postgresql",
    text='TEXT COLLATE "C"',
    blob="BYTEA",
    real="DOUBLE PRECISION",
    bigint="BIGINT",
    for_update=" FOR UPDATE",
    for_share=" FOR SHARE",
    skip_locked=" FOR UPDATE SKIP LOCKED",
    greatest="GREATEST",
    notify="SELECT pg_notify('xolo_events', ?)",
)
