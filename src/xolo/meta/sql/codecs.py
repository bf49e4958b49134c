"""Rows to records and back: one codec per table, shared by every SQL dialect."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from xolo.core.records import (
    AccessKey,
    Bucket,
    BucketConfig,
    BucketSettings,
    ChunkInfo,
    ChunkRef,
    MultipartUpload,
    ObjectRecord,
    Part,
    PartLayout,
    PeerRecord,
    RouterRecord,
    TaskRecord,
    Upload,
)
from xolo.meta.sql.tx import Row

OBJECT_COLUMNS = (
    "key, size, etag, modified, content_type, sha256, version, metadata, tags, chunks, "
    "checksums, headers, version_id, parts, acl, inline"
)
"""The columns of an object record, in both the objects table and its history."""
HISTORY_COLUMNS = f"{OBJECT_COLUMNS}, delete_marker, vseq"
BUCKET_SELECT = (
    "SELECT b.name, b.created, b.settings, b.owner, b.versioning, b.config, "
    "(SELECT CAST(COALESCE(SUM(s.objects), 0) AS {bigint}) FROM bucket_stats s "
    "WHERE s.bucket = b.name), "
    "(SELECT CAST(COALESCE(SUM(s.bytes), 0) AS {bigint}) FROM bucket_stats s "
    "WHERE s.bucket = b.name) FROM buckets b"
)
MULTIPART_COLUMNS = (
    "upload_id, bucket, key, created, content_type, metadata, tags, checksum_algorithm, headers, "
    "checksum_type, acl"
)
PART_COLUMNS = "upload_id, number, size, etag, modified, chunks, checksums"
UPLOAD_COLUMNS = "upload_id, bucket, key, size, sha256, content_type, tags, created, expires"
KEY_COLUMNS = "access_key, sealed_secret, created, is_root, grants, disabled"
PEER_COLUMNS = (
    "id, url, zone, capacity, used_bytes, chunks, last_heartbeat, joined, admin_state, sent"
)
CHUNK_COLUMNS = "sha256, size, refs, replicas"


def dumps(doc: Mapping[str, Any]) -> str:
    """Compact JSON for the document columns."""
    return json.dumps(dict(doc), separators=(",", ":"))


def bucket(row: Row) -> Bucket:
    """A bucket from a BUCKET_SELECT row, with its usage totals summed from ``bucket_stats``."""
    name, created, settings, owner, versioning, config, count, used = row
    return Bucket(
        name=name,
        created=created,
        settings=BucketSettings.from_json(json.loads(settings)),
        owner=owner,
        object_count=int(count),
        bytes_used=int(used),
        versioning=versioning,
        config=BucketConfig.from_json(json.loads(config)),
    )


def chunks(doc: str) -> tuple[ChunkRef, ...]:
    """A chunk list from its JSON column (``[[sha256, size], ...]``)."""
    return tuple(ChunkRef(sha256=h, size=n) for h, n in json.loads(doc))


def chunks_json(refs: tuple[ChunkRef, ...]) -> str:
    """A chunk list as its compact JSON column (``[[sha256, size], ...]``)."""
    return json.dumps([[c.sha256, c.size] for c in refs], separators=(",", ":"))


def record(bucket_name: str, row: Row, *, delete_marker: bool = False) -> ObjectRecord:
    """An object record from the OBJECT_COLUMNS of ``row`` (columns after them are ignored)."""
    (
        key,
        size,
        etag,
        modified,
        ctype,
        sha256,
        version,
        meta,
        tags,
        refs,
        sums,
        hdrs,
        vid,
        layout,
        acl,
        inline,
    ) = row[:16]
    upload_id, parts = parts_from_json(layout)
    return ObjectRecord(
        bucket=bucket_name,
        key=bytes(key).decode(),
        size=size,
        etag=etag,
        sha256=sha256,
        modified=modified,
        version=version,
        content_type=ctype,
        metadata=json.loads(meta),
        tags=json.loads(tags),
        chunks=chunks(refs),
        inline=bytes(inline) if inline is not None else None,
        checksums=json.loads(sums),
        headers=json.loads(hdrs),
        version_id=vid,
        delete_marker=delete_marker,
        parts=parts,
        upload_id=upload_id,
        acl=acl,
    )


def history(bucket_name: str, row: Row) -> tuple[ObjectRecord, int]:
    """A history row (HISTORY_COLUMNS): the version or delete marker, and its place."""
    return record(bucket_name, row, delete_marker=bool(row[16])), int(row[17])


def record_values(rec: ObjectRecord) -> tuple[Any, ...]:
    """The values of OBJECT_COLUMNS, after the bucket."""
    return (
        rec.key.encode(),
        rec.size,
        rec.etag,
        rec.modified,
        rec.content_type,
        rec.sha256,
        rec.version,
        dumps(rec.metadata),
        dumps(rec.tags),
        chunks_json(rec.chunks),
        dumps(rec.checksums),
        dumps(rec.headers),
        rec.version_id,
        parts_json(rec),
        rec.acl,
        rec.inline,
    )


def parts_json(rec: ObjectRecord) -> str:
    """The multipart layout of a record: its upload and each part (number, size, ETag,
    checksums); ``{}`` for an object written in one piece."""
    if not rec.parts and rec.upload_id is None:
        return "{}"
    doc = {
        "upload_id": rec.upload_id,
        "parts": [[p.number, p.size, p.etag, dict(p.checksums)] for p in rec.parts],
    }
    return json.dumps(doc, separators=(",", ":"))


def parts_from_json(doc: str) -> tuple[str | None, tuple[PartLayout, ...]]:
    """The upload id and part layout a record's ``parts`` column holds (see ``parts_json``)."""
    parsed = json.loads(doc)
    parts = tuple(
        PartLayout(number=n, size=size, etag=etag, checksums=sums)
        for n, size, etag, sums in parsed.get("parts", ())
    )
    return parsed.get("upload_id"), parts


