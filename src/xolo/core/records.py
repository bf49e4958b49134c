"""The records the stores keep. Plain frozen dataclasses: no behaviour beyond derivation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from xolo.core.errors import InvalidArgument


@dataclass(frozen=True, slots=True)
class BucketSettings:
    replication: int = 1
    """Copies of each chunk; meaningful once routers place chunks on several peers."""
    public_read: bool = False

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> BucketSettings:
        unknown = set(doc) - {"replication", "public_read"}
        if unknown:
            raise InvalidArgument(f"unknown bucket settings: {sorted(unknown)}")
        replication = doc.get("replication", 1)
        public_read = doc.get("public_read", False)
        if (
            not isinstance(replication, int)
            or isinstance(replication, bool)
            or not 1 <= replication <= 16
        ):
            raise InvalidArgument("replication must be an integer from 1 to 16")
        if not isinstance(public_read, bool):
            raise InvalidArgument("public_read must be true or false")
        return cls(replication=replication, public_read=public_read)

    def to_json(self) -> dict[str, Any]:
        return {"replication": self.replication, "public_read": self.public_read}


@dataclass(frozen=True, slots=True)
class Bucket:
    name: str
    created: float
    settings: BucketSettings = BucketSettings()
    object_count: int = 0
    bytes_used: int = 0


@dataclass(frozen=True, slots=True)
class ChunkRef:
    sha256: str
    size: int


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    """What a listing shows of an object."""

    key: str
    size: int
    etag: str
    modified: float
    content_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True)
class ObjectRecord:
    """An object: its manifest (inline bytes or chunk list) and its metadata."""

    bucket: str
    key: str
    size: int
    etag: str
    sha256: str | None
    modified: float
    version: str
    content_type: str = "application/octet-stream"
    metadata: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    chunks: tuple[ChunkRef, ...] = ()
    inline: bytes | None = None
    checksums: Mapping[str, str] = field(default_factory=dict)
    """S3's additional checksums (algorithm → base64), for objects whose writer sent them."""
    headers: Mapping[str, str] = field(default_factory=dict)
    """Representation headers returned on reads: cache-control, content-disposition,
    content-encoding, content-language, expires."""

    def info(self) -> ObjectInfo:
        return ObjectInfo(self.key, self.size, self.etag, self.modified, self.content_type)

    def slices(self, start: int, end: int) -> Iterator[tuple[ChunkRef, int, int]]:
        """Yield ``(chunk, offset, length)`` covering bytes ``start..end`` inclusive."""
        pos = 0
        for chunk in self.chunks:
            chunk_end = pos + chunk.size
            if chunk_end > start and pos <= end:
                lo = max(start, pos) - pos
                hi = min(end + 1, chunk_end) - pos
                yield chunk, lo, hi - lo
            pos = chunk_end
            if pos > end:
                break


@dataclass(frozen=True, slots=True)
class Upload:
    """A declared two-step PUT, waiting for its bytes."""

    upload_id: str
    bucket: str
    key: str
    size: int
    sha256: str
    content_type: str
    tags: Mapping[str, str]
    created: float
    expires: float


@dataclass(frozen=True, slots=True)
class MultipartUpload:
    """An S3 multipart upload in progress; its parts are stored as chunks."""

    upload_id: str
    bucket: str
    key: str
    created: float
    content_type: str
    metadata: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    checksum_algorithm: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Part:
    upload_id: str
    number: int
    size: int
    etag: str
    """MD5 hex of the part's bytes, as S3 clients expect."""
    modified: float
    chunks: tuple[ChunkRef, ...]
    checksums: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AccessKey:
    """An access key; the secret is kept sealed (encrypted), never in plain text."""

    access_key: str
    sealed_secret: bytes
    created: float
    is_root: bool = False
    grants: Mapping[str, str] = field(default_factory=dict)
    """bucket name (or ``*``) → one of ``read``, ``write``, ``admin``; enforced in a later step."""


@dataclass(frozen=True, slots=True)
class ListPage:
    objects: list[ObjectInfo]
    prefixes: list[str]
    next_cursor: str | None

    @property
    def truncated(self) -> bool:
        return self.next_cursor is not None
