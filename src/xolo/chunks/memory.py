"""An in-memory ChunkStore for unit tests and ``xolo.open_memory()``."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Sequence

from xolo.core.errors import NoSuchChunk


class MemoryChunkStore:
    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._chunks: dict[str, bytes] = {}
        self._stored: dict[str, float] = {}
        self._clock = clock

    async def put(self, sha256: str, data: bytes) -> None:
        self._chunks.setdefault(sha256, bytes(data))
        self._stored[sha256] = self._clock()

    async def get(self, sha256: str, offset: int = 0, length: int | None = None) -> bytes:
        try:
            data = self._chunks[sha256]
        except KeyError:
            raise NoSuchChunk(f"chunk {sha256} is not stored here") from None
        end = len(data) if length is None else offset + length
        return data[offset:end]

    async def size(self, sha256: str) -> int | None:
        data = self._chunks.get(sha256)
        return None if data is None else len(data)

    async def has(self, names: Sequence[str]) -> list[bool]:
        return [n in self._chunks for n in names]

    async def touch(self, names: Sequence[str]) -> list[bool]:
        now = self._clock()
        found = []
        for name in names:
            present = name in self._chunks
            if present:
                self._stored[name] = now
            found.append(present)
        return found

    async def delete(self, sha256: str) -> bool:
        self._stored.pop(sha256, None)
        return self._chunks.pop(sha256, None) is not None

    async def sweep(self, keep: Callable[[str], bool], older_than: float) -> int:
        doomed = [n for n, t in self._stored.items() if t < older_than and not keep(n)]
        for name in doomed:
            await self.delete(name)
        return len(doomed)

    async def names(self) -> AsyncIterator[str]:
        for name in list(self._chunks):
            yield name

    async def close(self) -> None:
        return None
