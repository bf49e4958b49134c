"""The native API under ``/v1``: buckets, objects, listing, two-step uploads, tokens.

Each handler reads the request, calls ObjectService, and writes the response; nothing more.
See docs/api.md for the contract.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse

from xolo.api.http import (
    body_stream,
    header_text,
    header_value,
    int_param,
    iso_time,
    json_body,
    write_condition,
)
from xolo.api.keys import PRESIGN_PARAM
from xolo.api.metrics import Metrics
from xolo.core.audit import SYSTEM, Entry
from xolo.core.conditions import format_http_date
from xolo.core.errors import AccessDenied, InvalidArgument, MalformedJSON
from xolo.core.names import REPRESENTATION_HEADERS, tags_from_query
from xolo.core.records import Bucket, ObjectRecord
from xolo.service.auth import Authenticator, Principal
from xolo.service.objects import ObjectReader, ObjectService
from xolo.service.policy import Level, require_service_admin

META_PREFIX = "x-xolo-meta-"
MAX_TOKEN_TTL = 24 * 3600.0


def bucket_json(bucket: Bucket) -> dict[str, Any]:
    """A bucket as the native API shows it: its settings and what it holds."""
    return {
        "name": bucket.name,
        "created": iso_time(bucket.created),
        "settings": bucket.settings.to_json(),
        "object_count": bucket.object_count,
        "bytes": bucket.bytes_used,
        "versioning": bucket.versioning,
    }


def object_json(record: ObjectRecord) -> dict[str, Any]:
    """The JSON answer to a write: what was stored, so the client need not ask again."""
    return {
        "bucket": record.bucket,
        "key": record.key,
        "etag": record.etag,
        "size": record.size,
        "sha256": record.sha256,
        "content_type": record.content_type,
        "modified": iso_time(record.modified),
        "version": record.version,
        "version_id": record.version_id,
    }


def entry_json(entry: Entry) -> dict[str, Any]:
    """One audit entry with its links (``prev``, ``mac``), so clients can check the chain too."""
    return {**entry.fields(), "type": entry.event_type, "prev": entry.prev, "mac": entry.mac}


def object_headers(record: ObjectRecord) -> dict[str, str]:
    """The response headers of an object read: validators, version, checksum, and its stored
    representation headers and user metadata."""
    headers = {
        "etag": f'"{record.etag}"',
        "last-modified": format_http_date(record.modified),
        "content-type": record.content_type,
        "accept-ranges": "bytes",
        "x-xolo-version": record.version,
        "x-xolo-version-id": record.version_id,
    }
    if record.sha256:
        headers["x-checksum-sha256"] = record.sha256
    if record.tags:
        headers["x-xolo-tag-count"] = str(len(record.tags))
    headers.update(record.headers)
    for name, value in record.metadata.items():
        headers[META_PREFIX + name] = header_value(value)
    return headers


def representation_headers(request: Request) -> dict[str, str]:
    """The request's ``REPRESENTATION_HEADERS``: stored with an object and served back on reads."""
    return {n: request.headers[n] for n in REPRESENTATION_HEADERS if n in request.headers}


def user_metadata(request: Request) -> dict[str, str]:
    """User metadata from the ``X-Xolo-Meta-*`` headers, names without the prefix, values as the
    client meant them."""
    return {
        name[len(META_PREFIX) :]: header_text(value)
        for name, value in request.headers.items()
        if name.startswith(META_PREFIX)
    }


def parse_copy_source(header: str) -> tuple[str, str]:
    """The ``(bucket, key)`` an ``X-Xolo-Copy-Source`` header names; anything else is a 400."""
    source = urllib.parse.unquote(header).lstrip("/")
    bucket, sep, key = source.partition("/")
    if not sep or not key:
        raise InvalidArgument("X-Xolo-Copy-Source must be 'bucket/key'")
    return bucket, key


