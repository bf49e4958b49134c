"""ObjectService: the only place that defines object semantics.

Every surface (native HTTP, S3, the embedded API) translates onto these methods and
nothing else, so a rule fixed here holds everywhere.
"""

from __future__ import annotations

import asyncio
import dataclasses
import random
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from xolo.chunks.base import ChunkStore
from xolo.core.acl import check_object_acl
from xolo.core.audit import Change
from xolo.core.checksums import ObjectDigest, check_chunk_name
from xolo.core.conditions import NO_CONDITION, WriteCondition, check_read
from xolo.core.errors import (
    BadDigest,
    ChunkCorrupt,
    ChunkUnavailable,
    ConcurrentUpdate,
    InvalidArgument,
    InvalidRequest,
    MethodNotAllowed,
    NoSuchChunk,
    NoSuchKey,
    NoSuchUpload,
    NoSuchVersion,
    SizeMismatch,
)
from xolo.core.listing import (
    after,
    check_page_size,
    common_prefix,
    decode_cursor,
    encode_cursor,
    prefix_end,
)
from xolo.core.names import (
    check_bucket_name,
    check_content_type,
    check_headers,
    check_key,
    check_metadata,
    check_tags,
    new_upload_id,
)
from xolo.core.ranges import ByteRange, parse_range
from xolo.core.records import (
    Bucket,
    BucketSettings,
    ListPage,
    ObjectInfo,
    ObjectRecord,
    Upload,
)
from xolo.core.versions import check_mode, check_version_id, new_version_id
from xolo.meta.base import MetaStore
from xolo.service.attributes import AttributesMixin
from xolo.service.audit import AuditLog, recorded
from xolo.service.auth import Principal
from xolo.service.config import ServiceConfig
from xolo.service.context import actor
from xolo.service.cors import CorsMixin
from xolo.service.direct import DirectMixin, StagingMixin
from xolo.service.events import EventHub, Feed
from xolo.service.ingest import ChunkSink, Ingested, ingest, verify_checksums
from xolo.service.lifecycle import LifecycleMixin
from xolo.service.locks import KeyedLocks
from xolo.service.multipart import MultipartMixin
from xolo.service.policy import AccessPolicy
from xolo.service.versions import VersionsMixin

DEFAULT_CONTENT_TYPE = "application/octet-stream"

APPEND_RETRIES = 10
"""Replays of an append that lost a race with another process before it gives up; each waits a
random few milliseconds more than the last, so two processes do not retry in lockstep."""

BUCKET_CACHE_SECONDS = 2.0
"""How long a bucket read for a write is reused (its existence for the pre-write check, its
replication settings for the chunks). Only an optimisation: the commit checks the bucket in its
own transaction, so a bucket deleted meanwhile still fails the write (after its bytes are read);
a settings change reaches writes within this time. Saves a metadata read on every small PUT."""
BUCKET_CACHE_MAX = 10_000
MAX_BUCKETS_PAGE = 10_000
"""ListBuckets' largest page (S3's max-buckets bound)."""
"""Buckets remembered at most; past this the cache starts over (it is only an optimisation)."""


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _new_version() -> str:
    return secrets.token_hex(8)


def _marker(record: ObjectRecord | None) -> dict[str, str]:
    """Error details that tell a client a delete marker answered (S3's headers)."""
    if record is None or not record.delete_marker:
        return {}
    return {"delete_marker": "true", "version_id": record.version_id}


