"""Object operations: put, get, head, delete, copy, and batch delete."""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping

from starlette.responses import Response, StreamingResponse

from xolo.api.http import header_text, header_value
from xolo.api.s3 import xml
from xolo.api.s3.context import S3Request
from xolo.core.checksums import checksum_type
from xolo.core.conditions import WriteCondition, check_read, format_http_date
from xolo.core.errors import (
    InvalidArgument,
    InvalidRequest,
    NoSuchKey,
    NoSuchVersion,
    NotImplementedByXolo,
    NotModified,
    PreconditionFailed,
    XoloError,
)
from xolo.core.names import REPRESENTATION_HEADERS, tags_from_query
from xolo.core.records import ObjectRecord

META = "x-amz-meta-"
RESPONSE_OVERRIDES = {
    "response-content-type": "content-type",
    "response-content-language": "content-language",
    "response-expires": "expires",
    "response-cache-control": "cache-control",
    "response-content-disposition": "content-disposition",
    "response-content-encoding": "content-encoding",
}


def user_metadata(r: S3Request) -> dict[str, str]:
    """``x-amz-meta-*`` as text: UTF-8 bytes and RFC 2047 words decoded, as S3 stores them."""
    return {
        k[len(META) :]: header_text(v) for k, v in r.request.headers.items() if k.startswith(META)
    }


def stored_headers(r: S3Request) -> dict[str, str]:
    """The representation headers to store with the object, without ``aws-chunked``: that encoding
    describes the transfer, not the object."""
    out = {n: r.request.headers[n] for n in REPRESENTATION_HEADERS if n in r.request.headers}
    encoding = out.get("content-encoding")
    if encoding is not None:
        # aws-chunked describes the transfer, not the object: S3 drops it.
        kept = [e.strip() for e in encoding.split(",") if e.strip() and e.strip() != "aws-chunked"]
        if kept:
            out["content-encoding"] = ", ".join(kept)
        else:
            del out["content-encoding"]
    return out


def version_query(r: S3Request) -> str | None:
    """The ``versionId`` the request names, if any (an empty one is invalid, as in S3)."""
    value = r.query.get("versionId")
    if value is None:
        return None
    if not value:
        raise InvalidArgument("Version id cannot be the empty string")
    return value


def version_headers(record: ObjectRecord, *, asked: bool = False) -> dict[str, str]:
    """``x-amz-version-id`` for a versioned object (or when the request named a version), and
    ``x-amz-delete-marker`` for a delete marker."""
    headers: dict[str, str] = {}
    if record.version_id != "null" or asked or record.delete_marker:
        headers["x-amz-version-id"] = record.version_id
    if record.delete_marker:
        headers["x-amz-delete-marker"] = "true"
    return headers


def condition(r: S3Request) -> WriteCondition:
    """The ``If-Match`` / ``If-None-Match`` preconditions of a conditional write."""
    h = r.request.headers
    return WriteCondition(if_match=h.get("if-match"), if_none_match=h.get("if-none-match"))


def checksum_headers(checksums: Mapping[str, str]) -> dict[str, str]:
    """``x-amz-checksum-*`` and ``x-amz-checksum-type`` of a set of stored checksums."""
    headers = {f"x-amz-checksum-{k}": v for k, v in checksums.items()}
    if checksums:
        headers["x-amz-checksum-type"] = checksum_type(next(iter(checksums.values())))
    return headers


def _part_number(r: S3Request) -> int | None:
    raw = r.query.get("partNumber")
    if raw is None:
        return None
    if not raw.isdigit() or not 1 <= int(raw) <= 10_000:
        raise InvalidArgument("Part number must be an integer between 1 and 10000, inclusive")
    return int(raw)


def request_acl(r: S3Request) -> str | None:
    """The canned ACL a write asks for (``x-amz-acl``); explicit grant headers are refused."""
    if any(name.startswith("x-amz-grant-") for name in r.request.headers):
        raise NotImplementedByXolo(
            "x-amz-grant-* headers are not supported; use a canned x-amz-acl"
        )
    return r.request.headers.get("x-amz-acl")


