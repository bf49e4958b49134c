"""Reading and verifying the audit chains the metadata store keeps (``core/audit.py``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

from xolo.core.audit import ChainCheck, Change, Entry, Verdict
from xolo.core.errors import InvalidArgument
from xolo.core.records import ObjectRecord
from xolo.meta.base import AuditStore
from xolo.service.context import actor

PAGE = 1000
"""Entries one page holds at most."""


class AuditLog:
    """A bucket's chain (or the system chain, ``""``), page by page, and its verification."""

    def __init__(self, *, meta: AuditStore, chain_key: bytes) -> None:
        self._meta = meta
        self._key = chain_key

    async def page(self, bucket: str, *, after: int = 0, limit: int = PAGE) -> list[Entry]:
        """Up to ``limit`` entries after sequence ``after``, for a client paging through a chain."""
        if not 1 <= limit <= PAGE:
            raise InvalidArgument(f"limit must be from 1 to {PAGE}")
        if after < 0:
            raise InvalidArgument("after must not be negative")
        return await self._meta.audit_page(bucket, after, limit)

    async def _all(self, bucket: str, after: int = 0) -> AsyncIterator[Entry]:
        while True:
            batch = await self._meta.audit_page(bucket, after, PAGE)
            for entry in batch:
                yield entry
            if len(batch) < PAGE:
                return
            after = batch[-1].sequence

    async def head(self, bucket: str) -> tuple[int, str] | None:
        """The last entry's sequence and MAC (where a feed starting "now" begins)."""
        return await self._meta.audit_head(bucket)

    async def verify(self, bucket: str) -> Verdict:
        """Replay the whole chain, page by page; the first entry that does not hold, if any."""
        check = ChainCheck(self._key)
        read_to = -1
        while True:
            async for entry in self._all(bucket, check.last):
                if not check.feed(entry):
                    return check.finish(None)
            if check.last == read_to:  # nothing new since the head was last read
                return check.finish(await self._meta.audit_head(bucket))
            read_to = check.last
            # An entry and its head change in one transaction, and the head is read after the
            # entries: a head beyond the last entry read means writes landed meanwhile (read
            # on); entries beyond the head were put there by someone else.
            head = await self._meta.audit_head(bucket)
            if head is None or head[0] <= check.last:
                return check.finish(head)


def recorded(op: str, record: ObjectRecord) -> Change:
    """The audit entry of a write that produced ``record``."""
    return Change(
        op=op,
        bucket=record.bucket,
        key=record.key,
        size=record.size,
        sha256=record.sha256,
        etag=record.etag,
        version=record.version,
        time=record.modified,
        actor=actor(),
    )
