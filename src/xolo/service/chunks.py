"""Chunks by name, for the chunk API of a peer (or of ``xolo serve``): the semantics of storing,
reading, listing and deleting content-addressed chunks on one volume.

Who may call it is decided in ``service/auth.py`` (cluster credentials or the root key); here
is what each call means. Every chunk accepted is verified against its name before it is stored.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import AsyncIterable, Sequence
from pathlib import Path

from xolo.chunks.base import ChunkVolume, ScrubReport, Usage
from xolo.core.checksums import check_chunk_name
from xolo.core.errors import BadDigest, EntityTooLarge, InvalidArgument, NoSuchChunk
from xolo.core.records import ChunkRef

MAX_NAMES = 10_000
"""Names one batch call may carry: enough for an 80 GiB object's chunks at 8 MiB."""


MARK = re.compile(r"[0-9a-f]{0,64}")
"""A GC round's mark: lowercase hex (``secrets.token_hex``), empty for unnamed rounds."""


def check_mark(mark: str) -> str:
    """A round mark, validated."""
    if not MARK.fullmatch(mark):
        raise InvalidArgument("mark must be at most 64 lowercase hex digits")
    return mark


def check_names(names: object) -> list[str]:
    """A JSON list of chunk names, validated."""
    if not isinstance(names, list):
        raise InvalidArgument("expected a JSON list of chunk names")
    if len(names) > MAX_NAMES:
        raise InvalidArgument(f"send at most {MAX_NAMES} chunk names at once")
    for name in names:
        if not isinstance(name, str):
            raise InvalidArgument("chunk names must be strings")
        check_chunk_name(name)
    return list(names)


class ChunkService:
    """One volume's chunks, by name."""

    def __init__(self, *, volume: ChunkVolume, max_chunk_size: int) -> None:
        self._volume = volume
        self._max = max_chunk_size

    async def put(self, sha256: str, body: AsyncIterable[bytes]) -> int:
        """Store a chunk sent by name; bytes that do not hash to the name are refused, and
        nothing is stored. Hashing runs while the body arrives."""
        check_chunk_name(sha256)
        digest = hashlib.sha256()
        pieces: list[bytes] = []
        size = 0
        async for piece in body:
            size += len(piece)
            if size > self._max:
                raise EntityTooLarge(f"a chunk may be at most {self._max} bytes")
            pieces.append(piece)
            if len(piece) > 256 * 1024:
                await asyncio.to_thread(digest.update, piece)
            else:
                digest.update(piece)
        if digest.hexdigest() != sha256:
            raise BadDigest(f"the body hashes to {digest.hexdigest()}, not to its name")
        await self._volume.put(sha256, b"".join(pieces))
        return size

    async def size(self, sha256: str) -> int:
        """The chunk's size; NoSuchChunk (a 404) when it is not stored here."""
        check_chunk_name(sha256)
        size = await self._volume.size(sha256)
        if size is None:
            raise NoSuchChunk(f"chunk {sha256} is not stored here")
        return size

    async def read(self, sha256: str, offset: int = 0, length: int | None = None) -> bytes:
        """A part or all of a chunk, once its name is checked."""
        check_chunk_name(sha256)
        return await self._volume.read(sha256, offset, length)

    async def read_checked(self, sha256: str) -> tuple[bytes, int | None]:
        """The whole chunk and the CRC-32C it was checked against (None: none recorded)."""
        check_chunk_name(sha256)
        return await self._volume.read_checked(sha256)

    async def has(self, names: object) -> list[bool]:
        """For each name of a checked list, whether the chunk is here (doomed or not)."""
        return await self._volume.has(check_names(names))

    async def copies(self, names: object) -> list[int]:
        """Copies that will stay (a doomed chunk counts as none)."""
        return await self._volume.copies(check_names(names))

    async def inventory(self, after: str, limit: int) -> list[ChunkRef]:
        """A page of the volume's chunks in name order, ``after`` and ``limit`` checked."""
        if after:
            check_chunk_name(after)
        if not 1 <= limit <= MAX_NAMES:
            raise InvalidArgument(f"limit must be from 1 to {MAX_NAMES}")
        return await self._volume.inventory(after, limit)

    async def doom(self, names: object, mark: str) -> list[bool]:
        """GC's phase one on this volume, for a checked list of names and round mark."""
        return await self._volume.doom(check_names(names), mark=check_mark(mark))

    async def delete_doomed(self, names: object, mark: str) -> list[bool]:
        """GC's phase two on this volume, for a checked list of names and round mark."""
        return await self._volume.delete_doomed(check_names(names), mark=check_mark(mark))

    async def scrub(self, names: Sequence[str] | None, after: str, limit: int) -> ScrubReport:
        """Re-hash the named chunks, or at most 1024 after ``after``; arguments checked."""
        if names is not None:
            names = check_names(list(names))
        if after:
            check_chunk_name(after)
        if not 1 <= limit <= 1024:
            raise InvalidArgument("limit must be from 1 to 1024")
        return await self._volume.scrub(names, after=after, limit=limit)

    def local_path(self, sha256: str) -> Path | None:
        """The chunk's file, so the API can send it without reading it into memory."""
        check_chunk_name(sha256)
        return self._volume.local_path(sha256)

    async def usage(self) -> Usage:
        """The volume's totals (``GET /v1/chunks/usage``)."""
        return await self._volume.usage()
