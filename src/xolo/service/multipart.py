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
from dataclasses import dataclass, field

from xolo.core.acl import check_object_acl
from xolo.core.checksums import (
    ALGORITHMS,
    COMPOSITE,
    CRCS,
    FULL_OBJECT,
    multipart_checksum,
)
from xolo.core.conditions import NO_CONDITION, WriteCondition
from xolo.core.errors import (
    BadDigest,
    EntityTooSmall,
    InvalidArgument,
    InvalidPart,
    InvalidPartOrder,
    InvalidRequest,
    MalformedXML,
    NoSuchUpload,
)
from xolo.core.names import (
    check_content_type,
    check_headers,
    check_key,
    check_metadata,
    check_tags,
    new_upload_id,
)
from xolo.core.records import MultipartUpload, ObjectRecord, Part, PartLayout
from xolo.core.versions import new_version_id
from xolo.meta.base import MetaStore
from xolo.service.audit import recorded
from xolo.service.config import ServiceConfig
from xolo.service.ingest import ChunkSink, ingest, verify_checksums

MAX_PARTS = 10_000


@dataclass(frozen=True, slots=True, kw_only=True)
class ListedPart:
    """One part as CompleteMultipartUpload lists it: number, ETag, and any checksums."""

    number: int
    etag: str
    checksums: Mapping[str, str] = field(default_factory=dict)


def check_checksum_choice(algorithm: str | None, kind: str | None) -> str | None:
    """The checksum type an upload gets, after S3's rules for which algorithm allows which."""
    if algorithm is None:
        if kind is not None:
            raise InvalidRequest("x-amz-checksum-type needs an x-amz-checksum-algorithm")
        return None
    if algorithm not in ALGORITHMS:
        raise InvalidRequest(f"checksum algorithm {algorithm!r} is not supported")
    kind = (kind or (FULL_OBJECT if algorithm == "crc64nvme" else COMPOSITE)).upper()
    if kind not in (COMPOSITE, FULL_OBJECT):
        raise InvalidRequest("x-amz-checksum-type must be COMPOSITE or FULL_OBJECT")
    if kind == FULL_OBJECT and algorithm not in CRCS:
        raise InvalidRequest(f"the FULL_OBJECT checksum type cannot be used with {algorithm}")
    if kind == COMPOSITE and algorithm == "crc64nvme":
        raise InvalidRequest("the COMPOSITE checksum type cannot be used with crc64nvme")
    return kind


