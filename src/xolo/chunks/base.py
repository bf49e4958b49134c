"""The ChunkStore protocol. Every implementation passes ``tests/contract/test_chunkstore.py``.

Stores trust the name they are given: callers verify that bytes hash to their name before
``put`` (the service does so for every chunk it accepts from outside).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Protocol


class ChunkStore(Protocol):
    async def put(self, sha256: str, data: bytes) -> None:
        """Store durably; returns once the bytes would survive a crash. Idempotent: storing a
        chunk that exists refreshes its age, so a new manifest about to name it is protected
        from garbage collection for the whole grace period."""
        ...

    async def get(self, sha256: str, offset: int = 0, length: int | None = None) -> bytes:
        """Read ``length`` bytes (to the end when None) from ``offset``. Raises NoSuchChunk."""
        ...

    async def size(self, sha256: str) -> int | None: ...

    async def has(self, names: Sequence[str]) -> list[bool]: ...

    async def touch(self, names: Sequence[str]) -> list[bool]:
        """Refresh the age of existing chunks (as ``put`` does), for a manifest about to name
        them without storing them; which exist."""
        ...

    async def delete(self, sha256: str) -> bool:
        """Remove a chunk (garbage collection only); whether it existed."""
        ...

    async def sweep(self, keep: Callable[[str], bool], older_than: float) -> int:
        """Delete chunks not kept whose last store (see ``put``) is before ``older_than`` (POSIX
        time), and abandoned temporary files; the number of chunks deleted."""
        ...

    def names(self) -> AsyncIterator[str]:
        """Every stored chunk name, in no particular order (for scrub and GC)."""
        ...

    async def close(self) -> None: ...