def multipart(row: Row) -> MultipartUpload:
    """A multipart upload from a row of MULTIPART_COLUMNS."""
    uid, bucket_name, key, created, ctype, meta, tags, algorithm, hdrs, kind, acl = row
    return MultipartUpload(
        upload_id=uid,
        bucket=bucket_name,
        key=bytes(key).decode(),
        created=created,
        content_type=ctype,
        metadata=json.loads(meta),
        tags=json.loads(tags),
        checksum_algorithm=algorithm,
        checksum_type=kind,
        acl=acl,
        headers=json.loads(hdrs),
    )


def multipart_values(up: MultipartUpload) -> tuple[Any, ...]:
    """The values of MULTIPART_COLUMNS for an upload."""
    return (
        up.upload_id,
        up.bucket,
        up.key.encode(),
        up.created,
        up.content_type,
        dumps(up.metadata),
        dumps(up.tags),
        up.checksum_algorithm,
        dumps(up.headers),
        up.checksum_type,
        up.acl,
    )


def part(row: Row) -> Part:
    """A part from a row of PART_COLUMNS."""
    uid, number, size, etag, modified, refs, sums = row
    return Part(
        upload_id=uid,
        number=int(number),
        size=size,
        etag=etag,
        modified=modified,
        chunks=chunks(refs),
        checksums=json.loads(sums),
    )


def part_values(p: Part) -> tuple[Any, ...]:
    """The values of PART_COLUMNS for a part."""
    return (
        p.upload_id,
        p.number,
        p.size,
        p.etag,
        p.modified,
        chunks_json(p.chunks),
        dumps(p.checksums),
    )


def upload(row: Row) -> Upload:
    """A declared two-step upload from a row of UPLOAD_COLUMNS."""
    uid, bucket_name, key, size, sha256, ctype, tags, created, expires = row
    return Upload(
        upload_id=uid,
        bucket=bucket_name,
        key=key,
        size=size,
        sha256=sha256,
        content_type=ctype,
        tags=json.loads(tags),
        created=created,
        expires=expires,
    )


def upload_values(up: Upload) -> tuple[Any, ...]:
    """The values of UPLOAD_COLUMNS for a declared upload."""
    return (
        up.upload_id,
        up.bucket,
        up.key,
        up.size,
        up.sha256,
        up.content_type,
        dumps(up.tags),
        up.created,
        up.expires,
    )


def access_key(row: Row) -> AccessKey:
    """An access key from a row of KEY_COLUMNS; the secret stays sealed."""
    key_id, sealed, created, is_root, grants, disabled = row
    return AccessKey(
        access_key=key_id,
        sealed_secret=bytes(sealed),
        created=created,
        is_root=bool(is_root),
        grants=json.loads(grants),
        disabled=bool(disabled),
    )


def access_key_values(key: AccessKey) -> tuple[Any, ...]:
    """The values of KEY_COLUMNS for a key (flags as integers, which every dialect stores)."""
    return (
        key.access_key,
        key.sealed_secret,
        key.created,
        int(key.is_root),
        dumps(key.grants),
        int(key.disabled),
    )


def peer(row: Row) -> PeerRecord:
    """A peer from a row of PEER_COLUMNS."""
    pid, url, zone, capacity, used, count, heartbeat, joined, admin_state, sent = row
    return PeerRecord(
        id=pid,
        url=url,
        zone=zone,
        capacity=int(capacity),
        used_bytes=int(used),
        chunks=int(count),
        last_heartbeat=heartbeat,
        joined=joined,
        admin_state=admin_state,
        sent=float(sent),
    )


def peer_values(p: PeerRecord) -> tuple[Any, ...]:
    """The values of PEER_COLUMNS for a peer."""
    return (
        p.id,
        p.url,
        p.zone,
        p.capacity,
        p.used_bytes,
        p.chunks,
        p.last_heartbeat,
        p.joined,
        p.admin_state,
        p.sent,
    )


def router(row: Row) -> RouterRecord:
    """A router from its row (id, url, s3_url, last_seen)."""
    rid, url, s3_url, last_seen = row
    return RouterRecord(id=rid, url=url, s3_url=s3_url, last_seen=last_seen)


def chunk_info(row: Row) -> ChunkInfo:
    """What is known of a chunk, from a row of CHUNK_COLUMNS."""
    sha, size, refs, replicas = row
    return ChunkInfo(sha256=sha, size=int(size), refs=int(refs), replicas=int(replicas))


def task(row: Row) -> TaskRecord:
    """A background task's lease and last status, from its row."""
    name, holder, lease_until, status = row
    return TaskRecord(name=name, holder=holder, lease_until=lease_until, status=json.loads(status))
