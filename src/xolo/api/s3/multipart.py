"""Multipart uploads over S3: create, upload part (and part copy), complete, abort, list."""

from __future__ import annotations

import urllib.parse

from starlette.responses import Response

from xolo.api.s3 import xml
from xolo.api.s3.context import S3Request
from xolo.api.s3.objects import (
    check_copy_conditions,
    condition,
    copy_source,
    request_acl,
    stored_headers,
    user_metadata,
    version_headers,
)
from xolo.core.errors import InvalidArgument, NoSuchUpload, NotImplementedByXolo
from xolo.core.names import tags_from_query
from xolo.core.ranges import parse_copy_range
from xolo.core.records import MultipartUpload


async def _upload(r: S3Request) -> MultipartUpload:
    return await r.service.get_multipart(r.query["uploadId"], r.bucket, r.key)


async def create(r: S3Request) -> Response:
    """CreateMultipartUpload: start an upload, fixing now what the object will carry (type,
    metadata, tags, ACL, checksum)."""
    await r.require("write")
    acl = request_acl(r)
    h = r.request.headers
    algorithm = h.get("x-amz-checksum-algorithm")
    kind = h.get("x-amz-checksum-type")
    upload = await r.service.create_multipart(
        r.bucket,
        r.key,
        content_type=h.get("content-type"),
        metadata=user_metadata(r),
        tags=tags_from_query(h.get("x-amz-tagging")),
        checksum_algorithm=algorithm.lower() if algorithm else None,
        checksum_type=kind.upper() if kind else None,
        headers=stored_headers(r),
        acl=acl,
    )
    body = xml.document(
        "InitiateMultipartUploadResult",
        xml.el("Bucket", r.bucket),
        xml.el("Key", r.key),
        xml.el("UploadId", upload.upload_id),
    )
    headers = {}
    if upload.checksum_algorithm and upload.checksum_type:
        headers["x-amz-checksum-algorithm"] = upload.checksum_algorithm.upper()
        headers["x-amz-checksum-type"] = upload.checksum_type
    return xml.xml_response(body, headers=headers)


def _part_number(r: S3Request) -> int:
    try:
        return int(r.query["partNumber"])
    except ValueError:
        raise InvalidArgument("partNumber must be an integer between 1 and 10000") from None


async def upload_part(r: S3Request) -> Response:
    """UploadPart: store one part's bytes, or copy them from an object (``x-amz-copy-source``)."""
    await r.require("write")
    upload = await _upload(r)
    number = _part_number(r)
    if "x-amz-copy-source" in r.request.headers:
        return await upload_part_copy(r, upload, number)
    body = r.body()
    part = await r.service.upload_part(
        upload,
        number,
        body,
        content_md5=body.content_md5,
        sha256=body.payload_sha256,
        checksum_algorithms=body.algorithms,
        expected_checksums=body.expected,
    )
    r.metrics.bytes_in.inc(part.size)
    headers = {"etag": f'"{part.etag}"'}
    headers.update({f"x-amz-checksum-{k}": v for k, v in part.checksums.items()})
    return Response(headers=headers)


async def upload_part_copy(r: S3Request, upload: MultipartUpload, number: int) -> Response:
    """UploadPartCopy: a part taken from an existing object, whole or a byte range of it, refused if
    the source changes mid-read."""
    src_bucket, src_key, src_version = copy_source(r)
    await r.require("read", src_bucket)
    source = await r.service.head_object(src_bucket, src_key, version_id=src_version)
    await check_copy_conditions(r, source)
    source_range = r.request.headers.get("x-amz-copy-source-range")
    if source_range is not None:
        bounds = parse_copy_range(source_range, source.size)
        source_range = f"bytes={bounds.start}-{bounds.end}"
    reader = await r.service.open_object(
        src_bucket, src_key, range=source_range, version_id=src_version
    )
    if reader.record.version != source.version:
        raise InvalidArgument("the copy source changed while it was being read; retry")
    part = await r.service.upload_part(upload, number, reader)
    body = xml.document(
        "CopyPartResult",
        xml.el("LastModified", xml.iso(part.modified)),
        xml.el("ETag", f'"{part.etag}"'),
    )
    return xml.xml_response(body)