@dataclass(slots=True, kw_only=True)
class ObjectReader:
    """An object opened for reading: its record, the resolved range, and its bytes on demand.

    Bytes come in pieces of at most ``piece`` bytes, each read (and, across a network,
    verified) whole before it is yielded, with one piece of readahead. ``prefetch`` reads the
    first piece and checks that every other chunk still has a copy, so that an unreadable
    object fails before any response header is sent, not halfway through its body.
    """

    record: ObjectRecord
    range: ByteRange | None
    store: ChunkStore
    piece: int
    _first: bytes | None = None

    @property
    def start(self) -> int:
        """The offset of the first byte served (0 without a range)."""
        return self.range.start if self.range else 0

    @property
    def length(self) -> int:
        """How many bytes are served: the range's, or the whole object's."""
        return self.range.length if self.range else self.record.size

    def _pieces(self) -> list[tuple[str, int, int | None]]:
        """(chunk, offset, length) of every piece; a length of None reads the whole chunk,
        which a store can verify against the chunk's name."""
        end = self.start + self.length - 1
        pieces: list[tuple[str, int, int | None]] = []
        for chunk, offset, length in self.record.slices(self.start, end):
            for pos in range(offset, offset + length, self.piece):
                n = min(self.piece, offset + length - pos)
                pieces.append((chunk.sha256, pos, None if n == chunk.size else n))
        return pieces

    async def prefetch(self) -> None:
        """Read the first piece now, and fail with ChunkUnavailable (503) if the object cannot
        be served whole."""
        if self.record.inline is not None or self.length == 0:
            return
        pieces = self._pieces()
        rest = sorted({sha for sha, _, _ in pieces[1:]} - {pieces[0][0]})
        first, present = await asyncio.gather(
            self._read(*pieces[0]), self.store.has(rest) if rest else _nothing()
        )
        if not all(present):
            raise ChunkUnavailable("a chunk of this object has no reachable copy")
        self._first = first

    async def _read(self, sha256: str, offset: int, length: int | None) -> bytes:
        try:
            return await self.store.read(sha256, offset, length)
        except NoSuchChunk:
            raise ChunkUnavailable("a chunk of this object has no reachable copy") from None
        except ChunkCorrupt:  # the one copy a single node has is damaged
            raise ChunkUnavailable("a chunk of this object has no intact copy") from None

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[bytes]:
        if self.length == 0:
            return
        if self.record.inline is not None:
            yield self.record.inline[self.start : self.start + self.length]
            return
        pieces = self._pieces()
        first, self._first = self._first, None
        pending = (
            _ready(first) if first is not None else asyncio.ensure_future(self._read(*pieces[0]))
        )
        try:
            for i in range(len(pieces)):
                data = await pending
                if i + 1 < len(pieces):
                    pending = asyncio.ensure_future(self._read(*pieces[i + 1]))
                yield data
        finally:
            if not pending.done():
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)

    async def read(self) -> bytes:
        """Every byte served, in memory at once, for callers that want a value, not a stream."""
        return b"".join([piece async for piece in self])


async def _nothing() -> list[bool]:
    return []


def _ready(data: bytes) -> asyncio.Future[bytes]:
    fut: asyncio.Future[bytes] = asyncio.get_running_loop().create_future()
    fut.set_result(data)
    return fut


