"""Checksums: chunk names and whole-object digests."""

from __future__ import annotations

import base64
import functools
import hashlib
import re
import zlib
from collections.abc import Callable

import crc32c
from awscrt import checksums as crt

from xolo.core.errors import InvalidChunkName

_SHA256_HEX = re.compile(r"^[0-9a-f]{64}$")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
EMPTY_MD5 = hashlib.md5(b"").hexdigest()


def check_chunk_name(name: str) -> str:
    """A chunk's name is its SHA-256 in lowercase hex; anything else is refused."""
    if not _SHA256_HEX.match(name):
        raise InvalidChunkName(f"chunk name must be 64 lowercase hex characters, got {name[:80]!r}")
    return name


ALGORITHMS = ("crc32", "crc32c", "crc64nvme", "sha1", "sha256")
"""Additional checksums S3 clients may send and ask for, stored base64 as S3 returns them."""


class ObjectDigest:
    """Whole-object SHA-256, plus MD5 and S3's additional checksums only when asked for.

    MD5 is the slowest hash here and exists only because S3 clients expect it as the ETag of
    single-part objects, so only the S3 surface asks for it. ``update`` may run on a worker
    thread: hashlib and zlib release the GIL for large buffers.
    """

    __slots__ = ("_crc32", "_crc32c", "_crc64", "_extra", "_md5", "_sha1", "_sha256", "size")

    def __init__(self, *, md5: bool = False, extra: frozenset[str] = frozenset()) -> None:
        unknown = extra - set(ALGORITHMS)
        if unknown:
            raise ValueError(f"unknown checksum algorithms {sorted(unknown)}")
        self._md5 = hashlib.md5() if md5 else None
        self._sha1 = hashlib.sha1() if "sha1" in extra else None
        self._crc32: int | None = 0 if "crc32" in extra else None
        self._crc32c: int | None = 0 if "crc32c" in extra else None
        self._crc64: int | None = 0 if "crc64nvme" in extra else None
        self._sha256 = hashlib.sha256()
        self._extra = extra
        self.size = 0

    def update(self, data: bytes | bytearray | memoryview) -> None:
        """Feed the next bytes of the object to every hash, one after another (directly: this
        is the path of every small object, where building ``lanes`` would cost more)."""
        self.size += len(data)
        if self._md5 is not None:
            self._md5.update(data)
        self._update_rest(data)

    def lanes(self, data: bytes | bytearray | memoryview) -> list[Callable[[], None]]:
        """Feed the next bytes, as independent jobs that may run at the same time on separate
        threads (each releases the GIL while it hashes): MD5, the slowest, alone; SHA-256 and
        the additional checksums together. Every job must finish before the next bytes are
        fed. The size counts the bytes at once."""
        self.size += len(data)
        lanes: list[Callable[[], None]] = [functools.partial(self._update_rest, data)]
        if self._md5 is not None:
            lanes.append(functools.partial(self._md5.update, data))
        return lanes

    def _update_rest(self, data: bytes | bytearray | memoryview) -> None:
        if self._sha1 is not None:
            self._sha1.update(data)
        if self._crc32 is not None:
            self._crc32 = zlib.crc32(data, self._crc32)
        if self._crc32c is not None:
            self._crc32c = crc32c.crc32c(data, self._crc32c)
        if self._crc64 is not None:
            self._crc64 = crt.crc64nvme(data, self._crc64)
        self._sha256.update(data)

    @property
    def md5(self) -> str | None:
        """Hex MD5 of the bytes so far; None when it was not asked for."""
        return self._md5.hexdigest() if self._md5 is not None else None

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the bytes so far, kept whatever else is asked for."""
        return self._sha256.hexdigest()

    def checksums(self) -> dict[str, str]:
        """The additional checksums asked for, base64 of the big-endian digest (S3's form)."""
        out: dict[str, str] = {}
        if self._crc32 is not None:
            out["crc32"] = b64(self._crc32.to_bytes(4, "big"))
        if self._crc32c is not None:
            out["crc32c"] = b64(self._crc32c.to_bytes(4, "big"))
        if self._crc64 is not None:
            out["crc64nvme"] = b64(self._crc64.to_bytes(8, "big"))
        if self._sha1 is not None:
            out["sha1"] = b64(self._sha1.digest())
        if "sha256" in self._extra:
            out["sha256"] = b64(self._sha256.digest())
        return out

    def checksum(self, algorithm: str) -> str:
        """One checksum, in S3's base64 form; ``sha256`` is there even when it was not
        asked for as an additional checksum."""
        if algorithm == "sha256":
            return b64(self._sha256.digest())
        return self.checksums()[algorithm]


def b64(raw: bytes) -> str:
    """Base64 text of ``raw``, the form S3 gives checksums in."""
    return base64.b64encode(raw).decode()


# -- checksums of multipart objects ----------------------------------------------------------

CRCS: dict[str, tuple[int, int]] = {
    "crc32": (0xEDB88320, 32),
    "crc32c": (0x82F63B78, 32),
    "crc64nvme": (0x9A6C9329AC4BC9B5, 64),
}
"""The CRCs (reflected polynomial, width): the algorithms a FULL_OBJECT checksum may use."""

COMPOSITE = "COMPOSITE"
FULL_OBJECT = "FULL_OBJECT"


def digest(algorithm: str, data: bytes) -> bytes:
    """One algorithm's digest of ``data``, big-endian, as S3 encodes it."""
    if algorithm == "crc32":
        return zlib.crc32(data).to_bytes(4, "big")
    if algorithm == "crc32c":
        return int(crc32c.crc32c(data)).to_bytes(4, "big")
    if algorithm == "crc64nvme":
        return int(crt.crc64nvme(data)).to_bytes(8, "big")
    return hashlib.new(algorithm, data).digest()


def _times(matrix: list[int], vector: int) -> int:
    total, i = 0, 0
    while vector:
        if vector & 1:
            total ^= matrix[i]
        vector >>= 1
        i += 1
    return total


def _square(matrix: list[int]) -> list[int]:
    return [_times(matrix, row) for row in matrix]


def crc_combine(algorithm: str, first: int, second: int, second_length: int) -> int:
    """The CRC of A+B from CRC(A), CRC(B) and len(B), without the bytes: zlib's
    ``crc32_combine`` (multiplying by x^(8·len) over GF(2)), for any reflected CRC."""
    poly, width = CRCS[algorithm]
    if second_length == 0:
        return first
    odd = [poly] + [1 << i for i in range(width - 1)]  # the operator for one zero bit
    even = _square(odd)  # two zero bits
    odd = _square(even)  # four
    length = second_length
    while True:
        even = _square(odd)
        if length & 1:
            first = _times(even, first)
        length >>= 1
        if not length:
            break
        odd = _square(even)
        if length & 1:
            first = _times(odd, first)
        length >>= 1
        if not length:
            break
    return first ^ second


def multipart_checksum(algorithm: str, kind: str, parts: list[tuple[str, int]]) -> str:
    """The whole-object checksum of a multipart object from its parts' (base64 checksum, size):
    COMPOSITE is the checksum of the concatenated part checksums, suffixed ``-N``; FULL_OBJECT
    is the CRC of every byte, combined from the parts' CRCs."""
    raws = [base64.b64decode(value) for value, _ in parts]
    if kind == COMPOSITE:
        return f"{b64(digest(algorithm, b''.join(raws)))}-{len(parts)}"
    width = CRCS[algorithm][1] // 8
    crc = 0
    for raw, (_, size) in zip(raws, parts, strict=True):
        crc = crc_combine(algorithm, crc, int.from_bytes(raw, "big"), size)
    return b64(crc.to_bytes(width, "big"))


def checksum_type(value: str) -> str:
    """The type of a stored checksum: a composite one ends in ``-N``."""
    return COMPOSITE if "-" in value else FULL_OBJECT
