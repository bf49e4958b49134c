"""The records the stores keep. Plain frozen dataclasses: no behaviour beyond derivation."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from xolo.core.errors import InvalidArgument, InvalidPartNumber

MAX_REPLICATION = 16
"""More copies than this is a configuration mistake, not durability."""

_SETTINGS = ("replication", "write_quorum", "public_read")


def _copies(doc: Mapping[str, Any], name: str) -> int | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_REPLICATION:
        raise InvalidArgument(f"{name} must be an integer from 1 to {MAX_REPLICATION}, or null")
    return value


DEFAULT_REPLICATION = 2
"""Copies of a chunk whose bucket left replication to the default, on a cluster of at least
that many peers."""


def default_replication(peers: int) -> int:
    """The default replication on a cluster of ``peers`` peers: ``min(2, peers)``, at least 1."""
    return max(1, min(DEFAULT_REPLICATION, peers))


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketSettings:
    """What a bucket's owner chooses: durability and anonymous access."""

    replication: int | None = None
    """Copies of each chunk (R); None means the cluster default, ``min(2, peers)``."""
    write_quorum: int | None = None
    """Durable copies a write waits for (W <= R); None means all R."""
    public_read: bool = False

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> BucketSettings:
        """Settings from a JSON document; absent fields take their defaults."""
        return cls().updated(doc)

    def updated(self, doc: Mapping[str, Any]) -> BucketSettings:
        """These settings with the fields ``doc`` names replaced, and only those."""
        unknown = set(doc) - set(_SETTINGS)
        if unknown:
            raise InvalidArgument(f"unknown bucket settings: {sorted(unknown)}")
        replication = _copies(doc, "replication") if "replication" in doc else self.replication
        quorum = _copies(doc, "write_quorum") if "write_quorum" in doc else self.write_quorum
        public_read = doc.get("public_read", self.public_read)
        if not isinstance(public_read, bool):
            raise InvalidArgument("public_read must be true or false")
        if replication is not None and quorum is not None and quorum > replication:
            raise InvalidArgument(
                f"write_quorum ({quorum}) may not exceed replication ({replication})"
            )
        return BucketSettings(replication=replication, write_quorum=quorum, public_read=public_read)

    def copies(self, peers: int) -> tuple[int, int]:
        """(R, W) for a cluster of ``peers`` peers: R defaults to ``min(2, peers)``, W to R, and
        W never exceeds R."""
        replication = self.replication or default_replication(peers)
        quorum = min(self.write_quorum or replication, replication)
        return replication, quorum

    def to_json(self) -> dict[str, Any]:
        """The settings as a JSON document, every field present (None for a cluster default)."""
        return {
            "replication": self.replication,
            "write_quorum": self.write_quorum,
            "public_read": self.public_read,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketConfig:
    """What S3 configures per bucket beyond its settings, each section as the store keeps it
    (validated JSON documents: ``core/lifecycle.py``, ``core/cors.py``). A section is replaced
    whole and alone, so two callers configuring different sections never undo each other."""

    lifecycle: tuple[Mapping[str, Any], ...] = ()
    cors: tuple[Mapping[str, Any], ...] = ()
    acl: str = "private"
    """The canned ACL (``core/acl.py``); ``public_read`` in the settings is kept in step."""

    @classmethod
    def from_json(cls, doc: Mapping[str, Any]) -> BucketConfig:
        """The configuration as a store reads it back; absent sections are empty (ACL: private)."""
        return cls(
            lifecycle=tuple(doc.get("lifecycle", ())),
            cors=tuple(doc.get("cors", ())),
            acl=str(doc.get("acl", "private")),
        )

    def to_json(self) -> dict[str, Any]:
        """The configuration as the JSON document the store keeps."""
        return {"lifecycle": list(self.lifecycle), "cors": list(self.cors), "acl": self.acl}


CONFIG_SECTIONS = ("lifecycle", "cors", "acl")
"""The sections of a BucketConfig a store sets one at a time."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Bucket:
    """A bucket with its settings and its usage totals."""

    name: str
    created: float
    settings: BucketSettings = BucketSettings()
    owner: str | None = None
    """The access key that created it (None for buckets older than owners)."""
    object_count: int = 0
    bytes_used: int = 0
    versioning: str | None = None
    """``Enabled``, ``Suspended``, or None for a bucket never versioned (``core/versions.py``)."""
    config: BucketConfig = BucketConfig()


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkRef:
    """One chunk of a manifest: its name (SHA-256) and size."""

    sha256: str
    size: int


@dataclass(frozen=True, slots=True, kw_only=True)
class PartLayout:
    """One part of a completed multipart object, in order: what ``partNumber`` reads,
    GetObjectAttributes and a repeated CompleteMultipartUpload need after the parts are gone."""

    number: int
    size: int
    etag: str
    checksums: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectInfo:
    """What a listing shows of an object."""

    key: str
    size: int
    etag: str
    modified: float
    content_type: str = "application/octet-stream"


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionInfo:
    """What a listing of versions shows of one version or delete marker."""

    key: str
    version_id: str
    size: int
    etag: str
    modified: float
    is_latest: bool
    delete_marker: bool = False
    seq: int = 0
    """The version's place among its key's versions (higher is newer); paging resumes by it."""


@dataclass(frozen=True, slots=True, kw_only=True)
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
    version_id: str = "null"
    """The S3 version id: ``null`` unless written while the bucket's versioning was enabled."""
    delete_marker: bool = False
    """A delete marker has no bytes; it records that the key was deleted (versioned buckets)."""
    parts: tuple[PartLayout, ...] = ()
    """The parts of a multipart object, in order; empty for an object written in one piece."""
    upload_id: str | None = None
    """The multipart upload that made this version (a repeated completion finds it)."""
    acl: str | None = None
    """The object's canned ACL (``core/acl.py``); None: private, as the bucket decides."""

    def info(self) -> ObjectInfo:
        """What a listing shows of this object."""
        return ObjectInfo(
            key=self.key,
            size=self.size,
            etag=self.etag,
            modified=self.modified,
            content_type=self.content_type,
        )

    def chunk_names(self) -> frozenset[str]:
        """The distinct chunks this manifest names: what it holds a reference to."""
        return frozenset(c.sha256 for c in self.chunks)

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

    def part_range(self, number: int) -> tuple[int, int] | None:
        """The first and last byte of the part numbered ``number`` (as it was uploaded); an
        object written in one piece is its part 1; None for the empty part 1 of an empty object.
        Raises InvalidPartNumber for a part the object does not have."""
        if not self.parts:
            if number != 1:
                raise InvalidPartNumber("the object was written in one piece: it has only part 1")
            return (0, self.size - 1) if self.size else None
        start = 0
        for part in self.parts:
            if part.number == number:
                return (start, start + part.size - 1) if part.size else None
            start += part.size
        raise InvalidPartNumber(f"the object has no part {number} ({len(self.parts)} parts)")


@dataclass(frozen=True, slots=True, kw_only=True)
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


@dataclass(frozen=True, slots=True, kw_only=True)
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
    checksum_type: str | None = None
    """``COMPOSITE`` (a checksum of the parts' checksums) or ``FULL_OBJECT`` (CRCs only)."""
    headers: Mapping[str, str] = field(default_factory=dict)
    acl: str | None = None
    """The canned ACL the completed object gets."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Part:
    """One uploaded part of a multipart upload, stored as chunks."""

    upload_id: str
    number: int
    size: int
    etag: str
    """MD5 hex of the part's bytes, as S3 clients expect."""
    modified: float
    chunks: tuple[ChunkRef, ...]
    checksums: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class AccessKey:
    """An access key; the secret is kept sealed (encrypted), never in plain text."""

    access_key: str
    sealed_secret: bytes
    created: float
    is_root: bool = False
    grants: Mapping[str, str] = field(default_factory=dict)
    """bucket name (or ``*``) → one of ``read``, ``write``, ``admin``."""
    disabled: bool = False
    """A disabled key authenticates nothing (it can be enabled again; deleting is final)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ListPage:
    """One page of a listing, and the cursor of the next (None on the last page)."""

    objects: list[ObjectInfo]
    prefixes: list[str]
    next_cursor: str | None

    @property
    def truncated(self) -> bool:
        """Whether more pages follow."""
        return self.next_cursor is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class VersionPage:
    """One page of a listing of versions; where the next resumes (both None on the last)."""

    versions: list[VersionInfo]
    prefixes: list[str]
    next_key_marker: str | None
    next_version_id_marker: str | None

    @property
    def truncated(self) -> bool:
        """Whether more pages follow."""
        return self.next_key_marker is not None


# -- the cluster's records ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkInfo:
    """What the metadata store knows of one chunk: how many manifests name it and how many
    copies it should have. Where its copies are is not recorded: placement computes it."""

    sha256: str
    size: int
    refs: int
    replicas: int
    """The most copies any write asked for; 0 when every write left it to the cluster default."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerRecord:
    """A storage peer as its heartbeats last described it.

    ``admin_state`` is what an operator chose (``active``, ``draining``, ``drained``); whether
    it is up, suspect or down follows from ``last_heartbeat`` (see ``cluster.membership``).
    """

    id: str
    url: str
    zone: str
    capacity: int
    used_bytes: int = 0
    chunks: int = 0
    last_heartbeat: float = 0.0
    joined: float = 0.0
    admin_state: str = "active"
    sent: float = 0.0
    """The peer's own clock when it sent the heartbeat this record came from: a heartbeat no
    newer than the stored one is a replay (its signature may still be fresh) and is refused."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterRecord:
    """A router, so peers can learn every router from any one of them."""

    id: str
    url: str
    s3_url: str | None
    last_seen: float


@dataclass(frozen=True, slots=True, kw_only=True)
class TaskRecord:
    """A background task's lease and last status, shared by every router."""

    name: str
    holder: str | None
    lease_until: float
    status: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class NotifyTarget:
    """Where a bucket's change events are delivered (webhook, NATS JetStream, Redis stream),
    and how far delivery has got."""

    id: str
    kind: str
    """``webhook``, ``nats`` or ``redis``."""
    target: str
    """The URL (webhook, nats://, redis://)."""
    subject: str | None
    """NATS subject prefix or Redis stream key (None: the default)."""
    bucket: str
    prefix: str = ""
    types: tuple[str, ...] = ()
    sealed_secret: bytes | None = None
    """The webhook's signing secret, sealed under the master key."""
    cursor: int = 0
    """The last audit sequence delivered (or skipped)."""
    failures: int = 0
    """Consecutive failed deliveries."""
    state: str = "active"
    """``active``, or ``dead`` after too many failures (an operator revives it)."""
    last_error: str | None = None
    next_try: float = 0.0
    created: float = 0.0