def _object_checksums(
    upload: MultipartUpload, chosen: list[Part], expected: str | None
) -> dict[str, str]:
    algorithm, kind = upload.checksum_algorithm, upload.checksum_type
    if algorithm is None or kind is None:
        return {}
    value = multipart_checksum(algorithm, kind, [(p.checksums[algorithm], p.size) for p in chosen])
    if expected is not None and expected != value:
        raise BadDigest(f"the {algorithm} checksum you specified did not match the parts")
    return {algorithm: value}


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
        checksum_type: str | None = None,
        headers: Mapping[str, str] | None = None,
        acl: str | None = None,
    ) -> MultipartUpload:
        """Start an upload. With ``checksum_algorithm`` every part gets that checksum and the
        object a whole-object one of ``checksum_type``: COMPOSITE (the default, except for
        CRC64NVME, which is FULL_OBJECT only) or FULL_OBJECT (CRCs only)."""
        check_key(key)
        checksum_type = check_checksum_choice(checksum_algorithm, checksum_type)
        if content_type is not None:
            check_content_type(content_type)
        upload = MultipartUpload(
            upload_id=new_upload_id(24),
            bucket=bucket,
            key=key,
            created=self._clock(),
            content_type=content_type or DEFAULT_CONTENT_TYPE,
            metadata=check_metadata(metadata or {}),
            tags=check_tags(tags or {}),
            checksum_algorithm=checksum_algorithm,
            checksum_type=checksum_type,
            headers=check_headers(headers or {}),
            acl=check_object_acl(acl) if acl is not None else None,
        )
        await self._meta.create_multipart(upload)
        return upload

    async def get_multipart(self, upload_id: str, bucket: str, key: str) -> MultipartUpload:
        """The upload, only if it belongs to this bucket and key (an upload id alone opens nothing);
        NoSuchUpload otherwise."""
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
        if upload.checksum_algorithm is not None:
            checksum_algorithms |= {upload.checksum_algorithm}
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
        """Every uploaded part by number, read page by page, for completion to choose from."""
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
        listed: list[ListedPart],
        condition: WriteCondition = NO_CONDITION,
        *,
        expected_checksum: str | None = None,
    ) -> ObjectRecord:
        """Join the listed parts after S3's checks; a failed check changes nothing. The
        object keeps its parts' layout (``partNumber`` reads, GetObjectAttributes) and, when
        the upload chose an algorithm, a whole-object checksum (``expected_checksum``, a
        FULL_OBJECT value the client computed, must match it)."""
        chosen = self._chosen_parts(await self.all_parts(upload.upload_id), listed)
        joined = hashlib.md5(b"".join(bytes.fromhex(p.etag) for p in chosen)).hexdigest()
        checksums = _object_checksums(upload, chosen, expected_checksum)
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
            checksums=checksums,
            parts=tuple(
                PartLayout(number=p.number, size=p.size, etag=p.etag, checksums=p.checksums)
                for p in chosen
            ),
            upload_id=upload.upload_id,
            acl=upload.acl,
        )
        committed, _ = await self._meta.complete_multipart(
            upload.upload_id, record, condition, change=recorded("complete", record)
        )
        self._changed(upload.bucket)
        return committed

    def _chosen_parts(self, stored: Mapping[int, Part], listed: list[ListedPart]) -> list[Part]:
        if not listed:
            raise MalformedXML("you must specify at least one part")
        numbers = [p.number for p in listed]
        if any(b <= a for a, b in itertools.pairwise(numbers)):
            raise InvalidPartOrder("the list of parts was not in ascending order")
        chosen: list[Part] = []
        for entry in listed:
            part = stored.get(entry.number)
            if part is None or entry.etag.strip().strip('"') != part.etag:
                raise InvalidPart(
                    f"part {entry.number} was not uploaded, or its ETag does not match what was "
                    "uploaded"
                )
            for algorithm, value in entry.checksums.items():
                if part.checksums.get(algorithm) != value:
                    raise InvalidPart(
                        f"part {entry.number}'s {algorithm} checksum does not match what was "
                        "uploaded"
                    )
            chosen.append(part)
        for part in chosen[:-1]:
            if part.size < self._config.min_part_size:
                raise EntityTooSmall(
                    f"part {part.number} is {part.size} bytes; every part but the last must be "
                    f"at least {self._config.min_part_size}"
                )
        return chosen

    async def completed_again(
        self, bucket: str, key: str, upload_id: str, listed: list[ListedPart]
    ) -> ObjectRecord:
        """A completion repeated after it succeeded: S3 answers it with the object it made,
        as long as the same parts are listed and that object is still the key's current
        version; otherwise the upload is gone (NoSuchUpload)."""
        current = await self._meta.get_object(bucket, key)
        if current is None or current.upload_id != upload_id:
            raise NoSuchUpload(
                "the multipart upload does not exist; it may have been aborted or completed"
            )
        made = [(p.number, p.etag) for p in current.parts]
        asked = [(p.number, p.etag.strip().strip('"')) for p in listed]
        if made != asked:
            raise InvalidPart("the upload was completed with other parts than those listed")
        return current

    async def abort_multipart(self, upload: MultipartUpload) -> None:
        """End the upload and forget its parts, so GC can reclaim their chunks; NoSuchUpload when it
        has already ended."""
        if not await self._meta.abort_multipart(upload.upload_id, now=self._clock()):
            raise NoSuchUpload()

    async def list_parts(
        self, upload: MultipartUpload, *, after: int = 0, limit: int = 1000
    ) -> tuple[list[Part], bool]:
        """A page of the upload's parts after part ``after``, and whether more follow."""
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
        """A page of the bucket's unfinished uploads under ``prefix``, resumed after the markers as
        S3 resumes, and whether more follow."""
        after: tuple[bytes, str] | None = None
        if key_marker:
            # Without an upload-id marker S3 resumes after every upload of the key marker.
            after = (key_marker.encode(), upload_id_marker or "\U0010ffff")
        uploads = await self._meta.list_multiparts(bucket, prefix.encode(), after, limit + 1)
        return uploads[:limit], len(uploads) > limit
