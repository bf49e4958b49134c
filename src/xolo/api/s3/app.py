"""The S3 ASGI application: locate bucket and key, authenticate, route, translate errors."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from xolo.api.http import close_if_body_unread, new_request_id
from xolo.api.metrics import Metrics
from xolo.api.s3 import acl, attributes, buckets, config, multipart, objects, xml
from xolo.api.s3.auth import S3Authenticator
from xolo.api.s3.context import DEFAULT_REGION, S3Request
from xolo.core.errors import MethodNotAllowed, NotImplementedByXolo, XoloError
from xolo.service.auth import Authenticator
from xolo.service.context import ACTOR
from xolo.service.objects import ObjectService

log = logging.getLogger("xolo.s3")

Handler = Callable[[S3Request], Awaitable[Response]]

UNSUPPORTED = frozenset(
    {
        "policy",
        "policyStatus",
        "tagging",
        "website",
        "logging",
        "object-lock",
        "encryption",
        "replication",
        "notification",
        "accelerate",
        "requestPayment",
        "ownershipControls",
        "publicAccessBlock",
        "analytics",
        "metrics",
        "inventory",
        "intelligent-tiering",
        "retention",
        "legal-hold",
        "torrent",
        "restore",
        "select",
        "attributes",
    }
)
"""Subresources out of scope: answered with NotImplemented rather than misread as plain requests."""

OBJECT_SUBRESOURCES = frozenset({"tagging", "attributes"})
"""Subresources implemented on objects only (bucket tagging stays out of scope)."""


def locate(scope: Scope, domain: str | None) -> tuple[str, str]:
    """Bucket and key from a virtual-host (bucket.<domain>) or a path-style request."""
    path: str = scope["path"]
    if domain:
        for name, value in scope["headers"]:
            if name == b"host":
                host = value.decode("latin-1").rsplit(":", 1)[0].lower()
                if host.endswith("." + domain):
                    return host[: -len(domain) - 1], path[1:]
                break
    bucket, _, key = path[1:].partition("/")
    return bucket, key


def route(r: S3Request) -> Handler:
    """The handler for an S3 request, chosen as S3 does by method, bucket, key and subresource; an
    out-of-scope subresource is NotImplemented, never served as a plain request."""
    method = r.request.method
    q = r.query
    unsupported = UNSUPPORTED.intersection(q) - (OBJECT_SUBRESOURCES if r.key else frozenset())
    if unsupported:
        raise NotImplementedByXolo(f"the {sorted(unsupported)[0]!r} subresource is not implemented")
    if not r.bucket:
        if method == "GET":
            return buckets.list_buckets
        raise MethodNotAllowed("the service endpoint only lists buckets")
    if "acl" in q and method in ("GET", "PUT"):
        if r.key:
            return acl.get_object_acl if method == "GET" else acl.put_object_acl
        return acl.get_bucket_acl if method == "GET" else acl.put_bucket_acl
    if not r.key:
        if "cors" in q and method in ("GET", "PUT", "DELETE"):
            return {
                "GET": config.get_cors,
                "PUT": config.put_cors,
                "DELETE": config.delete_cors,
            }[method]
        if "lifecycle" in q and method in ("GET", "PUT", "DELETE"):
            return {
                "GET": config.get_lifecycle,
                "PUT": config.put_lifecycle,
                "DELETE": config.delete_lifecycle,
            }[method]
        if method == "GET":
            if "location" in q:
                return buckets.get_location
            if "versioning" in q:
                return buckets.get_versioning
            if "versions" in q:
                return buckets.list_object_versions
            if "uploads" in q:
                return multipart.list_uploads
            return buckets.list_objects_v2 if q.get("list-type") == "2" else buckets.list_objects_v1
        if method == "PUT" and "versioning" in q:
            return buckets.put_versioning
        if method == "PUT":
            return buckets.create_bucket
        if method == "HEAD":
            return buckets.head_bucket
        if method == "DELETE":
            return buckets.delete_bucket
        if method == "POST" and "delete" in q:
            return objects.delete_objects
        raise NotImplementedByXolo(f"{method} on a bucket with {sorted(q)} is not implemented")
    if "tagging" in q and method in ("GET", "PUT", "DELETE"):
        return {
            "GET": attributes.get_tagging,
            "PUT": attributes.put_tagging,
            "DELETE": attributes.delete_tagging,
        }[method]
    if "attributes" in q and method == "GET":
        return attributes.get_attributes
    if method == "PUT":
        if "partNumber" in q and "uploadId" in q:
            return multipart.upload_part
        if "x-amz-copy-source" in r.request.headers:
            return objects.copy_object
        return objects.put_object
    if method == "GET":
        return multipart.list_parts if "uploadId" in q else _get
    if method == "HEAD":
        return _head
    if method == "DELETE":
        return multipart.abort if "uploadId" in q else objects.delete_object
    if method == "POST":
        if "uploads" in q:
            return multipart.create
        if "uploadId" in q:
            return multipart.complete
    raise MethodNotAllowed(f"{method} is not allowed on an object")


async def _get(r: S3Request) -> Response:
    return await objects.get_object(r, head=False)


async def _head(r: S3Request) -> Response:
    return await objects.get_object(r, head=True)


async def _preflight(service: ObjectService, request: Request, bucket: str) -> Response:
    """A browser's CORS preflight: answered from the bucket's rules, before (and without)
    authentication, since browsers send none."""
    h = request.headers
    try:
        headers = await service.cors_preflight(
            bucket,
            origin=h.get("origin"),
            method=h.get("access-control-request-method"),
            headers=h.get("access-control-request-headers"),
        )
    except XoloError as exc:
        return xml.error_response(exc, request.url.path, new_request_id(), head=False)
    return Response(headers=headers)


def build_s3_app(
    service: ObjectService,
    auth: Authenticator,
    *,
    region: str = DEFAULT_REGION,
    domain: str | None = "localhost",
    metrics: Metrics | None = None,
) -> ASGIApp:
    """The S3-compatible ASGI app over ``service``: every request authenticated by its signature,
    routed, and every error answered as S3 error XML."""
    s3auth = S3Authenticator(auth, region=region, domain=domain)
    metrics = metrics or Metrics()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        started = time.perf_counter()
        request = Request(scope, receive)
        request_id = new_request_id()
        head = request.method == "HEAD"
        bucket = ""
        try:
            bucket, key = locate(scope, domain)
            if request.method == "OPTIONS":
                response = await _preflight(service, request, bucket)
                await response(scope, receive, send)
                return
            try:
                caller = await s3auth.authenticate(request)
            except XoloError as exc:
                metrics.auth_failures.labels("s3", exc.code).inc()
                raise
            ACTOR.set(caller.principal.access_key if caller.principal else None)
            r = S3Request(request, caller, bucket, key, service, region, metrics)
            response = await route(r)(r)
        except XoloError as exc:
            response = xml.error_response(exc, scope["path"], request_id, head=head)
        except Exception:
            log.exception("S3 request %s failed", request_id)
            error = XoloError("We encountered an internal error. Please try again.")
            response = xml.error_response(error, scope["path"], request_id, head=head)
        response.headers["x-amz-request-id"] = request_id
        origin = request.headers.get("origin")
        if origin and bucket:
            try:
                cors = await service.cors_headers(bucket, origin=origin, method=request.method)
            except XoloError:  # the store is unreachable: the answer goes without CORS headers
                cors = {}
            response.headers.update(cors)
        close_if_body_unread(request, response)
        metrics.observe("s3", request.method, response.status_code, time.perf_counter() - started)
        await response(scope, receive, send)

    return app
