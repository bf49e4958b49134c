"""Bucket operations and listings."""

from __future__ import annotations

from xml.sax.saxutils import escape

from starlette.responses import Response

from xolo.api.s3 import xml
from xolo.api.s3.context import S3Request
from xolo.core.acl import PRIVATE, PUBLIC_READ, anonymous_reads, check_bucket_acl
from xolo.core.errors import (
    BucketAlreadyOwnedByYou,
    InvalidArgument,
    NotImplementedByXolo,
)
from xolo.core.listing import encode_cursor
from xolo.core.names import check_bucket_name
from xolo.core.records import BucketSettings, ListPage, VersionInfo
from xolo.service.objects import MAX_BUCKETS_PAGE
from xolo.service.policy import Created


async def list_buckets(r: S3Request) -> Response:
    """Any key may list; it sees the buckets it can read, a page at a time when it asks
    (``max-buckets``, ``continuation-token``, ``prefix``)."""
    q = r.query
    limit = xml.check_int(
        q.get("max-buckets"), "max-buckets", MAX_BUCKETS_PAGE, low=1, high=MAX_BUCKETS_PAGE
    )
    prefix = q.get("prefix", "")
    buckets, token = await r.service.bucket_page(
        r.caller.principal, prefix=prefix, cursor=q.get("continuation-token") or None, limit=limit
    )
    paging = [xml.el("ContinuationToken", token)] if token else []
    if "prefix" in q:
        paging.append(xml.el("Prefix", prefix))
    body = xml.document(
        "ListAllMyBucketsResult",
        xml.owner(r.owner_id),
        xml.raw(
            "Buckets",
            *(
                xml.raw(
                    "Bucket", xml.el("Name", b.name), xml.el("CreationDate", xml.iso(b.created))
                )
                for b in buckets
            ),
        ),
        *paging,
    )
    return xml.xml_response(body)


async def create_bucket(r: S3Request) -> Response:
    """CreateBucket: a bucket in this endpoint's region with a canned ACL; recreating one's own
    bucket succeeds only in us-east-1, as in S3."""
    check_bucket_name(r.bucket)
    location = xml.parse_location(await r.body().read(64 * 1024))
    if location and location != r.region:
        raise InvalidArgument(f"this endpoint serves region {r.region!r}, not {location!r}")
    acl = check_bucket_acl(r.request.headers.get("x-amz-acl", PRIVATE))
    if any(name.startswith("x-amz-grant-") for name in r.request.headers):
        raise NotImplementedByXolo("x-amz-grant-* headers are not supported; use x-amz-acl")
    policy = r.service.policy
    principal = await policy.before_create(r.caller.principal, r.bucket)
    bucket, created = await r.service.create_bucket(
        r.bucket, BucketSettings(public_read=anonymous_reads(acl)), owner=principal.access_key
    )
    if created and acl not in (PRIVATE, PUBLIC_READ):
        await r.service.set_bucket_acl(r.bucket, acl)
    outcome = policy.after_create(principal, bucket, created)
    if outcome is Created.ALREADY_YOURS and r.region != "us-east-1":
        raise BucketAlreadyOwnedByYou(
            "your previous request to create the named bucket succeeded and you already own it"
        )
    return Response(headers={"location": f"/{r.bucket}"})


async def head_bucket(r: S3Request) -> Response:
    """HeadBucket: whether the bucket exists and the caller may read it, and its region."""
    await r.require("read")
    await r.service.get_bucket(r.bucket)
    return Response(headers={"x-amz-bucket-region": r.region})


async def delete_bucket(r: S3Request) -> Response:
    """DeleteBucket: remove the bucket (the service refuses one that still holds objects)."""
    await r.require("admin")
    await r.service.delete_bucket(r.bucket)
    return Response(status_code=204)


async def get_location(r: S3Request) -> Response:
    """GetBucketLocation: the region, empty for us-east-1 as S3 answers."""
    await r.require("read")
    await r.service.get_bucket(r.bucket)
    region = "" if r.region == "us-east-1" else r.region
    return xml.xml_response(xml.document("LocationConstraint", escape(region)))


