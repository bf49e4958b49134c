"""Building the ASGI application: every route, its access mode, and the one endpoint wrapper."""

from __future__ import annotations

import shutil
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route, Router
from starlette.types import ASGIApp, Receive, Scope, Send

from xolo.api.auth import authenticate
from xolo.api.chunks import ChunkAPI
from xolo.api.errors import error_response, internal_error
from xolo.api.http import close_if_body_unread
from xolo.api.http import new_request_id as _request_id
from xolo.api.metrics import Metrics
from xolo.api.native import NativeAPI
from xolo.api.openapi import openapi_document
from xolo.core.errors import MethodNotAllowed, NotFound, XoloError
from xolo.service.auth import Authenticator
from xolo.service.objects import ObjectService

ALL_METHODS = ["GET", "HEAD", "PUT", "POST", "DELETE", "PATCH", "OPTIONS"]
"""Routes take every verb, so the endpoint answers a wrong one with our JSON 405."""

Handler = Callable[[Request], Awaitable[Response]]
Access = Literal["public", "optional", "required"]
"""public: no credentials read; optional: anonymous allowed (public-read buckets); required."""


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
                if access == "optional" and "authorization" not in request.headers:
                    request.state.principal = None
                else:
                    request.state.principal = await authenticate(request, auth)
            response = await fn(request)
        except XoloError as exc:
            response = error_response(exc, request_id, head=request.method == "HEAD")
        except Exception as exc:
            response = internal_error(exc, request_id)
        response.headers["x-request-id"] = request_id
        close_if_body_unread(request, response)
        metrics.observe(name, request.method, response.status_code, time.perf_counter() - started)
        return response

    return handle


def build_app(
    service: ObjectService,
    auth: Authenticator,
    *,
    role: str = "single",
    version: str = "0",
    data_path: Path | None = None,
    close_on_shutdown: bool = False,
    metrics: Metrics | None = None,
) -> ASGIApp:
    """The native API (``/v1``), ``/health``, ``/metrics`` and ``/openapi.json``."""
    metrics = metrics or Metrics()
    native = NativeAPI(service, auth, metrics)
    chunks = ChunkAPI(service)
    started = time.time()
    openapi = openapi_document(version)

    async def health(request: Request) -> Response:
        disk_free = shutil.disk_usage(data_path).free if data_path else None
        return JSONResponse(
            {
                "status": "ok",
                "role": role,
                "version": version,
                "uptime_seconds": round(time.time() - started, 3),
                "disk_free_bytes": disk_free,
            }
        )

    async def metrics_endpoint(request: Request) -> Response:
        metrics.uptime.set(time.time() - started)
        return Response(metrics.render(), media_type=metrics.content_type)

    async def openapi_endpoint(request: Request) -> Response:
        return JSONResponse(openapi)

    table: list[tuple[str, str, Handler, list[str], Access]] = [
        ("/health", "health", health, ["GET"], "public"),
        ("/metrics", "metrics", metrics_endpoint, ["GET"], "required"),
        ("/openapi.json", "openapi", openapi_endpoint, ["GET"], "required"),
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
        ("/v1/buckets/{bucket}/uploads", "uploads", native.create_upload, ["POST"], "required"),
        ("/v1/uploads/{upload_id}", "upload", native.complete_upload, ["PUT"], "required"),
        ("/v1/chunks/has", "chunks_has", chunks.has, ["POST"], "required"),
        ("/v1/chunks/{sha256}", "chunk", chunks.chunk, ["GET", "HEAD", "PUT"], "required"),
    ]
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
    async def lifespan(app: object) -> AsyncIterator[None]:
        yield
        if close_on_shutdown:
            await service.close()

    # A bare Router, not Starlette(): every endpoint already turns every error into a response,
    # so Starlette's two error middlewares would only add layers to the hot path.
    return Router(routes, redirect_slashes=False, default=not_found, lifespan=lifespan)
