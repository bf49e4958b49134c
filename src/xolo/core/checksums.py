"""Checksums: chunk names and whole-object digests."""

from __future__ import annotations

import hashlib
import re

from xolo.core.errors import InvalidChunkName

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
EMPTY_MD5 = hashlib.md5(b"").hexdigest()


def check_chunk_name(name: str) -> str:
    """A chunk's name is its SHA-256 in lowercase hex; anything else is refused."""
    if not _SHA256_HEX.match(name):
        raise InvalidChunkName(f"chunk name must be 64 lowercase hex characters, got {name[:80]!r}")
    return name


def is_sha256_hex(value: str) -> bool:
    return bool(_SHA256_HEX.match(value))


class ObjectDigest:
    """Whole-object SHA-256, and MD5 only when asked, fed in order.

    MD5 is the slowest hash here and exists only because S3 clients expect it as the ETag of
    single-part objects, so only the S3 surface asks for it. ``update`` may run on a worker
    thread: hashlib releases the GIL for large buffers.
    """

    __slots__ = ("_md5", "_sha256", "size")

    def __init__(self, *, md5: bool = False) -> None:
        self._md5 = hashlib.md5() if md5 else None
        self._sha256 = hashlib.sha256()
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if self._md5 is not None:
            self._md5.update(data)
        self._sha256.update(data)
        self.size += len(data)

    @property
    def md5(self) -> str | None:
        return self._md5.hexdigest() if self._md5 is not None else None

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()