async def complete(r: S3Request) -> Response:
    """CompleteMultipartUpload: join the listed parts into the object; a repeat of a completion that
    succeeded gets the same answer, as in S3."""
    await r.require("write")
    parts = xml.parse_complete(await r.body().read(xml.MAX_XML, checksums_name_object=True))
    try:
        upload = await _upload(r)
    except NoSuchUpload:
        record = await r.service.completed_again(r.bucket, r.key, r.query["uploadId"], parts)
    else:
        record = await r.service.complete_multipart(
            upload, parts, condition(r), expected_checksum=_expected_checksum(r, upload)
        )
    location = (
        f"{r.request.url.scheme}://{r.request.url.netloc}/{r.bucket}/{urllib.parse.quote(r.key)}"
    )
    body = xml.document(
        "CompleteMultipartUploadResult",
        xml.el("Location", location),
        xml.el("Bucket", r.bucket),
        xml.el("Key", r.key),
        xml.el("ETag", f'"{record.etag}"'),
        *xml.checksum_elements(record.checksums),
    )
    return xml.xml_response(body, headers=version_headers(record))


def _expected_checksum(r: S3Request, upload: MultipartUpload) -> str | None:
    """The whole-object checksum a client sends with a FULL_OBJECT completion, if any."""
    if upload.checksum_algorithm is None:
        return None
    return r.request.headers.get(f"x-amz-checksum-{upload.checksum_algorithm}")


async def abort(r: S3Request) -> Response:
    """AbortMultipartUpload: end the upload and drop its parts, so their chunks can be reclaimed."""
    await r.require("write")
    await r.service.abort_multipart(await _upload(r))
    return Response(status_code=204)


async def list_parts(r: S3Request) -> Response:
    """ListParts: a page of an upload's parts, for a client resuming an interrupted upload."""
    await r.require("read")
    upload = await _upload(r)
    marker = xml.check_int(r.query.get("part-number-marker"), "part-number-marker", 0, high=10_000)
    max_parts = xml.check_int(r.query.get("max-parts"), "max-parts", 1000)
    parts, truncated = await r.service.list_parts(upload, after=marker, limit=max_parts)
    body = xml.document(
        "ListPartsResult",
        xml.el("Bucket", r.bucket),
        xml.el("Key", r.key),
        xml.el("UploadId", upload.upload_id),
        xml.el("PartNumberMarker", marker),
        xml.el("NextPartNumberMarker", parts[-1].number if parts else marker),
        xml.el("MaxParts", max_parts),
        xml.el("IsTruncated", truncated),
        xml.raw("Initiator", xml.el("ID", r.owner_id), xml.el("DisplayName", r.owner_id)),
        xml.owner(r.owner_id),
        xml.el("StorageClass", "STANDARD"),
        *(
            xml.raw(
                "Part",
                xml.el("PartNumber", p.number),
                xml.el("LastModified", xml.iso(p.modified)),
                xml.el("ETag", f'"{p.etag}"'),
                xml.el("Size", p.size),
                *xml.checksum_elements(p.checksums)[:-1],
            )
            for p in parts
        ),
    )
    return xml.xml_response(body)


async def list_uploads(r: S3Request) -> Response:
    """ListMultipartUploads: the bucket's unfinished uploads, a page at a time (no delimiter)."""
    await r.require("read")
    q = r.query
    if q.get("delimiter"):
        raise NotImplementedByXolo("listing multipart uploads with a delimiter is not supported")
    await r.service.get_bucket(r.bucket)
    max_uploads = xml.check_int(q.get("max-uploads"), "max-uploads", 1000)
    uploads, truncated = await r.service.list_multiparts(
        r.bucket,
        prefix=q.get("prefix", ""),
        key_marker=q.get("key-marker", ""),
        upload_id_marker=q.get("upload-id-marker", ""),
        limit=max_uploads,
    )
    parts = [
        xml.el("Bucket", r.bucket),
        xml.el("KeyMarker", q.get("key-marker", "")),
        xml.el("UploadIdMarker", q.get("upload-id-marker", "")),
        xml.el("NextKeyMarker", uploads[-1].key if uploads else ""),
        xml.el("NextUploadIdMarker", uploads[-1].upload_id if uploads else ""),
        xml.el("MaxUploads", max_uploads),
        xml.el("IsTruncated", truncated),
        xml.el("Prefix", q.get("prefix", "")),
    ]
    for u in uploads:
        parts.append(
            xml.raw(
                "Upload",
                xml.el("Key", u.key),
                xml.el("UploadId", u.upload_id),
                xml.raw("Initiator", xml.el("ID", r.owner_id), xml.el("DisplayName", r.owner_id)),
                xml.owner(r.owner_id),
                xml.el("StorageClass", "STANDARD"),
                xml.el("Initiated", xml.iso(u.created)),
            )
        )
    return xml.xml_response(xml.document("ListMultipartUploadsResult", *parts))