class ObjectService(
    MultipartMixin,
    VersionsMixin,
    AttributesMixin,
    LifecycleMixin,
    CorsMixin,
    DirectMixin,
    StagingMixin,
):
    """Object semantics over a metadata store and a chunk store; every surface calls this.

    Policy that must hold everywhere lives here: what a conditional write, an append or a copy
    means, when a bucket is created, how many copies a bucket's chunks get.
    """

    def __init__(
        self,
        *,
        meta: MetaStore,
        chunks: ChunkStore,
        config: ServiceConfig | None = None,
        chain_key: bytes | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._meta = meta
        self._chunks = chunks
        self._config = config or ServiceConfig()
        self._clock = clock
        self._append_locks = KeyedLocks()
        self._bucket_cache: dict[str, tuple[float, Bucket]] = {}
        self.policy = AccessPolicy(bucket=self._cached_bucket)
        """The access decision every surface asks before it calls a method here."""
        self.audit = AuditLog(meta=meta, chain_key=chain_key or secrets.token_bytes(32))
        """The audit chains; without the store's chain key nothing verifies."""
        self.feed = Feed(meta=meta, hub=EventHub())
        """The change feed: the audit chains read forward."""

    @property
    def notify_store(self) -> MetaStore:
        """The store notification targets are kept in (for their management)."""
        return self._meta

    def _changed(self, bucket: str) -> None:
        """A change to ``bucket`` committed: wake this process's feed readers."""
        self.feed.hub.changed(bucket)

    async def __aenter__(self) -> ObjectService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        """Close the metadata store and the chunk store."""
        await self._meta.close()
        await self._chunks.close()

    # -- buckets -------------------------------------------------------------------------------

    async def list_buckets(self) -> list[Bucket]:
        """Every bucket, unfiltered: a caller sees only what ``policy.visible`` keeps of it."""
        return await self._meta.list_buckets()

    async def bucket_page(
        self,
        principal: Principal | None,
        *,
        prefix: str = "",
        cursor: str | None = None,
        limit: int = MAX_BUCKETS_PAGE,
    ) -> tuple[list[Bucket], str | None]:
        """One page of the buckets ``principal`` may read, by name, from ``cursor``; and the
        cursor of the next page (None on the last). Names are few and short, so the store's
        whole list is filtered here."""
        if not 1 <= limit <= MAX_BUCKETS_PAGE:
            raise InvalidArgument(f"max-buckets must be from 1 to {MAX_BUCKETS_PAGE}")
        start = decode_cursor(cursor) if cursor else b""
        names = [
            b
            for b in self.policy.visible(principal, await self._meta.list_buckets())
            if b.name.startswith(prefix) and b.name.encode() >= start
        ]
        page = names[:limit]
        more = len(names) > limit
        return page, encode_cursor(page[-1].name.encode(), is_prefix=False) if more else None

    async def create_bucket(
        self, name: str, settings: BucketSettings | None = None, *, owner: str | None = None
    ) -> tuple[Bucket, bool]:
        """Create the bucket unless the name is taken, in one transaction: exactly one of any
        number of racing creators gets True, and the bucket has that creator's settings."""
        check_bucket_name(name)
        now = self._clock()
        result = await self._meta.create_bucket(
            name,
            settings or BucketSettings(),
            owner=owner,
            now=now,
            change=Change(op="bucket.create", bucket=name, time=now, actor=actor()),
        )
        self._changed(name)
        return result

    async def update_bucket(self, name: str, changes: Mapping[str, Any]) -> Bucket:
        """Change only the settings ``changes`` names."""
        self._bucket_cache.pop(name, None)
        change = Change(op="bucket.update", bucket=name, time=self._clock(), actor=actor())
        return await self._meta.update_bucket(name, changes, change=change)

    async def put_bucket(
        self,
        name: str,
        changes: Mapping[str, Any] | None = None,
        *,
        owner: str | None = None,
        create_only: bool = False,
    ) -> tuple[Bucket, bool]:
        """Create the bucket with the settings ``changes`` names (defaults for the rest), or,
        when it exists, change only those settings (nothing at all with ``create_only``: the
        existing bucket is returned as it is); the flag says whether it was created."""
        rest = dict(changes or {})
        versioning = rest.pop("versioning", None)
        if versioning is not None:
            check_mode(versioning)
        settings = BucketSettings.from_json(rest)
        bucket, created = await self.create_bucket(name, settings, owner=owner)
        if create_only and not created:
            return bucket, False
        if rest and not created:
            bucket = await self.update_bucket(name, rest)
        if versioning is not None and versioning != bucket.versioning:
            bucket = await self.set_versioning(name, versioning)
        return bucket, created

    async def get_bucket(self, name: str) -> Bucket:
        """The bucket as the store has it now (not the short cache), so its settings are current."""
        return await self._meta.get_bucket(name)

    async def delete_bucket(self, name: str) -> None:
        """Remove an empty bucket (BucketNotEmpty otherwise), forget it in this process's cache and
        wake its feed readers."""
        self._bucket_cache.pop(name, None)
        now = self._clock()
        change = Change(op="bucket.delete", bucket=name, time=now, actor=actor())
        await self._meta.delete_bucket(name, now=now, change=change)
        self._changed(name)

    async def _cached_bucket(self, name: str) -> Bucket:
        now = time.monotonic()
        hit = self._bucket_cache.get(name)
        if hit is not None and hit[0] > now:
            return hit[1]
        bucket = await self._meta.get_bucket(name)
        if len(self._bucket_cache) > BUCKET_CACHE_MAX:
            self._bucket_cache.clear()
        self._bucket_cache[name] = (now + BUCKET_CACHE_SECONDS, bucket)
        return bucket

    async def _sink(self, bucket: str) -> ChunkSink:
        """Where this bucket's chunks go, with its replication and write quorum."""
        settings = (await self._cached_bucket(bucket)).settings
        copies, quorum = settings.copies(self._chunks.places())
        return ChunkSink(
            meta=self._meta,
            chunks=self._chunks,
            copies=copies,
            quorum=quorum,
            chosen=settings.replication,
            clock=self._clock,
        )

    # -- writing objects -----------------------------------------------------------------------

    def _record(
        self,
        bucket: str,
        key: str,
        data: Ingested,
        *,
        content_type: str | None,
        metadata: Mapping[str, str],
        tags: Mapping[str, str],
        headers: Mapping[str, str] | None = None,
    ) -> ObjectRecord:
        return ObjectRecord(
            bucket=bucket,
            key=key,
            size=data.size,
            etag=data.md5 or data.sha256,
            sha256=data.sha256,
            modified=self._clock(),
            version=_new_version(),
            version_id=new_version_id(),
            content_type=content_type or DEFAULT_CONTENT_TYPE,
            metadata=dict(metadata),
            tags=dict(tags),
            chunks=data.chunks,
            inline=data.inline,
            checksums=data.checksums,
            headers=dict(headers or {}),
        )

    @staticmethod
    def _check_object_args(
        bucket: str,
        key: str,
        content_type: str | None,
        metadata: Mapping[str, str] | None,
        tags: Mapping[str, str] | None,
    ) -> tuple[dict[str, str], dict[str, str]]:
        check_bucket_name(bucket)
        check_key(key)
        if content_type is not None:
            check_content_type(content_type)
        return check_metadata(metadata or {}), check_tags(tags or {})

    async def _precheck(self, bucket: str, key: str, condition: WriteCondition) -> ChunkSink:
        """Fail before reading any byte when the outcome is known (the commit checks again);
        where the write's chunks go."""
        sink = await self._sink(bucket)
        if condition != NO_CONDITION:
            current = await self._meta.get_object(bucket, key)
            condition.check(current.etag if current else None, current.version if current else None)
        return sink

    async def put_object(
        self,
        bucket: str,
        key: str,
        body: AsyncIterable[bytes],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        size: int | None = None,
        sha256: str | None = None,
        condition: WriteCondition = NO_CONDITION,
        md5_etag: bool = False,
        headers: Mapping[str, str] | None = None,
        content_md5: str | None = None,
        checksum_algorithms: frozenset[str] = frozenset(),
        expected_checksums: Mapping[str, str] | None = None,
        acl: str | None = None,
    ) -> ObjectRecord:
        """Store ``body`` as the object, replacing any current one atomically.

        ``size``, ``sha256``, ``content_md5`` (base64) and ``expected_checksums`` (algorithm →
        base64), when given, must match the body or nothing is stored. ``expected_checksums`` is
        read only after the body is consumed, so a trailer may fill it in. The ETag is the
        SHA-256, or the MD5 with ``md5_etag`` (what S3 clients expect).
        """
        meta, tag_map = self._check_object_args(bucket, key, content_type, metadata, tags)
        stored_headers = check_headers(headers or {})
        acl = check_object_acl(acl) if acl is not None else None
        if sha256 is not None and (len(sha256) != 64 or sha256 != sha256.lower()):
            raise InvalidArgument("sha256 must be 64 lowercase hex characters")
        sink = await self._precheck(bucket, key, condition)
        data = await ingest(
            body,
            sink,
            self._config,
            max_size=size,
            md5=md5_etag or content_md5 is not None,
            checksums=checksum_algorithms,
        )
        self._verify(data, size=size, sha256=sha256)
        verify_checksums(data, content_md5, expected_checksums)
        record = self._record(
            bucket,
            key,
            data,
            content_type=content_type,
            metadata=meta,
            tags=tag_map,
            headers=stored_headers,
        )
        record = dataclasses.replace(record, acl=acl) if acl else record
        stored, _ = await self._meta.put_object(record, condition, change=recorded("put", record))
        self._changed(bucket)
        return stored

    async def put_bytes(
        self,
        bucket: str,
        key: str,
        data: bytes,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        condition: WriteCondition = NO_CONDITION,
    ) -> ObjectRecord:
        """Convenience for embedding: ``put_object`` with an in-memory body."""
        return await self.put_object(
            bucket,
            key,
            _one(data),
            content_type=content_type,
            metadata=metadata,
            tags=tags,
            condition=condition,
        )

    @staticmethod
    def _verify(data: Ingested, *, size: int | None, sha256: str | None) -> None:
        if size is not None and data.size != size:
            raise SizeMismatch(f"the body has {data.size} bytes, {size} were declared")
        if sha256 is not None and data.sha256 != sha256:
            raise BadDigest(f"the body's SHA-256 is {data.sha256}, {sha256} was declared")

    async def append_object(
        self,
        bucket: str,
        key: str,
        body: AsyncIterable[bytes],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        condition: WriteCondition = NO_CONDITION,
    ) -> ObjectRecord:
        """Append ``body`` to the object (creating it if absent), reusing its chunks.

        The whole-object checksums are recomputed by reading the old bytes (not rewriting
        them). Appends to one key are serialised in this process; when another process appends
        first, the bytes this append stored are replayed onto the new object, a few times at
        most, before ConcurrentUpdate (409) is given up with.
        """
        meta, _ = self._check_object_args(bucket, key, content_type, metadata, None)
        sink = await self._sink(bucket)
        async with self._append_locks.hold((bucket, key)):
            for retry in range(APPEND_RETRIES + 1):
                if retry:
                    await asyncio.sleep(random.uniform(0, 0.002 * retry))
                current = await self._meta.get_object(bucket, key)
                attempt = await self._append_once(
                    current, sink, bucket, key, body, content_type, meta, condition
                )
                if isinstance(attempt, ObjectRecord):
                    return attempt
                # Lost a race: replay the bytes this try stored (an empty range yields nothing).
                tried, old_size = attempt
                body = self._reader(tried, ByteRange(old_size, tried.size - 1))
            raise ConcurrentUpdate("the object kept changing under this append; retry it")

    async def _append_once(
        self,
        current: ObjectRecord | None,
        sink: ChunkSink,
        bucket: str,
        key: str,
        body: AsyncIterable[bytes],
        content_type: str | None,
        meta: dict[str, str],
        condition: WriteCondition,
    ) -> ObjectRecord | tuple[ObjectRecord, int]:
        """One try: the committed record, or (the record that lost a race, the old size)."""
        condition.check(current.etag if current else None, current.version if current else None)
        if current is None:
            data = await ingest(body, sink, self._config)
            chunks = data.chunks
        elif current.inline is not None:
            data = await ingest(body, sink, self._config, prefix=current.inline)
            chunks = data.chunks
        else:
            digest = ObjectDigest()
            await self._feed(current, digest)
            config = dataclasses.replace(self._config, inline_threshold=0)
            data = await ingest(body, sink, config, digest=digest)
            chunks = current.chunks + data.chunks
        record = ObjectRecord(
            bucket=bucket,
            key=key,
            size=data.size,
            etag=data.sha256,
            sha256=data.sha256,
            modified=self._clock(),
            version=_new_version(),
            version_id=new_version_id(),
            content_type=content_type
            or (current.content_type if current else DEFAULT_CONTENT_TYPE),
            metadata=meta or (dict(current.metadata) if current else {}),
            tags=dict(current.tags) if current else {},
            chunks=chunks,
            inline=data.inline if not chunks else None,
            headers=dict(current.headers) if current else {},
        )
        guarded = dataclasses.replace(condition, expect_version=current.version if current else "")
        try:
            stored, _ = await self._meta.put_object(
                record, guarded, change=recorded("append", record)
            )
        except ConcurrentUpdate:
            return record, current.size if current else 0
        self._changed(bucket)
        return stored

    async def _feed(self, record: ObjectRecord, digest: ObjectDigest) -> None:
        reader = self._reader(record, None)
        async for piece in reader:
            await asyncio.to_thread(digest.update, piece)

    async def copy_object(
        self,
        source_bucket: str,
        source_key: str,
        bucket: str,
        key: str,
        *,
        replace_metadata: bool = False,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        condition: WriteCondition = NO_CONDITION,
        source_version_id: str | None = None,
        acl: str | None = None,
    ) -> ObjectRecord:
        """Copy by manifest (of the source's current version, or of ``source_version_id``): no
        chunk is read or written. The copy has its own ACL (``acl``; private by default), as
        in S3, and keeps the source's tags."""
        meta, _ = self._check_object_args(bucket, key, content_type, metadata, None)
        acl = check_object_acl(acl) if acl is not None else None
        source = await self.head_object(source_bucket, source_key, version_id=source_version_id)
        record = dataclasses.replace(
            source,
            bucket=bucket,
            key=key,
            modified=self._clock(),
            version=_new_version(),
            version_id=new_version_id(),
            content_type=(content_type or DEFAULT_CONTENT_TYPE)
            if replace_metadata
            else source.content_type,
            metadata=meta if replace_metadata else dict(source.metadata),
            headers=check_headers(headers or {}) if replace_metadata else dict(source.headers),
            acl=acl,
            upload_id=None,
        )
        # The commit gives the copy its own reference to each chunk; a chunk GC collected since
        # the source was read fails it (ChunkCollected) rather than committing a hole.
        stored, _ = await self._meta.put_object(record, condition, change=recorded("copy", record))
        self._changed(bucket)
        return stored

    async def delete_object(
        self,
        bucket: str,
        key: str,
        condition: WriteCondition = NO_CONDITION,
        *,
        version_id: str | None = None,
    ) -> ObjectRecord:
        """Delete the object, or with ``version_id`` that one version (or delete marker) for
        good. In a versioned bucket a delete without a version id adds a delete marker, which is
        returned; otherwise the removed version. NoSuchKey (NoSuchVersion) when there was
        nothing to remove."""
        check_key(key)
        if version_id is not None:
            check_version_id(version_id)
        now = self._clock()
        change = Change(op="delete", bucket=bucket, key=key, time=now, actor=actor())
        deleted = await self._meta.delete_object(
            bucket, key, condition, now=now, version_id=version_id, change=change
        )
        self._changed(bucket)
        if deleted is None:
            if version_id is not None:
                raise NoSuchVersion(f"no version {version_id!r} of {key!r} in bucket {bucket!r}")
            raise NoSuchKey(f"no object {key!r} in bucket {bucket!r}")
        return deleted

    # -- reading objects -----------------------------------------------------------------------

    async def head_object(
        self, bucket: str, key: str, *, version_id: str | None = None
    ) -> ObjectRecord:
        """The current version, or the version ``version_id``. A key whose newest version is
        a delete marker is NoSuchKey (with the marker's id in the details); asking for a
        delete marker by id is MethodNotAllowed, as S3 answers both."""
        check_key(key)
        if version_id is None:
            record = await self._meta.get_object(bucket, key)
            if record is None:
                hidden = await self._meta.get_version(bucket, key, None)
                raise NoSuchKey(f"no object {key!r} in bucket {bucket!r}", **_marker(hidden))
            return record
        check_version_id(version_id)
        record = await self._meta.get_version(bucket, key, version_id)
        if record is None:
            raise NoSuchVersion(f"no version {version_id!r} of {key!r} in bucket {bucket!r}")
        if record.delete_marker:
            raise MethodNotAllowed(
                "the specified version is a delete marker",
                **_marker(record),
                modified=str(record.modified),
            )
        return record

    async def open_object(
        self,
        bucket: str,
        key: str,
        *,
        range: str | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
        if_modified_since: str | None = None,
        if_unmodified_since: str | None = None,
        body: bool = True,
        version_id: str | None = None,
        part_number: int | None = None,
    ) -> ObjectReader:
        """Resolve conditions and range; raises NotModified, PreconditionFailed, InvalidRange.
        ``part_number`` reads one part of a multipart object (an object written in one piece
        is its part 1) instead of a range (InvalidPartNumber beyond the last part).

        With ``body`` (a GET, not a HEAD) the first bytes are read before this returns, so an
        object that cannot be served fails here (ChunkUnavailable, 503) and never as a cut body.
        """
        record = await self.head_object(bucket, key, version_id=version_id)
        check_read(
            etag=record.etag,
            modified=record.modified,
            if_match=if_match,
            if_none_match=if_none_match,
            if_modified_since=if_modified_since,
            if_unmodified_since=if_unmodified_since,
        )
        if part_number is not None:
            if range is not None:
                raise InvalidRequest("a read may name a Range or a partNumber, not both")
            bounds = record.part_range(part_number)
            range = f"bytes={bounds[0]}-{bounds[1]}" if bounds else None
        reader = self._reader(record, parse_range(range, record.size))
        if body:
            await reader.prefetch()
        return reader

    def _reader(self, record: ObjectRecord, byte_range: ByteRange | None) -> ObjectReader:
        return ObjectReader(
            record=record, range=byte_range, store=self._chunks, piece=self._config.read_piece
        )

    async def get_bytes(self, bucket: str, key: str, *, range: str | None = None) -> bytes:
        """Convenience for embedding: the object's bytes (or a range of them) in memory."""
        return await (await self.open_object(bucket, key, range=range)).read()

    async def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        cursor: str | None = None,
        limit: int | None = None,
    ) -> ListPage:
        """One page of keys and common prefixes, in UTF-8 byte order, as S3 lists them."""
        limit = check_page_size(limit)
        await self._meta.get_bucket(bucket)
        raw_prefix, raw_delim = prefix.encode(), delimiter.encode()
        start = raw_prefix
        if start_after:
            start = max(start, after(start_after.encode()))
        if cursor:
            start = max(start, decode_cursor(cursor))
        objects: list[ObjectInfo] = []
        prefixes: list[str] = []
        last: tuple[bytes, bool] | None = None
        while True:
            want = limit - len(objects) - len(prefixes) + 1
            batch = await self._meta.scan_objects(bucket, raw_prefix, start, want)
            restarted = False
            for info in batch:
                raw = info.key.encode()
                folded = common_prefix(raw, raw_prefix, raw_delim)
                if len(objects) + len(prefixes) == limit:
                    assert last is not None
                    return ListPage(
                        objects=objects,
                        prefixes=prefixes,
                        next_cursor=encode_cursor(last[0], is_prefix=last[1]),
                    )
                if folded is None:
                    objects.append(info)
                    last = (raw, False)
                    start = after(raw)
                    continue
                prefixes.append(folded.decode())
                last = (folded, True)
                end = prefix_end(folded)
                if end is None:
                    return ListPage(objects=objects, prefixes=prefixes, next_cursor=None)
                start = end
                restarted = True
                break
            if not restarted and len(batch) < want:
                return ListPage(objects=objects, prefixes=prefixes, next_cursor=None)

    # -- two-step uploads ----------------------------------------------------------------------

    async def create_upload(
        self,
        bucket: str,
        key: str,
        *,
        size: int,
        sha256: str,
        content_type: str | None = None,
        tags: Mapping[str, str] | None = None,
    ) -> Upload:
        """Declare an upload; its bytes must then match ``size`` and ``sha256`` exactly."""
        _, tag_map = self._check_object_args(bucket, key, content_type, None, tags)
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise InvalidArgument("size must be a non-negative integer")
        if not isinstance(sha256, str):
            raise InvalidArgument("sha256 must be a string")
        check_chunk_name(sha256.lower())
        now = self._clock()
        upload = Upload(
            upload_id=new_upload_id(18),
            bucket=bucket,
            key=key,
            size=size,
            sha256=sha256.lower(),
            content_type=content_type or DEFAULT_CONTENT_TYPE,
            tags=tag_map,
            created=now,
            expires=now + self._config.upload_ttl,
        )
        await self._meta.create_upload(upload)
        return upload

    async def get_upload(self, upload_id: str) -> Upload:
        """A declared upload still waiting for its bytes; NoSuchUpload once expired or used."""
        upload = await self._meta.get_upload(upload_id, self._clock())
        if upload is None:
            raise NoSuchUpload(f"upload {upload_id[:64]!r} does not exist, has expired or was used")
        return upload

    async def complete_upload(self, upload: Upload, body: AsyncIterable[bytes]) -> ObjectRecord:
        """Receive the bytes of a declared upload; it is consumed, atomically, only on success."""
        sink = await self._sink(upload.bucket)
        data = await ingest(body, sink, self._config, max_size=upload.size)
        self._verify(data, size=upload.size, sha256=upload.sha256)
        record = self._record(
            upload.bucket,
            upload.key,
            data,
            content_type=upload.content_type,
            metadata={},
            tags=upload.tags,
        )
        stored, _ = await self._meta.put_object(
            record, NO_CONDITION, upload_id=upload.upload_id, change=recorded("upload", record)
        )
        self._changed(upload.bucket)
        return stored
