"""Content-addressed chunks under ``/v1/chunks``: what routers use, and usable like hashserver.

Chunks bypass buckets, so every chunk route needs an admin grant on ``*``. There is no DELETE:
removing chunks is garbage collection's job.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from xolo.api.http import body_stream, json_body
from xolo.core.errors import InvalidArgument, MalformedJSON
from xolo.service.auth import Principal
from xolo.service.objects import ObjectService

MAX_HAS = 10_000
"""Names one ``has`` call may ask about: enough for a 80 GiB object's chunks at 8 MiB."""


class ChunkAPI:
    def __init__(self, service: ObjectService) -> None:
        self.service = service

    @staticmethod
    def _require(request: Request) -> None:
        principal: Principal | None = request.state.principal
        assert principal is not None
        principal.require("admin", "*")

    async def chunk(self, request: Request) -> Response:
        self._require(request)
        name = request.path_params["sha256"]
        if request.method == "PUT":
            size = await self.service.put_chunk(name, body_stream(request))
            return JSONResponse({"sha256": name, "size": size}, status_code=201)
        headers = {"etag": f'"{name}"', "cache-control": "public, max-age=31536000, immutable"}
        if request.method == "HEAD":
            headers["content-length"] = str(await self.service.chunk_size(name))
            return Response(headers=headers, media_type="application/octet-stream")
        data = await self.service.get_chunk(name)
        return Response(data, headers=headers, media_type="application/octet-stream")

    async def has(self, request: Request) -> Response:
        self._require(request)
        doc = await json_body(request)
        if not isinstance(doc, list):
            raise MalformedJSON("expected a JSON list of chunk names")
        if len(doc) > MAX_HAS:
            raise InvalidArgument(f"ask about at most {MAX_HAS} chunks at once")
        return JSONResponse(await self.service.has_chunks(doc))