async def put_object(r: S3Request) -> Response:
    """PutObject: store the body, verified against every digest the client sent, and answer its ETag
    and checksums."""
    await r.require("write")
    acl = request_acl(r)
    body = r.body()
    h = r.request.headers
    record = await r.service.put_object(
        r.bucket,
        r.key,
        body,
        content_type=h.get("content-type"),
        metadata=user_metadata(r),
        tags=tags_from_query(h.get("x-amz-tagging")),
        headers=stored_headers(r),
        sha256=body.payload_sha256,
        condition=condition(r),
        md5_etag=True,
        content_md5=body.content_md5,
        checksum_algorithms=body.algorithms,
        expected_checksums=body.expected,
        acl=acl,
    )
    r.metrics.bytes_in.inc(record.size)
    return Response(
        headers={
            "etag": f'"{record.etag}"',
            **checksum_headers(record.checksums),
            **version_headers(record),
        }
    )


def object_headers(r: S3Request, record: ObjectRecord) -> dict[str, str]:
    """The response headers of a read: the stored ones, metadata, tag count, and any ``response-*``
    overrides the (presigned) query asks for."""
    headers = {
        "etag": f'"{record.etag}"',
        "last-modified": format_http_date(record.modified),
        "content-type": record.content_type,
        "accept-ranges": "bytes",
    }
    headers.update(record.headers)
    if record.tags:
        headers["x-amz-tagging-count"] = str(len(record.tags))
    for name, value in record.metadata.items():
        headers[META + name] = header_value(value)
    for param, header in RESPONSE_OVERRIDES.items():
        if param in r.query:
            headers[header] = r.query[param]
    return headers


async def get_object(r: S3Request, *, head: bool) -> Response:
    """GetObject and HeadObject: a read, a range or one part, with its conditions checked, and
    checksums only when asked (``x-amz-checksum-mode``)."""
    await r.require_object_read(version_query(r))
    h = r.request.headers
    part_number = _part_number(r)
    reader = await r.service.open_object(
        r.bucket,
        r.key,
        range=h.get("range"),
        if_match=h.get("if-match"),
        if_none_match=h.get("if-none-match"),
        if_modified_since=h.get("if-modified-since"),
        if_unmodified_since=h.get("if-unmodified-since"),
        body=not head,
        version_id=version_query(r),
        part_number=part_number,
    )
    record = reader.record
    headers = object_headers(r, record)
    headers.update(version_headers(record, asked="versionId" in r.query))
    headers["content-length"] = str(reader.length)
    status = 200
    if reader.range is not None:
        status = 206
        headers["content-range"] = reader.range.content_range(record.size)
    checksums = h.get("x-amz-checksum-mode", "").upper() == "ENABLED"
    if part_number is not None and record.parts:
        headers["x-amz-mp-parts-count"] = str(len(record.parts))
        if checksums:
            part = next(p for p in record.parts if p.number == part_number)
            headers.update(checksum_headers(part.checksums))
    elif checksums and (reader.range is None or part_number is not None):
        headers.update(checksum_headers(record.checksums))
    if head:
        return Response(status_code=status, headers=headers)
    r.metrics.bytes_out.inc(reader.length)
    if reader.record.inline is not None:
        return Response(
            reader.record.inline[reader.start : reader.start + reader.length], status, headers
        )
    return StreamingResponse(reader, status_code=status, headers=headers)


async def delete_object(r: S3Request) -> Response:
    """DeleteObject: delete the key (or one version); an absent one is still a 204, as in S3."""
    await r.require("write")
    version_id = version_query(r)
    try:
        removed = await r.service.delete_object(
            r.bucket,
            r.key,
            WriteCondition(if_match=r.request.headers.get("if-match")),
            version_id=version_id,
        )
    except (NoSuchKey, NoSuchVersion):
        # S3 answers 204 for an absent key or version, 404 only for a missing bucket.
        await r.service.get_bucket(r.bucket)
        return Response(status_code=204)
    return Response(status_code=204, headers=version_headers(removed, asked=version_id is not None))


async def delete_objects(r: S3Request) -> Response:
    """DeleteObjects: delete many keys in one request, reporting each key's outcome rather than
    failing the whole batch."""
    await r.require("write")
    body = r.body()
    data = await body.read(xml.MAX_XML)
    if body.content_md5 is None and not body.algorithms:
        raise InvalidRequest("DeleteObjects needs a Content-MD5 or x-amz-checksum header")
    keys, quiet = xml.parse_delete(data)
    await r.service.get_bucket(r.bucket)
    results = []
    for key, version_id in keys:
        removed: ObjectRecord | None = None
        try:
            removed = await r.service.delete_object(r.bucket, key, version_id=version_id)
        except (NoSuchKey, NoSuchVersion):
            pass
        except XoloError as exc:
            code, _ = xml.s3_code(exc)
            results.append(
                xml.raw(
                    "Error",
                    xml.el("Key", key),
                    *([xml.el("VersionId", version_id)] if version_id else []),
                    xml.el("Code", code),
                    xml.el("Message", exc.message),
                )
            )
            continue
        if not quiet:
            results.append(_deleted(key, version_id, removed))
    return xml.xml_response(xml.document("DeleteResult", *results))


