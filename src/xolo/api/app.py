"""Building the ASGI applications: every route, its access mode, and the one endpoint wrapper.

``build_app`` is the native API of ``xolo serve`` and of a router; ``build_peer_app`` is what a
storage peer serves. Both use one route table format and one endpoint wrapper, so errors,
request ids and metrics are handled the same everywhere.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from xolo.api.asyncapi import asyncapi_document
from xolo.api.auth import authenticate
from xolo.api.chunks import ChunkAPI
from xolo.api.direct import DirectAPI
from xolo.api.errors import error_response, internal_error
from xolo.api.events import EventsAPI
from xolo.api.http import close_if_body_unread
from xolo.api.http import new_request_id as _request_id
from xolo.api.keys import PRESIGN_PARAM, KeysAPI
from xolo.api.metrics import Metrics
from xolo.api.native import NativeAPI
from xolo.api.notify import NotifyAPI
from xolo.api.openapi import openapi_document
from xolo.core.errors import InvalidCredentials, MethodNotAllowed, NotFound, XoloError
from xolo.service.auth import Authenticator, ClusterGuard, Principal
from xolo.service.context import ACTOR
from xolo.service.keys import KeyAdmin
from xolo.service.notify import NotifyAdmin
from xolo.service.objects import ObjectService

ALL_METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]
"""Routes take every verb, so the endpoint answers a wrong one with our JSON 405."""

Handler = Callable[[Request], Awaitable[Response]]
Access = Literal["public", "optional", "required"]
"""public: no credentials read (or the handler reads them itself); optional: anonymous allowed
(public-read buckets); required."""
RouteRow = tuple[str, str, Handler, list[str], Access]
"""(path, name, handler, methods, access)."""
Lifespan = Callable[[], AbstractAsyncContextManager[None]]


def _endpoint(
    name: str,
    fn: Handler,
    methods: list[str],
    access: Access,
    auth: Authenticator,
    metrics: Metrics,
) -> Handler:
    allowed = frozenset(methods)

    async def handle(request: Request) -> Response:
        started = time.perf_counter()
        request_id = _request_id()
        try:
            if request.method not in allowed:
                raise MethodNotAllowed(f"{request.method} is not allowed here")
            if access != "public":
                principal = await _caller(
                    request, access, auth, metrics, presignable=name == "object"
                )
                request.state.principal = principal
                ACTOR.set(principal.access_key if principal else None)
            response = await fn(request)
        except XoloError as exc:
            response = error_response(exc, request_id, head=request.method == "HEAD")
        except Exception as exc:
            response = internal_error(exc, request_id)
        response.headers["x-request-id"] = request_id
        close_if_body_unread(request, response)
        metrics.observe(name, request.method, response.status_code, time.perf_counter() - started)
        return response

    handle.methods = allowed  # type: ignore[attr-defined]  # for the OpenAPI check
    return handle


async def _caller(
    request: Request,
    access: Access,
    auth: Authenticator,
    metrics: Metrics,
    *,
    presignable: bool,
) -> Principal | None:
    """Who is calling: a key (Basic or Bearer), a presigned URL (on the object route only: a
    URL for an object's bytes opens nothing else about it), or nobody (where allowed). Every
    failed authentication is counted."""
    try:
        if PRESIGN_PARAM in request.query_params:
            params = request.path_params
            if not presignable or "bucket" not in params or "key" not in params:
                raise InvalidCredentials("presigned URLs are for objects")
            return await auth.check_presign(
                request.query_params[PRESIGN_PARAM],
                method=request.method,
                bucket=params["bucket"],
                key=params["key"],
            )
        if access == "optional" and "authorization" not in request.headers:
            return None
        return await authenticate(request, auth)
    except XoloError as exc:
        metrics.auth_failures.labels("native", exc.code).inc()
        raise


def direct_routes(direct: DirectAPI) -> list[RouteRow]:
    """Direct transfers (a plan of signed chunk URLs, then a manifest commit) and the staging
    commit."""
    return [
        ("/v1/buckets/{bucket}/direct", "direct_plan", direct.plan, ["POST"], "required"),
        ("/v1/buckets/{bucket}/staging", "staging", direct.staging, ["POST"], "required"),
        ("/v1/buckets/{bucket}/direct/{key:path}", "direct_read", direct.read, ["GET"], "optional"),
        (
            "/v1/buckets/{bucket}/manifests/{key:path}",
            "direct_commit",
            direct.commit,
            ["PUT"],
            "required",
        ),
    ]


def chunk_routes(chunks: ChunkAPI) -> list[RouteRow]:
    """The chunk API's routes; its handlers decide access themselves (cluster or admin)."""
    return [
        ("/v1/chunks", "chunk_inventory", chunks.inventory, ["GET"], "public"),
        ("/v1/chunks/has", "chunks_has", chunks.has, ["POST"], "public"),
        ("/v1/chunks/doom", "chunks_doom", chunks.doom, ["POST"], "public"),
        ("/v1/chunks/delete", "chunks_delete", chunks.delete, ["POST"], "public"),
        ("/v1/chunks/scrub", "chunks_scrub", chunks.scrub, ["POST"], "public"),
        ("/v1/chunks/usage", "chunks_usage", chunks.usage, ["GET"], "public"),
        ("/v1/chunks/{sha256}", "chunk", chunks.chunk, ["GET", "HEAD", "PUT"], "public"),
    ]


def common_routes(
    *, role: str, version: str, data_path: Path | None, metrics: Metrics, extra: Any = None
) -> list[RouteRow]:
    """``/health`` (public) and ``/metrics`` (credentials required), served by every role."""
    started = time.time()

    async def health(request: Request) -> Response:
        disk_free = shutil.disk_usage(data_path).free if data_path else None
        doc = {
            "status": "ok",
            "role": role,
            "version": version,
            "uptime_seconds": round(time.time() - started, 3),
            "disk_free_bytes": disk_free,
        }
        if extra is not None:
            doc.update(extra())
        return JSONResponse(doc)

    async def metrics_endpoint(request: Request) -> Response:
        metrics.uptime.set(time.time() - started)
        return Response(metrics.render(), media_type=metrics.content_type)

    return [
        ("/health", "health", health, ["GET"], "public"),
        ("/metrics", "metrics", metrics_endpoint, ["GET"], "required"),
    ]


def assemble(
    table: Sequence[RouteRow], *, auth: Authenticator, metrics: Metrics, lifespan: Lifespan | None
) -> ASGIApp:
    """The application for a route table: each route wrapped once, our JSON 404 for the rest."""
    routes = [
        Route(
            path,
            _endpoint(name, fn, methods, access, auth, metrics),
            methods=ALL_METHODS,
            name=name,
        )
        for path, name, fn, methods, access in table
    ]

    async def not_found(scope: Scope, receive: Receive, send: Send) -> None:
        error = NotFound(f"no route for {scope.get('path', '')[:200]}")
        await error_response(error, _request_id())(scope, receive, send)

    @asynccontextmanager
    async def span(app: object) -> AsyncIterator[None]:
        if lifespan is None:
            yield
            return
        async with lifespan():
            yield

    # A bare Router, not Starlette(): every endpoint already turns every error into a response,
    # so Starlette's two error middlewares would only add layers to the hot path.
    return Router(routes, redirect_slashes=False, default=not_found, lifespan=span)


def build_app(
    service: ObjectService,
    auth: Authenticator,
    *,
    chunks: ChunkAPI | None = None,
    extra_routes: Sequence[RouteRow] = (),
    role: str = "single",
    version: str = "0",
    data_path: Path | None = None,
    lifespan: Lifespan | None = None,
    metrics: Metrics | None = None,
    guard: ClusterGuard | None = None,
) -> ASGIApp:
    """The native API (``/v1``), ``/health``, ``/metrics`` and ``/openapi.json``; with
    ``chunks``, the chunk API of the local volume too (``xolo serve``); with ``guard`` (which
    signs chunk URLs), direct transfers."""
    metrics = metrics or Metrics()
    native = NativeAPI(service, auth, metrics)
    keys = KeysAPI(admin=KeyAdmin(meta=auth.keys, auth=auth), auth=auth)
    events = EventsAPI(service)
    notify = NotifyAPI(NotifyAdmin(meta=service.notify_store, policy=service.policy, box=auth.box))
    openapi = openapi_document(version)

    asyncapi = asyncapi_document(version)

    async def openapi_endpoint(request: Request) -> Response:
        return JSONResponse(openapi)

    async def asyncapi_endpoint(request: Request) -> Response:
        return JSONResponse(asyncapi)

    table: list[RouteRow] = [
        *common_routes(role=role, version=version, data_path=data_path, metrics=metrics),
        ("/openapi.json", "openapi", openapi_endpoint, ["GET"], "required"),
        ("/asyncapi.json", "asyncapi", asyncapi_endpoint, ["GET"], "required"),
        ("/v1/auth/token", "token", native.issue_token, ["POST"], "required"),
        ("/v1/buckets", "buckets", native.list_buckets, ["GET"], "required"),
        ("/v1/buckets/{bucket}", "bucket", native.bucket, ["GET", "PUT", "DELETE"], "required"),
        ("/v1/buckets/{bucket}/objects", "list", native.list_objects, ["GET"], "optional"),
        (
            "/v1/buckets/{bucket}/objects/{key:path}",
            "object",
            native.object,
            ["GET", "HEAD", "PUT", "POST", "DELETE"],
            "optional",
        ),
        (
            "/v1/buckets/{bucket}/tags/{key:path}",
            "tags",
            native.tags,
            ["GET", "PUT", "DELETE"],
            "optional",
        ),
        ("/v1/buckets/{bucket}/uploads", "uploads", native.create_upload, ["POST"], "required"),
        *(direct_routes(DirectAPI(service, guard)) if guard is not None else []),
        ("/v1/uploads/{upload_id}", "upload", native.complete_upload, ["PUT"], "required"),
        ("/v1/buckets/{bucket}/audit", "audit", native.audit, ["GET"], "required"),
        (
            "/v1/buckets/{bucket}/audit/verify",
            "audit_verify",
            native.verify_audit,
            ["POST"],
            "required",
        ),
        ("/v1/admin/audit", "system_audit", native.audit, ["GET"], "required"),
        ("/v1/admin/audit/verify", "system_verify", native.verify_audit, ["POST"], "required"),
        ("/v1/presign", "presign", keys.presign, ["POST"], "required"),
        ("/v1/events", "events", events.stream, ["GET"], "optional"),
        ("/v1/admin/notify", "notify", notify.targets, ["GET", "POST"], "required"),
        (
            "/v1/admin/notify/{target_id}",
            "notify_target",
            notify.target,
            ["GET", "PATCH", "DELETE"],
            "required",
        ),
        ("/v1/admin/keys", "admin_keys", keys.keys, ["GET", "POST"], "required"),
        (
            "/v1/admin/keys/{access_key}",
            "admin_key",
            keys.key,
            ["GET", "PATCH", "DELETE"],
            "required",
        ),
        (
            "/v1/admin/keys/{access_key}/grants/{bucket}",
            "admin_grant",
            keys.grant,
            ["PUT", "DELETE"],
            "required",
        ),
        *extra_routes,
        *(chunk_routes(chunks) if chunks is not None else []),
    ]
    return assemble(table, auth=auth, metrics=metrics, lifespan=lifespan)


def by_port(default: ASGIApp, apps: dict[int, ASGIApp]) -> ASGIApp:
    """One server, several listening sockets: each request goes to the surface of its port.
    Lifespan events go to ``default``, which owns the stores."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        target = apps.get(server[1]) if server and scope["type"] == "http" else None
        await (target or default)(scope, receive, send)

    return app
