"""S3-style multipart uploads: parts are stored as chunks, so completion writes only a manifest.

A mixin of ObjectService (the one place that defines object semantics), kept in its own module
because multipart is a self-contained protocol.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import secrets
from collections.abc import AsyncIterable, Callable, Mapping

from xolo.core.conditions import NO_CONDITION, WriteCondition
from xolo.core.errors import (
    BadDigest,
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    MalformedXML,
    NoSuchUpload,
)
from xolo.core.names import (
    check_content_type,
    check_headers,
    check_key,
    check_metadata,
    check_tags,
)
from xolo.core.records import MultipartUpload, ObjectRecord, Part
from xolo.core.versions import new_version_id
from xolo.meta.base import MetaStore
from xolo.service.audit import recorded
from xolo.service.config import ServiceConfig
from xolo.service.ingest import ChunkSink, ingest, verify_checksums

MAX_PARTS = 10_000
DEFAULT_CONTENT_TYPE = "application/octet-stream"


class MultipartMixin:
    """Multipart operations of ObjectService (which provides these attributes)."""

    _meta: MetaStore
    _config: ServiceConfig
    _clock: Callable[[], float]

    async def _sink(self, bucket: str) -> ChunkSink:
        raise NotImplementedError

    def _changed(self, bucket: str) -> None:
        raise NotImplementedError

    async def create_multipart(
        self,
        bucket: str,
        key: str,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        checksum_algorithm: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> MultipartUpload:
        check_key(key)
        if content_type is not None:
            check_content_type(content_type)
        upload = MultipartUpload(
            upload_id=secrets.token_urlsafe(24),
            bucket=bucket,
            key=key,
            created=self._clock(),
            content_type=content_type or DEFAULT_CONTENT_TYPE,
            metadata=check_metadata(metadata or {}),
            tags=check_tags(tags or {}),
            checksum_algorithm=checksum_algorithm,
            headers=check_headers(headers or {}),
        )
        await self._meta.create_multipart(upload)
        return upload

    async def get_multipart(self, upload_id: str, bucket: str, key: str) -> MultipartUpload:
        upload = await self._meta.get_multipart(upload_id)
        if upload is None or upload.bucket != bucket or upload.key != key:
            raise NoSuchUpload(
                "the multipart upload does not exist; it may have been aborted or completed"
            )
        return upload

    async def upload_part(
        self,
        upload: MultipartUpload,
        number: int,
        body: AsyncIterable[bytes],
        *,
        content_md5: str | None = None,
        sha256: str | None = None,
        checksum_algorithms: frozenset[str] = frozenset(),
        expected_checksums: Mapping[str, str] | None = None,
    ) -> Part:
        """Store one part's bytes as chunks (never inline: completion only joins chunk lists)."""
        if not 1 <= number <= MAX_PARTS:
            raise InvalidArgument(f"part number must be an integer between 1 and {MAX_PARTS}")
        config = dataclasses.replace(self._config, inline_threshold=0)
        sink = await self._sink(upload.bucket)
        data = await ingest(body, sink, config, md5=True, checksums=checksum_algorithms)
        if sha256 is not None and data.sha256 != sha256:
            raise BadDigest("the part's SHA-256 does not match the one that was signed")
        verify_checksums(data, content_md5, expected_checksums)
        assert data.md5 is not None
        now = self._clock()
        part = Part(
            upload_id=upload.upload_id,
            number=number,
            size=data.size,
            etag=data.md5,
            modified=now,
            chunks=data.chunks,
            checksums=data.checksums,
        )
        await self._meta.put_part(part, now=now)
        return part

    async def all_parts(self, upload_id: str) -> dict[int, Part]:
        parts: dict[int, Part] = {}
        after = 0
        while True:
            batch = await self._meta.list_parts(upload_id, after, 1000)
            parts.update((p.number, p) for p in batch)
            if len(batch) < 1000:
                return parts
            after = batch[-1].number

    async def complete_multipart(
        self,
        upload: MultipartUpload,
        listed: list[tuple[int, str]],
        condition: WriteCondition = NO_CONDITION,
    ) -> ObjectRecord:
        """Join the listed parts after S3's checks; a failed check changes nothing."""
        if not listed:
            raise MalformedXML("you must specify at least one part")
        numbers = [n for n, _ in listed]
        if any(b <= a for a, b in itertools.pairwise(numbers)):
            raise InvalidPartOrder("the list of parts was not in ascending order")
        stored = await self.all_parts(upload.upload_id)
        chosen: list[Part] = []
        for number, etag in listed:
            part = stored.get(number)
            if part is None or etag.strip().strip('"') != part.etag:
                raise InvalidPart(
                    f"part {number} was not uploaded, or its ETag does not match what was uploaded"
                )
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < self._config.min_part_size:
                raise EntityTooSmall(
                    f"part {part.number} is {part.size} bytes; every part but the last must be "
                    f"at least {self._config.min_part_size}"
                )
        joined = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in chosen)).hexdigest()
        record = ObjectRecord(
            bucket=upload.bucket,
            key=upload.key,
            size=sum(p.size for p in chosen),
            etag=f"{joined}-{len(chosen)}",
            sha256=None,
            modified=self._clock(),
            version=secrets.token_hex(8),
            content_type=upload.content_type,
            metadata=dict(upload.metadata),
            tags=dict(upload.tags),
            chunks=tuple(c for p in chosen for c in p.chunks),
            headers=dict(upload.headers),
            version_id=new_version_id(),
        )
        committed, _ = await self._meta.complete_multipart(
            upload.upload_id, record, condition, change=recorded("complete", record)
        )
        self._changed(upload.bucket)
        return committed

    async def abort_multipart(self, upload: MultipartUpload) -> None:
        if not await self._meta.abort_multipart(upload.upload_id, now=self._clock()):
            raise NoSuchUpload()

    async def list_parts(
        self, upload: MultipartUpload, *, after: int = 0, limit: int = 1000
    ) -> tuple[list[Part], bool]:
        parts = await self._meta.list_parts(upload.upload_id, after, limit + 1)
        return parts[:limit], len(parts) > limit

    async def list_multiparts(
        self,
        bucket: str,
        *,
        prefix: str = "",
        key_marker: str = "",
        upload_id_marker: str = "",
        limit: int = 1000,
    ) -> tuple[list[MultipartUpload], bool]:
        after: tuple[bytes, str] | None = None
        if key_marker:
            # Without an upload-id marker S3 resumes after every upload of the key marker.
            after = (key_marker.encode(), upload_id_marker or "\U0010ffff")
        uploads = await self._meta.list_multiparts(bucket, prefix.encode(), after, limit + 1)
        return uploads[:limit], len(uploads) > limit