def _deleted(key: str, version_id: str | None, removed: ObjectRecord | None) -> str:
    """A ``Deleted`` element as S3 writes it: the version asked for, and whether a delete
    marker was removed or added (with the added marker's version id)."""
    parts = [xml.el("Key", key)]
    if version_id is not None:
        parts.append(xml.el("VersionId", version_id))
        if removed is not None and removed.delete_marker:
            parts.append(xml.el("DeleteMarker", True))
            parts.append(xml.el("DeleteMarkerVersionId", removed.version_id))
    elif removed is not None and removed.delete_marker:
        parts.append(xml.el("DeleteMarker", True))
        parts.append(xml.el("DeleteMarkerVersionId", removed.version_id))
    return xml.raw("Deleted", *parts)


def copy_source(r: S3Request) -> tuple[str, str, str | None]:
    """``x-amz-copy-source``: bucket, key and the ``versionId`` it names, if any."""
    source = r.request.headers["x-amz-copy-source"]
    path, _, query = source.partition("?")
    version_id: str | None = None
    if query:
        params = urllib.parse.parse_qs(query, keep_blank_values=True)
        if set(params) != {"versionId"} or len(params["versionId"]) != 1:
            raise InvalidArgument("x-amz-copy-source may carry only ?versionId=")
        version_id = params["versionId"][0]
        if not version_id:
            raise InvalidArgument("Version id cannot be the empty string")
    bucket, sep, key = urllib.parse.unquote(path).lstrip("/").partition("/")
    if not sep or not key:
        raise InvalidArgument("x-amz-copy-source must be bucket/key")
    return bucket, key, version_id


async def check_copy_conditions(r: S3Request, record: ObjectRecord) -> None:
    """Check the ``x-amz-copy-source-if-*`` preconditions on the source; any that fails is a 412."""
    h = r.request.headers
    try:
        check_read(
            etag=record.etag,
            modified=record.modified,
            if_match=h.get("x-amz-copy-source-if-match"),
            if_none_match=h.get("x-amz-copy-source-if-none-match"),
            if_modified_since=h.get("x-amz-copy-source-if-modified-since"),
            if_unmodified_since=h.get("x-amz-copy-source-if-unmodified-since"),
        )
    except NotModified:
        raise PreconditionFailed("a copy-source precondition did not hold") from None


async def copy_object(r: S3Request) -> Response:
    """CopyObject: a server-side copy (no bytes through the client), its metadata copied or replaced
    as the directive says."""
    await r.require("write")
    acl = request_acl(r)
    src_bucket, src_key, src_version = copy_source(r)
    await r.require("read", src_bucket)
    source = await r.service.head_object(src_bucket, src_key, version_id=src_version)
    await check_copy_conditions(r, source)
    directive = r.request.headers.get("x-amz-metadata-directive", "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise InvalidArgument("x-amz-metadata-directive must be COPY or REPLACE")
    if (src_bucket, src_key) == (r.bucket, r.key) and directive == "COPY" and not src_version:
        raise InvalidRequest(
            "This copy request is illegal because it is trying to copy an object to itself "
            "without changing the object's metadata, storage class, website redirect location "
            "or encryption attributes."
        )
    record = await r.service.copy_object(
        src_bucket,
        src_key,
        r.bucket,
        r.key,
        replace_metadata=directive == "REPLACE",
        content_type=r.request.headers.get("content-type"),
        metadata=user_metadata(r),
        headers=stored_headers(r),
        condition=condition(r),
        source_version_id=src_version,
        acl=acl,
    )
    body = xml.document(
        "CopyObjectResult",
        xml.el("LastModified", xml.iso(record.modified)),
        xml.el("ETag", f'"{record.etag}"'),
    )
    headers = version_headers(record)
    if source.version_id != "null" or src_version:
        headers["x-amz-copy-source-version-id"] = source.version_id
    return xml.xml_response(body, headers=headers)
