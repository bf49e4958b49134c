"""The ChunkStore protocol. Every implementation passes ``tests/contract/test_chunkstore.py``.

Stores trust the name they are given: callers verify that bytes hash to their name before
``put`` (the service does so for every chunk it accepts from outside).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from typing import Protocol


class ChunkStore(Protocol):
    async def put(self, sha256: str, data: bytes) -> None:
        """Store durably; returns once the bytes would survive a crash. Idempotent."""
        ...

    async def get(self, sha256: str, offset: int = 0, length: int | None = None) -> bytes:
        """Read ``length`` bytes (to the end when None) from ``offset``. Raises NoSuchChunk."""
        ...

    async def size(self, sha256: str) -> int | None: ...

    async def has(self, names: Sequence[str]) -> list[bool]: ...

    async def delete(self, sha256: str) -> bool:
        """Remove a chunk (garbage collection only); whether it existed."""
        ...

    def names(self) -> AsyncIterator[str]:
        """Every stored chunk name, in no particular order (for scrub and GC)."""
        ...

    async def close(self) -> None: ...
