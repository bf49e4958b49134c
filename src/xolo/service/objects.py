"""ObjectService: the only place that defines object semantics.

Every surface (native HTTP, S3, the embedded API) translates onto these methods and
nothing else, so a rule fixed here holds everywhere.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import random
import secrets
import time
from collections.abc import AsyncIterable, AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass

from xolo.chunks.base import ChunkStore
from xolo.core.checksums import ObjectDigest, check_chunk_name
from xolo.core.conditions import NO_CONDITION, WriteCondition, check_read
from xolo.core.errors import (
    BadDigest,
    ConcurrentUpdate,
    EntityTooLarge,
    InvalidArgument,
    NoSuchChunk,
    NoSuchKey,
    NoSuchUpload,
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
from xolo.meta.base import MetaStore
from xolo.service.config import ServiceConfig
from xolo.service.ingest import Ingested, ingest, verify_checksums
from xolo.service.locks import KeyedLocks
from xolo.service.multipart import MultipartMixin

DEFAULT_CONTENT_TYPE = "application/octet-stream"

APPEND_RETRIES = 10
"""Replays of an append that lost a race with another process before it gives up; each waits a
random few milliseconds more than the last, so two processes do not retry in lockstep."""

BUCKET_SEEN_SECONDS = 2.0
"""How long a bucket seen to exist skips the pre-write check. Only an optimisation: the commit
checks the bucket in its own transaction, so a bucket deleted meanwhile still fails the write
(after its bytes are read). Saves a metadata read on every small PUT."""
BUCKETS_SEEN_MAX = 10_000


async def _one(data: bytes) -> AsyncIterator[bytes]:
    yield data


def _new_version() -> str:
    return secrets.token_hex(8)


@dataclass(frozen=True, slots=True)
class ObjectReader:
    """An object opened for reading: its record, the resolved range, and its bytes on demand."""

    record: ObjectRecord
    range: ByteRange | None
    chunks: ChunkStore
    piece: int

    @property
    def start(self) -> int:
        return self.range.start if self.range else 0

    @property
    def length(self) -> int:
        return self.range.length if self.range else self.record.size

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[bytes]:
        if self.length == 0:
            return
        end = self.start + self.length - 1
        if self.record.inline is not None:
            yield self.record.inline[self.start : end + 1]
            return
        pieces = [
            (chunk.sha256, pos, min(self.piece, offset + length - pos))
            for chunk, offset, length in self.record.slices(self.start, end)
            for pos in range(offset, offset + length, self.piece)
        ]
        # One piece of readahead: the next read runs while the current piece is being sent.
        pending = asyncio.ensure_future(self.chunks.get(*pieces[0]))
        try:
            for i in range(len(pieces)):
                data = await pending
                if i + 1 < len(pieces):
                    pending = asyncio.ensure_future(self.chunks.get(*pieces[i + 1]))
                yield data
        finally:
            if not pending.done():
                pending.cancel()
                await asyncio.gather(pending, return_exceptions=True)

    async def read(self) -> bytes:
        return b"".join([piece async for piece in self])


class ObjectService(MultipartMixin):
    def __init__(
        self,
        meta: MetaStore,
        chunks: ChunkStore,
        config: ServiceConfig | None = None,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.meta = meta
        self.chunks = chunks
        self.config = config or ServiceConfig()
        self._clock = clock
        self._append_locks = KeyedLocks()
        self._buckets_seen: dict[str, float] = {}

    async def __aenter__(self) -> ObjectService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.meta.close()
        await self.chunks.close()

    # -- buckets -------------------------------------------------------------------------------

    async def list_buckets(self) -> list[Bucket]:
        return await self.meta.list_buckets()

    async def put_bucket(
        self, name: str, settings: BucketSettings | None = None
    ) -> tuple[Bucket, bool]:
        """Create a bucket, or update the settings of an existing one."""
        check_bucket_name(name)
        return await self.meta.put_bucket(name, settings or BucketSettings(), self._clock())

    async def get_bucket(self, name: str) -> Bucket:
        return await self.meta.get_bucket(name)

    async def delete_bucket(self, name: str) -> None:
        self._buckets_seen.pop(name, None)
        await self.meta.delete_bucket(name)

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

    async def _precheck(self, bucket: str, key: str, condition: WriteCondition) -> None:
        """Fail before reading any byte when the outcome is known; the commit checks again."""
        if condition == NO_CONDITION:
            now = time.monotonic()
            if self._buckets_seen.get(bucket, 0.0) > now:
                return
            await self.meta.get_bucket(bucket)
            if len(self._buckets_seen) > BUCKETS_SEEN_MAX:
                self._buckets_seen.clear()
            self._buckets_seen[bucket] = now + BUCKET_SEEN_SECONDS
            return
        current = await self.meta.get_object(bucket, key)
        condition.check(current.etag if current else None, current.version if current else None)

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
    ) -> ObjectRecord:
        """Store ``body`` as the object, replacing any current one atomically.

        ``size``, ``sha256``, ``content_md5`` (base64) and ``expected_checksums`` (algorithm →
        base64), when given, must match the body or nothing is stored. ``expected_checksums`` is
        read only after the body is consumed, so a trailer may fill it in. The ETag is the
        SHA-256, or the MD5 with ``md5_etag`` (what S3 clients expect).
        """
        meta, tag_map = self._check_object_args(bucket, key, content_type, metadata, tags)
        stored_headers = check_headers(headers or {})
        if sha256 is not None and (len(sha256) != 64 or sha256 != sha256.lower()):
            raise InvalidArgument("sha256 must be 64 lowercase hex characters")
        await self._precheck(bucket, key, condition)
        data = await ingest(
            body,
            self.chunks,
            self.config,
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
        await self.meta.put_object(record, condition)
        return record

    async def put_bytes(self, bucket: str, key: str, data: bytes, **kwargs: object) -> ObjectRecord:
        """Convenience for embedding: ``put_object`` with an in-memory body."""
        return await self.put_object(bucket, key, _one(data), **kwargs)  # type: ignore[arg-type]

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
        async with self._append_locks.hold((bucket, key)):
            for retry in range(APPEND_RETRIES + 1):
                if retry:
                    await asyncio.sleep(random.uniform(0, 0.002 * retry))
                current = await self.meta.get_object(bucket, key)
                attempt = await self._append_once(
                    current, bucket, key, body, content_type, meta, condition
                )
                if isinstance(attempt, ObjectRecord):
                    return attempt
                # Lost a race: replay the bytes this try stored (an empty range yields nothing).
                tried, old_size = attempt
                body = ObjectReader(
                    tried, ByteRange(old_size, tried.size - 1), self.chunks, self.config.read_piece
                )
            raise ConcurrentUpdate("the object kept changing under this append; retry it")

    async def _append_once(
        self,
        current: ObjectRecord | None,
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
            data = await ingest(body, self.chunks, self.config)
            chunks = data.chunks
        elif current.inline is not None:
            data = await ingest(body, self.chunks, self.config, prefix=current.inline)
            chunks = data.chunks
        else:
            digest = ObjectDigest()
            await self._feed(current, digest)
            config = dataclasses.replace(self.config, inline_threshold=0)
            data = await ingest(body, self.chunks, config, digest=digest)
            chunks = current.chunks + data.chunks
        record = ObjectRecord(
            bucket=bucket,
            key=key,
            size=data.size,
            etag=data.sha256,
            sha256=data.sha256,
            modified=self._clock(),
            version=_new_version(),
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
            await self.meta.put_object(record, guarded)
        except ConcurrentUpdate:
            return record, current.size if current else 0
        return record

    async def _feed(self, record: ObjectRecord, digest: ObjectDigest) -> None:
        reader = ObjectReader(record, None, self.chunks, self.config.read_piece)
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
    ) -> ObjectRecord:
        """Copy by manifest: no chunk is read or written."""
        meta, _ = self._check_object_args(bucket, key, content_type, metadata, None)
        source = await self.head_object(source_bucket, source_key)
        record = dataclasses.replace(
            source,
            bucket=bucket,
            key=key,
            modified=self._clock(),
            version=_new_version(),
            content_type=(content_type or DEFAULT_CONTENT_TYPE)
            if replace_metadata
            else source.content_type,
            metadata=meta if replace_metadata else dict(source.metadata),
            headers=check_headers(headers or {}) if replace_metadata else dict(source.headers),
        )
        # The new manifest names chunks it does not store: refresh them so garbage collection
        # spares them even if the source is deleted before this commit lands.
        if record.chunks and not all(await self.chunks.touch([c.sha256 for c in record.chunks])):
            raise NoSuchKey(f"the copy source {source_key!r} lost chunks; it cannot be copied")
        await self.meta.put_object(record, condition)
        return record

    async def delete_object(
        self, bucket: str, key: str, condition: WriteCondition = NO_CONDITION
    ) -> ObjectRecord:
        check_key(key)
        deleted = await self.meta.delete_object(bucket, key, condition)
        if deleted is None:
            raise NoSuchKey(f"no object {key!r} in bucket {bucket!r}")
        return deleted

    # -- reading objects -----------------------------------------------------------------------

    async def head_object(self, bucket: str, key: str) -> ObjectRecord:
        check_key(key)
        record = await self.meta.get_object(bucket, key)
        if record is None:
            raise NoSuchKey(f"no object {key!r} in bucket {bucket!r}")
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
    ) -> ObjectReader:
        """Resolve conditions and range; raises NotModified, PreconditionFailed, InvalidRange."""
        record = await self.head_object(bucket, key)
        check_read(
            etag=record.etag,
            modified=record.modified,
            if_match=if_match,
            if_none_match=if_none_match,
            if_modified_since=if_modified_since,
            if_unmodified_since=if_unmodified_since,
        )
        byte_range = parse_range(range, record.size)
        return ObjectReader(record, byte_range, self.chunks, self.config.read_piece)

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
        await self.meta.get_bucket(bucket)
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
            batch = await self.meta.scan_objects(bucket, raw_prefix, start, want)
            restarted = False
            for info in batch:
                raw = info.key.encode()
                folded = common_prefix(raw, raw_prefix, raw_delim)
                if len(objects) + len(prefixes) == limit:
                    assert last is not None
                    return ListPage(objects, prefixes, encode_cursor(last[0], is_prefix=last[1]))
                if folded is None:
                    objects.append(info)
                    last = (raw, False)
                    start = after(raw)
                    continue
                prefixes.append(folded.decode())
                last = (folded, True)
                end = prefix_end(folded)
                if end is None:
                    return ListPage(objects, prefixes, None)
                start = end
                restarted = True
                break
            if not restarted and len(batch) < want:
                return ListPage(objects, prefixes, None)

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
            upload_id=secrets.token_urlsafe(18),
            bucket=bucket,
            key=key,
            size=size,
            sha256=sha256.lower(),
            content_type=content_type or DEFAULT_CONTENT_TYPE,
            tags=tag_map,
            created=now,
            expires=now + self.config.upload_ttl,
        )
        await self.meta.create_upload(upload)
        return upload

    async def get_upload(self, upload_id: str) -> Upload:
        upload = await self.meta.get_upload(upload_id, self._clock())
        if upload is None:
            raise NoSuchUpload(f"upload {upload_id[:64]!r} does not exist, has expired or was used")
        return upload

    async def complete_upload(self, upload: Upload, body: AsyncIterable[bytes]) -> ObjectRecord:
        """Receive the bytes of a declared upload; it is consumed, atomically, only on success."""
        data = await ingest(body, self.chunks, self.config, max_size=upload.size)
        self._verify(data, size=upload.size, sha256=upload.sha256)
        record = self._record(
            upload.bucket,
            upload.key,
            data,
            content_type=upload.content_type,
            metadata={},
            tags=upload.tags,
        )
        await self.meta.put_object(record, NO_CONDITION, upload_id=upload.upload_id)
        return record

    # -- garbage collection ------------------------------------------------------------------

    async def collect_garbage(self, grace: float = 24 * 3600.0) -> int:
        """Delete chunks that no object or part names and that were last stored more than
        ``grace`` seconds ago, and abandoned temporary files; returns chunks deleted.

        Safe against concurrent writes: a write stores (or, deduplicating, re-stores and so
        refreshes) every chunk before committing the manifest that names it, so a chunk an
        upload still needs is younger than ``grace`` for as long as that upload is shorter.
        The referenced set is read before the sweep starts.
        """
        if grace < 0:
            raise InvalidArgument("grace must not be negative")
        cutoff = self._clock() - grace
        referenced = await self.meta.referenced_chunks()
        return await self.chunks.sweep(referenced.__contains__, cutoff)

    # -- content-addressed chunks --------------------------------------------------------------

    async def put_chunk(self, sha256: str, body: AsyncIterable[bytes]) -> int:
        """Store a chunk sent by name; bytes that do not hash to the name are refused."""
        check_chunk_name(sha256)
        buf = bytearray()
        async for piece in body:
            buf += piece
            if len(buf) > self.config.max_chunk_size:
                raise EntityTooLarge(f"a chunk may be at most {self.config.max_chunk_size} bytes")
        data = bytes(buf)
        actual = await asyncio.to_thread(lambda: hashlib.sha256(data).hexdigest())
        if actual != sha256:
            raise BadDigest(f"the body hashes to {actual}, not to its name")
        await self.chunks.put(sha256, data)
        return len(data)

    async def get_chunk(self, sha256: str) -> bytes:
        check_chunk_name(sha256)
        return await self.chunks.get(sha256)

    async def chunk_size(self, sha256: str) -> int:
        check_chunk_name(sha256)
        size = await self.chunks.size(sha256)
        if size is None:
            raise NoSuchChunk(f"chunk {sha256} is not stored here")
        return size

    async def has_chunks(self, names: Sequence[str]) -> list[bool]:
        for name in names:
            if not isinstance(name, str):
                raise InvalidArgument("chunk names must be strings")
            check_chunk_name(name)
        return await self.chunks.has(names)