async def get_versioning(r: S3Request) -> Response:
    """GetBucketVersioning: no Status for a bucket never versioned, as S3 answers."""
    await r.require("read")
    bucket = await r.service.get_bucket(r.bucket)
    status = [xml.el("Status", bucket.versioning)] if bucket.versioning else []
    return xml.xml_response(xml.document("VersioningConfiguration", *status))


async def put_versioning(r: S3Request) -> Response:
    """PutBucketVersioning (Enabled or Suspended); MFA delete is not supported."""
    await r.require("admin")
    doc = await r.body().read(xml.MAX_XML)
    if b"<MfaDelete>Enabled" in doc:
        raise NotImplementedByXolo("MFA delete is not supported")
    await r.service.set_versioning(r.bucket, xml.parse_versioning(doc))
    return Response()


def _contents(page: ListPage, *, url: bool, fetch_owner: bool, owner_id: str) -> str:
    return xml.join(
        xml.raw(
            "Contents",
            xml.el("Key", xml.encode_key(o.key, url)),
            xml.el("LastModified", xml.iso(o.modified)),
            xml.el("ETag", f'"{o.etag}"'),
            xml.el("Size", o.size),
            xml.el("StorageClass", "STANDARD"),
            xml.owner(owner_id) if fetch_owner else "",
        )
        for o in page.objects
    )


def _prefixes(page: ListPage, *, url: bool) -> str:
    return xml.join(
        xml.raw("CommonPrefixes", xml.el("Prefix", xml.encode_key(p, url))) for p in page.prefixes
    )


def _encoding(r: S3Request) -> bool:
    encoding = r.query.get("encoding-type")
    if encoding not in (None, "url"):
        raise InvalidArgument("encoding-type must be 'url'")
    return encoding == "url"


def _resume_after(marker: str, delimiter: str) -> tuple[str, str | None]:
    """A marker that names a common prefix resumes after the whole prefix."""
    if marker and delimiter and marker.endswith(delimiter):
        return "", encode_cursor(marker.encode(), is_prefix=True)
    return marker, None


async def _page(
    r: S3Request, prefix: str, delimiter: str, start_after: str, cursor: str | None, max_keys: int
) -> ListPage:
    if max_keys == 0:  # S3 answers an empty page, but still for an existing bucket only
        await r.service.get_bucket(r.bucket)
        return ListPage(objects=[], prefixes=[], next_cursor=None)
    return await r.service.list_objects(
        r.bucket,
        prefix=prefix,
        delimiter=delimiter,
        start_after=start_after,
        cursor=cursor,
        limit=max_keys,
    )


async def list_objects_v2(r: S3Request) -> Response:
    """ListObjectsV2: a page of keys and common prefixes, resumed by a continuation token."""
    await r.require("read")
    q = r.query
    url = _encoding(r)
    max_keys = xml.check_int(q.get("max-keys"), "max-keys", 1000)
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    token = q.get("continuation-token")
    start_after, cursor = _resume_after(q.get("start-after", ""), delimiter)
    if token:
        cursor = token
    page = await _page(r, prefix, delimiter, start_after, cursor, max_keys)
    parts = [
        xml.el("Name", r.bucket),
        xml.el("Prefix", xml.encode_key(prefix, url)),
        xml.el("KeyCount", len(page.objects) + len(page.prefixes)),
        xml.el("MaxKeys", max_keys),
    ]
    if delimiter:
        parts.append(xml.el("Delimiter", xml.encode_key(delimiter, url)))
    parts.append(xml.el("IsTruncated", page.truncated))
    if token:
        parts.append(xml.el("ContinuationToken", token))
    if page.next_cursor:
        parts.append(xml.el("NextContinuationToken", page.next_cursor))
    if q.get("start-after"):
        parts.append(xml.el("StartAfter", xml.encode_key(q["start-after"], url)))
    if url:
        parts.append(xml.el("EncodingType", "url"))
    fetch_owner = q.get("fetch-owner", "").lower() == "true"
    parts.append(_contents(page, url=url, fetch_owner=fetch_owner, owner_id=r.owner_id))
    parts.append(_prefixes(page, url=url))
    return xml.xml_response(xml.document("ListBucketResult", *parts))