class NativeAPI:
    """The handlers of the native API; each translates one route onto ``ObjectService``."""

    def __init__(self, service: ObjectService, auth: Authenticator, metrics: Metrics) -> None:
        self.service = service
        self.auth = auth
        self.metrics = metrics

    @staticmethod
    def principal(request: Request) -> Principal | None:
        """Who the route wrapper authenticated the caller as; ``None`` for an anonymous request."""
        principal: Principal | None = request.state.principal
        return principal

    async def require(self, request: Request, level: Level, bucket: str | None) -> None:
        """Ask the service's access policy (the one decision every surface shares)."""
        await self.service.policy.require(self.principal(request), level, bucket)

    # -- the audit chain -------------------------------------------------------------------------

    async def _chain(self, request: Request) -> str:
        """The chain a route names: a bucket's (admin on it), or the system chain (admin on *)."""
        bucket = request.path_params.get("bucket")
        if bucket is None:
            require_service_admin(self.principal(request))
            return SYSTEM
        await self.require(request, "admin", bucket)
        return str(bucket)

    async def audit(self, request: Request) -> Response:
        """Answer GET on an audit chain (a bucket's, or the system's): the page after ``after``."""
        chain = await self._chain(request)
        after, limit = int_param(request, "after") or 0, int_param(request, "limit") or 1000
        entries = await self.service.audit.page(chain, after=after, limit=limit)
        return JSONResponse(
            {
                "bucket": chain,
                "entries": [entry_json(e) for e in entries],
                "next_after": entries[-1].sequence if len(entries) == limit else None,
            }
        )

    async def verify_audit(self, request: Request) -> Response:
        """Answer ``POST .../audit/verify``: replay the whole chain and report the first entry that
        does not hold, if any."""
        chain = await self._chain(request)
        return JSONResponse((await self.service.audit.verify(chain)).to_json())

    # -- tokens ----------------------------------------------------------------------------------

    async def issue_token(self, request: Request) -> Response:
        """Answer ``POST /v1/auth/token``: a Bearer token for the caller, so clients need not send
        the secret on every request."""
        principal = self.principal(request)
        assert principal is not None
        doc = await json_body(request) or {}
        ttl = doc.get("ttl", self.auth.token_ttl) if isinstance(doc, Mapping) else None
        if (
            not isinstance(ttl, int | float)
            or isinstance(ttl, bool)
            or not 1 <= ttl <= MAX_TOKEN_TTL
        ):
            raise InvalidArgument(f"ttl must be a number of seconds from 1 to {int(MAX_TOKEN_TTL)}")
        token, expires = self.auth.issue_token(principal, float(ttl))
        return JSONResponse(
            {"token": token, "token_type": "Bearer", "expires_at": iso_time(expires)}
        )

    # -- buckets ---------------------------------------------------------------------------------

    async def list_buckets(self, request: Request) -> Response:
        """Answer ``GET /v1/buckets``: the buckets the caller may see; others are left out."""
        buckets = self.service.policy.visible(
            self.principal(request), await self.service.list_buckets()
        )
        return JSONResponse({"buckets": [bucket_json(b) for b in buckets]})

    async def bucket(self, request: Request) -> Response:
        """Answer ``/v1/buckets/{bucket}``: GET shows it, PUT creates it or changes its settings
        (with ``If-None-Match: *``, only creates), DELETE removes it."""
        name = request.path_params["bucket"]
        if request.method == "PUT":
            await self.require(request, "admin", name)
            doc = await json_body(request)
            if doc is not None and not isinstance(doc, Mapping):
                raise MalformedJSON("bucket settings must be a JSON object")
            principal = self.principal(request)
            bucket, created = await self.service.put_bucket(
                name,
                doc or {},
                owner=principal.access_key if principal else None,
                create_only=request.headers.get("if-none-match", "").strip() == "*",
            )
            return JSONResponse(bucket_json(bucket), status_code=201 if created else 200)
        if request.method == "DELETE":
            await self.require(request, "admin", name)
            await self.service.delete_bucket(name)
            return Response(status_code=204)
        await self.require(request, "read", name)
        return JSONResponse(bucket_json(await self.service.get_bucket(name)))

    # -- objects ---------------------------------------------------------------------------------

    async def list_objects(self, request: Request) -> Response:
        """Answer ``GET /v1/buckets/{bucket}/objects``: one page of keys (or, with ``?versions``, of
        versions) under a prefix."""
        bucket = request.path_params["bucket"]
        await self.require(request, "read", bucket)
        q = request.query_params
        if "versions" in q:
            return await self._list_versions(request, bucket)
        page = await self.service.list_objects(
            bucket,
            prefix=q.get("prefix", ""),
            delimiter=q.get("delimiter", ""),
            start_after=q.get("start_after", ""),
            cursor=q.get("cursor") or None,
            limit=int_param(request, "limit"),
        )
        return JSONResponse(
            {
                "bucket": bucket,
                "prefix": q.get("prefix", ""),
                "delimiter": q.get("delimiter", ""),
                "objects": [
                    {
                        "key": o.key,
                        "size": o.size,
                        "etag": o.etag,
                        "modified": iso_time(o.modified),
                        "content_type": o.content_type,
                    }
                    for o in page.objects
                ],
                "common_prefixes": page.prefixes,
                "truncated": page.truncated,
                "next_cursor": page.next_cursor,
            }
        )

    async def _list_versions(self, request: Request, bucket: str) -> Response:
        q = request.query_params
        page = await self.service.list_versions(
            bucket,
            prefix=q.get("prefix", ""),
            delimiter=q.get("delimiter", ""),
            key_marker=q.get("key_marker", ""),
            version_id_marker=q.get("version_id_marker", ""),
            limit=int_param(request, "limit"),
        )
        return JSONResponse(
            {
                "bucket": bucket,
                "versions": [
                    {
                        "key": v.key,
                        "version_id": v.version_id,
                        "latest": v.is_latest,
                        "delete_marker": v.delete_marker,
                        "size": v.size,
                        "etag": v.etag or None,
                        "modified": iso_time(v.modified),
                    }
                    for v in page.versions
                ],
                "common_prefixes": page.prefixes,
                "truncated": page.truncated,
                "next_key_marker": page.next_key_marker,
                "next_version_id_marker": page.next_version_id_marker,
            }
        )

    async def object(self, request: Request) -> Response:
        """Answer ``/v1/buckets/{bucket}/objects/{key}``: GET/HEAD read, PUT writes (or copies,
        given ``X-Xolo-Copy-Source``), POST appends, DELETE deletes."""
        bucket = request.path_params["bucket"]
        key = request.path_params["key"]
        method = request.method
        if method in ("GET", "HEAD"):
            version_id = request.query_params.get("version_id")

            async def acl() -> str | None:
                return await self.service.object_acl(bucket, key, version_id=version_id)

            await self.service.policy.require_object_read(self.principal(request), bucket, acl)
            return await self._read(request, bucket, key)
        await self.require(request, "write", bucket)
        if method == "DELETE":
            removed = await self.service.delete_object(
                bucket,
                key,
                write_condition(request),
                version_id=request.query_params.get("version_id"),
            )
            headers = {"x-xolo-version-id": removed.version_id}
            if removed.delete_marker:
                headers["x-xolo-delete-marker"] = "true"
            return Response(status_code=204, headers=headers)
        if method == "POST":
            record = await self.service.append_object(
                bucket,
                key,
                body_stream(request),
                content_type=request.headers.get("content-type"),
                metadata=user_metadata(request),
                condition=write_condition(request),
            )
            self.metrics.bytes_in.inc(max(0, record.size))
            return self._written(record)
        copy_source = request.headers.get("x-xolo-copy-source")
        if copy_source and PRESIGN_PARAM in request.query_params:
            # A presigned URL is for one upload of the caller's bytes, never a copy of another
            # object into it.
            raise AccessDenied("a presigned URL cannot copy an object")
        if copy_source:
            src_bucket, src_key = parse_copy_source(copy_source)
            await self.require(request, "read", src_bucket)
            directive = request.headers.get("x-xolo-metadata-directive", "COPY").upper()
            if directive not in ("COPY", "REPLACE"):
                raise InvalidArgument("X-Xolo-Metadata-Directive must be COPY or REPLACE")
            record = await self.service.copy_object(
                src_bucket,
                src_key,
                bucket,
                key,
                replace_metadata=directive == "REPLACE",
                content_type=request.headers.get("content-type"),
                metadata=user_metadata(request),
                headers=representation_headers(request),
                condition=write_condition(request),
            )
            return self._written(record)
        checksum = request.headers.get("x-checksum-sha256")
        record = await self.service.put_object(
            bucket,
            key,
            body_stream(request),
            content_type=request.headers.get("content-type"),
            metadata=user_metadata(request),
            tags=tags_from_query(request.headers.get("x-xolo-tagging")),
            headers=representation_headers(request),
            sha256=checksum.strip().lower() if checksum else None,
            condition=write_condition(request),
        )
        self.metrics.bytes_in.inc(record.size)
        return self._written(record)

    async def tags(self, request: Request) -> Response:
        """An object version's tags: GET reads, PUT ``{"tags": {...}}`` replaces, DELETE
        clears them (``version_id=`` for another version than the current one)."""
        bucket = request.path_params["bucket"]
        key = request.path_params["key"]
        version_id = request.query_params.get("version_id")
        if request.method == "GET":
            await self.require(request, "read", bucket)
            record = await self.service.get_tags(bucket, key, version_id=version_id)
        elif request.method == "PUT":
            await self.require(request, "write", bucket)
            doc = await json_body(request)
            if not isinstance(doc, Mapping) or set(doc) != {"tags"}:
                raise MalformedJSON('expected {"tags": {"name": "value", ...}}')
            if not isinstance(doc["tags"], Mapping):
                raise MalformedJSON('expected {"tags": {"name": "value", ...}}')
            record = await self.service.put_tags(bucket, key, doc["tags"], version_id=version_id)
        else:
            await self.require(request, "write", bucket)
            record = await self.service.delete_tags(bucket, key, version_id=version_id)
        return JSONResponse(
            {"key": record.key, "version_id": record.version_id, "tags": dict(record.tags)}
        )

    @staticmethod
    def _written(record: ObjectRecord) -> Response:
        return JSONResponse(object_json(record), headers={"etag": f'"{record.etag}"'})

    async def _read(self, request: Request, bucket: str, key: str) -> Response:
        h = request.headers
        reader = await self.service.open_object(
            bucket,
            key,
            range=h.get("range"),
            if_match=h.get("if-match"),
            if_none_match=h.get("if-none-match"),
            if_modified_since=h.get("if-modified-since"),
            if_unmodified_since=h.get("if-unmodified-since"),
            body=request.method != "HEAD",
            version_id=request.query_params.get("version_id"),
        )
        return self.stream(reader, head=request.method == "HEAD")

    def stream(self, reader: ObjectReader, *, head: bool) -> Response:
        """The response for an opened object: headers, 206 for a range, bytes unless HEAD."""
        headers = object_headers(reader.record)
        headers["content-length"] = str(reader.length)
        status = 200
        if reader.range is not None:
            status = 206
            headers["content-range"] = reader.range.content_range(reader.record.size)
        if head:
            return Response(status_code=status, headers=headers)
        self.metrics.bytes_out.inc(reader.length)
        if reader.record.inline is not None:
            start = reader.start
            body = reader.record.inline[start : start + reader.length]
            return Response(body, status_code=status, headers=headers)
        return StreamingResponse(reader, status_code=status, headers=headers)

    # -- two-step uploads ------------------------------------------------------------------------

    async def create_upload(self, request: Request) -> Response:
        """Answer ``POST /v1/buckets/{bucket}/uploads``: declare an upload's key, size and SHA-256
        up front, for its bytes to be sent later."""
        bucket = request.path_params["bucket"]
        await self.require(request, "write", bucket)
        doc = await json_body(request)
        if not isinstance(doc, Mapping):
            raise MalformedJSON("expected a JSON object {key, size, sha256, content_type, tags}")
        unknown = set(doc) - {"key", "size", "sha256", "content_type", "tags"}
        if unknown:
            raise InvalidArgument(f"unknown upload fields: {sorted(unknown)}")
        for field in ("key", "size", "sha256"):
            if field not in doc:
                raise InvalidArgument(f"the upload declaration needs {field!r}")
        if not isinstance(doc["key"], str):
            raise InvalidArgument("key must be a string")
        tags = doc.get("tags") or {}
        if not isinstance(tags, Mapping):
            raise InvalidArgument("tags must be a JSON object of strings")
        content_type = doc.get("content_type")
        if content_type is not None and not isinstance(content_type, str):
            raise InvalidArgument("content_type must be a string")
        upload = await self.service.create_upload(
            bucket,
            doc["key"],
            size=doc["size"],
            sha256=doc["sha256"],
            content_type=content_type,
            tags=tags,
        )
        return JSONResponse(
            {
                "upload_id": upload.upload_id,
                "bucket": upload.bucket,
                "key": upload.key,
                "size": upload.size,
                "sha256": upload.sha256,
                "expires_at": iso_time(upload.expires),
            },
            status_code=201,
        )

    async def complete_upload(self, request: Request) -> Response:
        """Answer ``PUT /v1/uploads/{upload_id}``: receive a declared upload's bytes; they must
        match what was declared."""
        upload_id = request.path_params["upload_id"]
        upload = await self.service.get_upload(upload_id)
        await self.require(request, "write", upload.bucket)
        record = await self.service.complete_upload(upload, body_stream(request))
        self.metrics.bytes_in.inc(record.size)
        return self._written(record)
