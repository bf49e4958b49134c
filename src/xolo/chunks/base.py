"""The chunk protocols. Every implementation passes ``tests/contract/test_chunkstore.py``.

``ChunkStore`` is what the object service needs of the bytes layer: durable puts with a number
of copies, reads, existence. ``ChunkVolume`` is one physical place chunks live (a directory, a
peer): it adds what garbage collection, scrub and repair need, one volume at a time.

Stores trust the name they are given on ``put``: callers verify that bytes hash to their name
first (the service does so for every chunk it accepts from outside, peers for every chunk they
receive).

Garbage collection's two phases
-------------------------------
``doom`` marks chunks for deletion; any ``put`` of a chunk afterwards clears its mark;
``delete_doomed`` deletes only chunks still marked. A volume orders these three operations on
one chunk (a lock per shard directory), so a chunk stored after it was doomed survives, whatever
the timing of the delete. Each mark names the round that made it, and a delete removes only its
own round's marks: a late doom from another round (a second collector, or one that stalled) that
lands after a write stored the chunk again is never deleted by a round that confirmed earlier.
``cluster/gc.py`` explains why this, with the metadata store's references, means GC never
deletes a chunk an acknowledged write needs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from xolo.core.records import ChunkRef


@dataclass(frozen=True, slots=True, kw_only=True)
class ScrubReport:
    """One scrub step: what was re-hashed, what was bad (and is now quarantined), where next."""

    checked: int = 0
    bytes: int = 0
    bad: list[str] = field(default_factory=list)
    next_after: str | None = None
    """Resume after this name; None when the pass reached the end."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Usage:
    """What a volume holds."""

    used_bytes: int
    chunks: int


class ChunkStore(Protocol):
    """Content-addressed, immutable chunks, as the object service uses them."""

    def places(self) -> int:
        """How many independent places a chunk can be stored in right now (live peers; 1 for a
        local directory): the default replication is ``min(2, places())``."""
        ...

    async def put(self, sha256: str, data: bytes, *, copies: int = 1, quorum: int = 1) -> int:
        """Store ``copies`` copies and return once at least ``quorum`` are durable (they would
        survive a crash); the number durable by then. Idempotent, and clears any GC mark.
        Raises InsufficientReplicas when fewer than ``quorum`` copies could be made."""
        ...

    async def read(self, sha256: str, offset: int = 0, length: int | None = None) -> bytes:
        """``length`` bytes (to the end when None) from ``offset``. A read of the whole chunk is
        checked where the bytes came off a disk that records checksums or crossed a network
        (CRC-32C, or SHA-256 against the name when no CRC was recorded). Raises NoSuchChunk (no
        copy exists) or ChunkUnavailable (copies exist but none could be read intact)."""
        ...

    async def size(self, sha256: str) -> int | None:
        """The chunk's size, or None when it is not stored."""
        ...

    async def has(self, names: Sequence[str]) -> list[bool]:
        """For each name, whether at least one copy is stored."""
        ...

    async def copies(self, names: Sequence[str]) -> list[int]:
        """For each name, how many places hold a copy (what a direct upload's commit checks
        against the write quorum)."""
        ...

    def read_urls(self, sha256: str) -> list[str]:
        """Base URLs of the places a client may read the chunk from directly, best first
        (a place may lack it: the next one is asked); empty as for ``upload_urls``."""
        ...

    def upload_urls(self, sha256: str, copies: int) -> list[str]:
        """Base URLs of the places a client may write ``copies`` copies of a new chunk to
        directly, best first; empty for a store with no network address of its own (the
        server that holds it takes the chunks)."""
        ...

    async def close(self) -> None:
        """Release threads and connections."""
        ...


class ChunkVolume(ChunkStore, Protocol):
    """One place chunks are stored: inventory, the two GC phases, scrub."""

    async def inventory(self, after: str, limit: int) -> list[ChunkRef]:
        """Up to ``limit`` stored chunks with names above ``after``, in name order."""
        ...

    async def doom(self, names: Sequence[str], *, mark: str = "") -> list[bool]:
        """Mark chunks for deletion by round ``mark`` (phase one), replacing any earlier mark;
        for each, whether it is stored here."""
        ...

    async def delete_doomed(self, names: Sequence[str], *, mark: str = "") -> list[bool]:
        """Delete the named chunks still marked by round ``mark`` (phase two); which were
        deleted. A chunk stored again since, or marked since by another round, stays."""
        ...

    async def scrub(
        self, names: Sequence[str] | None = None, *, after: str = "", limit: int = 64
    ) -> ScrubReport:
        """Re-hash ``names`` (or up to ``limit`` chunks after ``after``) and quarantine every
        copy whose bytes do not hash to its name."""
        ...

    async def read_checked(self, sha256: str) -> tuple[bytes, int | None]:
        """The whole chunk and the CRC-32C recorded when it was stored, which the bytes were
        checked against (ChunkCorrupt when they no longer match), or None when the volume
        records none: a peer sends the CRC with the bytes so that the router can check the
        transfer cheaply instead of re-hashing SHA-256."""
        ...

    async def usage(self) -> Usage:
        """Bytes and chunks stored here."""
        ...

    def local_path(self, sha256: str) -> Path | None:
        """Where the chunk's file is, for volumes on a local disk (so a server can send it
        without reading it into memory); None for others."""
        ...

    async def clean_temp(self, older_than: float) -> int:
        """Remove temporary files of writes abandoned by a crash more than ``older_than``
        seconds ago (by this volume's own clock); how many."""
        ...