async def list_objects_v1(r: S3Request) -> Response:
    """ListObjects (version 1): a page of keys and common prefixes, resumed after a marker key;
    still used by older clients."""
    await r.require("read")
    q = r.query
    url = _encoding(r)
    max_keys = xml.check_int(q.get("max-keys"), "max-keys", 1000)
    prefix, delimiter, marker = q.get("prefix", ""), q.get("delimiter", ""), q.get("marker", "")
    start_after, cursor = _resume_after(marker, delimiter)
    page = await _page(r, prefix, delimiter, start_after, cursor, max_keys)
    parts = [
        xml.el("Name", r.bucket),
        xml.el("Prefix", xml.encode_key(prefix, url)),
        xml.el("Marker", xml.encode_key(marker, url)),
        xml.el("MaxKeys", max_keys),
    ]
    if delimiter:
        parts.append(xml.el("Delimiter", xml.encode_key(delimiter, url)))
    parts.append(xml.el("IsTruncated", page.truncated))
    if page.truncated and delimiter:
        last = max([o.key for o in page.objects] + page.prefixes, key=str.encode)
        parts.append(xml.el("NextMarker", xml.encode_key(last, url)))
    if url:
        parts.append(xml.el("EncodingType", "url"))
    parts.append(_contents(page, url=url, fetch_owner=True, owner_id=r.owner_id))
    parts.append(_prefixes(page, url=url))
    return xml.xml_response(xml.document("ListBucketResult", *parts))


async def list_object_versions(r: S3Request) -> Response:
    """ListObjectVersions: every version and delete marker, newest first within a key;
    objects of a bucket never versioned are each their one ``null`` version."""
    await r.require("read")
    q = r.query
    url = _encoding(r)
    max_keys = xml.check_int(q.get("max-keys"), "max-keys", 1000)
    prefix, delimiter = q.get("prefix", ""), q.get("delimiter", "")
    key_marker, version_marker = q.get("key-marker", ""), q.get("version-id-marker", "")
    if version_marker and not key_marker:
        raise InvalidArgument("A version-id marker cannot be specified without a key marker.")
    page = await r.service.list_versions(
        r.bucket,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        version_id_marker=version_marker,
        limit=max_keys,
    )
    parts = [
        xml.el("Name", r.bucket),
        xml.el("Prefix", xml.encode_key(prefix, url)),
        xml.el("KeyMarker", xml.encode_key(key_marker, url)),
        xml.el("VersionIdMarker", version_marker),
        xml.el("MaxKeys", max_keys),
    ]
    if delimiter:
        parts.append(xml.el("Delimiter", xml.encode_key(delimiter, url)))
    parts.append(xml.el("IsTruncated", page.truncated))
    if page.next_key_marker is not None:
        parts.append(xml.el("NextKeyMarker", xml.encode_key(page.next_key_marker, url)))
        if page.next_version_id_marker is not None:
            parts.append(xml.el("NextVersionIdMarker", page.next_version_id_marker))
    if url:
        parts.append(xml.el("EncodingType", "url"))
    parts.append(xml.join(_version(v, url=url, owner_id=r.owner_id) for v in page.versions))
    parts.append(
        xml.join(
            xml.raw("CommonPrefixes", xml.el("Prefix", xml.encode_key(p, url)))
            for p in page.prefixes
        )
    )
    return xml.xml_response(xml.document("ListVersionsResult", *parts))


def _version(v: VersionInfo, *, url: bool, owner_id: str) -> str:
    common = [
        xml.el("Key", xml.encode_key(v.key, url)),
        xml.el("VersionId", v.version_id),
        xml.el("IsLatest", v.is_latest),
        xml.el("LastModified", xml.iso(v.modified)),
    ]
    if v.delete_marker:
        return xml.raw("DeleteMarker", *common, xml.owner(owner_id))
    return xml.raw(
        "Version",
        *common,
        xml.el("ETag", f'"{v.etag}"'),
        xml.el("Size", v.size),
        xml.el("StorageClass", "STANDARD"),
        xml.owner(owner_id),
    )
