"""Checksums: chunk names and whole-object digests."""

from __future__ import annotations

import base64
import hashlib
import re
import zlib

import crc32c

from xolo.core.errors import InvalidChunkName

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
EMPTY_MD5 = hashlib.md5(b"").hexdigest()


def check_chunk_name(name: str) -> str:
    """A chunk's name is its SHA-256 in lowercase hex; anything else is refused."""
    if not _SHA256_HEX.match(name):
        raise InvalidChunkName(f"chunk name must be 64 lowercase hex characters, got {name[:80]!r}")
    return name


ALGORITHMS = ("crc32", "crc32c", "sha1", "sha256")
"""Additional checksums S3 clients may send and ask for, stored base64 as S3 returns them."""


class ObjectDigest:
    """Whole-object SHA-256, plus MD5 and S3's additional checksums only when asked for.

    MD5 is the slowest hash here and exists only because S3 clients expect it as the ETag of
    single-part objects, so only the S3 surface asks for it. ``update`` may run on a worker
    thread: hashlib and zlib release the GIL for large buffers.
    """

    __slots__ = ("_crc32", "_crc32c", "_extra", "_md5", "_sha1", "_sha256", "size")

    def __init__(self, *, md5: bool = False, extra: frozenset[str] = frozenset()) -> None:
        unknown = extra - set(ALGORITHMS)
        if unknown:
            raise ValueError(f"unknown checksum algorithms {sorted(unknown)}")
        self._md5 = hashlib.md5() if md5 else None
        self._sha1 = hashlib.sha1() if "sha1" in extra else None
        self._crc32: int | None = 0 if "crc32" in extra else None
        self._crc32c: int | None = 0 if "crc32c" in extra else None
        self._sha256 = hashlib.sha256()
        self._extra = extra
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        if self._md5 is not None:
            self._md5.update(data)
        if self._sha1 is not None:
            self._sha1.update(data)
        if self._crc32 is not None:
            self._crc32 = zlib.crc32(data, self._crc32)
        if self._crc32c is not None:
            self._crc32c = crc32c.crc32c(data, self._crc32c)
        self._sha256.update(data)
        self.size += len(data)

    @property
    def md5(self) -> str | None:
        return self._md5.hexdigest() if self._md5 is not None else None

    @property
    def sha256(self) -> str:
        return self._sha256.hexdigest()

    def checksums(self) -> dict[str, str]:
        """The additional checksums asked for, base64 of the big-endian digest (S3's form)."""
        out: dict[str, str] = {}
        if self._crc32 is not None:
            out["crc32"] = b64(self._crc32.to_bytes(4, "big"))
        if self._crc32c is not None:
            out["crc32c"] = b64(self._crc32c.to_bytes(4, "big"))
        if self._sha1 is not None:
            out["sha1"] = b64(self._sha1.digest())
        if "sha256" in self._extra:
            out["sha256"] = b64(self._sha256.digest())
        return out

    def checksum(self, algorithm: str) -> str:
        if algorithm == "sha256":
            return b64(self._sha256.digest())
        return self.checksums()[algorithm]


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode()
