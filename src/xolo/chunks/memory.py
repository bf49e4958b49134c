"""An in-memory ChunkVolume for unit tests and ``xolo.open_memory()``."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

from xolo.chunks.base import ScrubReport, Usage
from xolo.core.errors import ChunkCorrupt, NoSuchChunk
from xolo.core.records import ChunkRef


class MemoryChunkStore:
    """Chunks in a dictionary, with the same GC marks and scrub as the disk volume."""

    def __init__(self) -> None:
        self._chunks: dict[str, bytes] = {}
        self._doomed: dict[str, str] = {}
        """Doomed chunks, each with the round that marked it."""
        self.quarantine: dict[str, bytes] = {}

    def places(self) -> int:
        """One dictionary is one place."""
        return 1

    async def put(self, sha256: str, data: bytes, *, copies: int = 1, quorum: int = 1) -> int:
        """Keeps the bytes first stored under the name, unless they were damaged since (then the
        new bytes, which the caller checked against the name, replace them); one copy,
        whatever ``copies`` asks."""
        self._doomed.pop(sha256, None)
        if self._chunks.get(sha256) != data:
            self._chunks[sha256] = bytes(data)
        return 1

    async def read(self, sha256: str, offset: int = 0, length: int | None = None) -> bytes:
        """A slice of the stored bytes, never checked (memory does not rot)."""
        try:
            data = self._chunks[sha256]
        except KeyError:
            raise NoSuchChunk(f"chunk {sha256} is not stored here") from None
        end = len(data) if length is None else offset + length
        piece = data[offset:end]
        if length is not None and len(piece) != length:
            raise ChunkCorrupt(f"chunk {sha256} here is shorter than the part asked for")
        return piece

    async def read_checked(self, sha256: str) -> tuple[bytes, int | None]:
        """Memory does not rot: the bytes, and no CRC."""
        return await self.read(sha256), None

    async def size(self, sha256: str) -> int | None:
        """See ``ChunkStore.size``."""
        data = self._chunks.get(sha256)
        return None if data is None else len(data)

    async def has(self, names: Sequence[str]) -> list[bool]:
        """A doomed chunk still counts until it is deleted."""
        return [n in self._chunks for n in names]

    async def copies(self, names: Sequence[str]) -> list[int]:
        """A doomed chunk counts as none, as on the disk volume."""
        return [int(n in self._chunks and n not in self._doomed) for n in names]

    def read_urls(self, sha256: str) -> list[str]:
        """None: the chunks live in this process."""
        return []

    def upload_urls(self, sha256: str, copies: int) -> list[str]:
        """None: whoever holds the store takes the chunks."""
        return []

    async def inventory(self, after: str, limit: int) -> list[ChunkRef]:
        """See ``ChunkVolume.inventory``."""
        names = sorted(n for n in self._chunks if n > after)[:limit]
        return [ChunkRef(sha256=n, size=len(self._chunks[n])) for n in names]

    async def doom(self, names: Sequence[str], *, mark: str = "") -> list[bool]:
        """See ``ChunkVolume.doom``."""
        found = []
        for name in names:
            present = name in self._chunks
            if present:
                self._doomed[name] = mark
            found.append(present)
        return found

    async def delete_doomed(self, names: Sequence[str], *, mark: str = "") -> list[bool]:
        """See ``ChunkVolume.delete_doomed``."""
        deleted = []
        for name in names:
            ours = self._doomed.get(name) == mark
            gone = ours and self._chunks.pop(name, None) is not None
            if ours:
                del self._doomed[name]
            deleted.append(gone)
        return deleted

    async def scrub(
        self, names: Sequence[str] | None = None, *, after: str = "", limit: int = 64
    ) -> ScrubReport:
        """A bad chunk moves to ``quarantine``, where tests can look at it."""
        next_after = None
        if names is None:
            names = [c.sha256 for c in await self.inventory(after, limit)]
            next_after = names[-1] if len(names) == limit else None
        checked = total = 0
        bad = []
        for name in names:
            data = self._chunks.get(name)
            if data is None:
                continue
            checked += 1
            total += len(data)
            if hashlib.sha256(data).hexdigest() != name:
                self.quarantine[name] = self._chunks.pop(name)
                bad.append(name)
        return ScrubReport(checked=checked, bytes=total, bad=bad, next_after=next_after)

    async def usage(self) -> Usage:
        """Counted afresh on every call."""
        return Usage(used_bytes=sum(map(len, self._chunks.values())), chunks=len(self._chunks))

    def local_path(self, sha256: str) -> Path | None:
        """Always None: there is no file."""
        return None

    async def clean_temp(self, older_than: float) -> int:
        """Nothing to clean: a write to memory leaves no temporary files."""
        return 0

    def corrupt(self, sha256: str, data: bytes) -> None:
        """Replace a chunk's bytes behind the store's back (for scrub and read tests)."""
        self._chunks[sha256] = data

    def corrupt_remove(self, sha256: str) -> None:
        """Lose a chunk behind the store's back (for repair and read tests)."""
        self._chunks.pop(sha256, None)

    async def close(self) -> None:
        """Nothing to release."""
        return None
