"""The chunk API under ``/v1/chunks``: what routers use to store and fetch chunks on a peer,
usable like hashserver by an operator with the root key.

Access: a cluster signature (routers and peers), a signed chunk URL (one method on one chunk),
or a key with admin on ``*`` (HTTP Basic or Bearer). A request with none of these gets 401 and
changes nothing. There is no plain DELETE: chunks leave through GC's two phases.
"""

from __future__ import annotations

import os
from pathlib import Path

from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse, Response

from xolo.api.auth import authenticate
from xolo.api.http import PATHSEND, body_stream, control_body, int_param, json_body
from xolo.api.metrics import Metrics
from xolo.chunks.disk import recorded_crc
from xolo.chunks.peer_http import CRC_HEADER
from xolo.core.cluster_auth import HEADER
from xolo.core.errors import InvalidArgument, MalformedJSON
from xolo.service.auth import Authenticator, ClusterGuard
from xolo.service.chunks import ChunkService
from xolo.service.policy import require_service_admin

IMMUTABLE = "public, max-age=31536000, immutable"
OCTETS = "application/octet-stream"

INVENTORY_PAGE = 1000
"""The most chunk names one inventory page returns, so a listing of a large peer stays small."""


class _ChunkFile(FileResponse):
    """A chunk file sent from disk in pieces of up to 4 MiB, so a chunk of that size is one
    read and one send, and never more is held at once (Starlette answers Range, If-Range and
    HEAD)."""

    chunk_size = 4 * 1024 * 1024


WHOLE_READ = 8 * 1024 * 1024
"""The largest chunk a whole-chunk GET reads into memory at once (the default chunk size);
larger ones are streamed in ``_ChunkFile`` pieces, so a GET holds at most this much."""


def _stat(path: Path | None) -> os.stat_result | None:
    """The chunk file's status, None when it is not a local file or is missing (the whole read
    then answers 404). A stat of a local file, cheaper than a thread hop."""
    try:
        return None if path is None else path.stat()
    except OSError:
        return None


class ChunkAPI:
    """Translates chunk requests onto a ChunkService, after deciding who is calling."""

    def __init__(
        self,
        chunks: ChunkService,
        guard: ClusterGuard,
        auth: Authenticator,
        metrics: Metrics | None = None,
    ) -> None:
        self._chunks = chunks
        self._guard = guard
        self._auth = auth
        self.metrics = metrics or Metrics()
        """Where received chunk bytes are counted (the server's ``/metrics``)."""

    async def _authorize(self, request: Request, sha256: str | None = None) -> None:
        header = request.headers.get(HEADER)
        if header is not None:
            # A chunk PUT streams its body, which must hash to its name; any other request's
            # body is small and signed (read only when the header names one).
            streamed = request.method == "PUT" and sha256 is not None
            digest = self._guard.check_signature(
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                header=header,
                streamed=streamed,
            )
            if not streamed:
                self._guard.check_body(digest, await control_body(request))
            return
        if sha256 is not None and "x-xolo-signature" in request.query_params:
            self._guard.check_chunk_url(
                method=request.method, sha256=sha256, query=request.query_params
            )
            return
        require_service_admin(await authenticate(request, self._auth))

    async def chunk(self, request: Request) -> Response:
        """``PUT``, ``GET`` and ``HEAD`` of one chunk; a ``PUT`` under a plan token answers with a
        receipt that the bytes arrived and hash to their name."""
        name = request.path_params["sha256"]
        await self._authorize(request, name)
        if request.method == "PUT":
            size = await self._chunks.put(name, body_stream(request))
            self.metrics.chunk_bytes_in.inc(size)
            doc: dict[str, object] = {"sha256": name, "size": size}
            plan = request.query_params.get("x-xolo-plan")
            if plan and self._guard.secret is not None:
                # The bytes were received and hash to the name: the sender holds them.
                doc["receipt"] = self._guard.receipt(sha256=name, plan=plan)
            return JSONResponse(doc, status_code=201)
        headers = {"etag": f'"{name}"', "cache-control": IMMUTABLE}
        path = self._chunks.local_path(name)
        whole = request.method == "GET" and "range" not in request.headers
        stat = _stat(path)
        # Only a router (a cluster signature) checks the CRC-32C of what arrives; a bearer of
        # a signed chunk URL or an operator's key may not, so they get bytes checked here.
        router = HEADER in request.headers
        offered = router and PATHSEND in request.scope.get("extensions", {})
        if whole and offered and path is not None and stat is not None:
            crc = recorded_crc(path)
            if crc is not None:
                # Sent by the kernel (the server's sendfile), unread here: the router checks
                # the bytes against this CRC-32C on arrival, as it checks a streamed chunk.
                headers[CRC_HEADER] = f"{crc:08x}"
                return _ChunkFile(path, stat_result=stat, headers=headers, media_type=OCTETS)
        if whole and (stat is None or stat.st_size <= WHOLE_READ):
            # The whole chunk, read with one pread on one thread and sent in one message (a
            # file response costs a thread hop for each of stat, open, read, the read that
            # finds the end, and close), and checked against its CRC-32C before it is sent.
            data, crc = await self._chunks.read_checked(name)
            if crc is not None:
                headers[CRC_HEADER] = f"{crc:08x}"
            return Response(data, headers=headers, media_type=OCTETS)
        size = await self._chunks.size(name)
        if path is not None:
            crc = recorded_crc(path) if whole else None
            if crc is not None:  # streamed unchecked: the reader checks it on arrival
                headers[CRC_HEADER] = f"{crc:08x}"
            return _ChunkFile(path, headers=headers, media_type=OCTETS)
        headers["content-length"] = str(size)
        if request.method == "HEAD":
            return Response(headers=headers, media_type=OCTETS)
        data = await self._chunks.read(name)
        return Response(data, headers=headers, media_type=OCTETS)

    async def _names(self, request: Request) -> object:
        doc = await json_body(request)
        if not isinstance(doc, list):
            raise MalformedJSON("expected a JSON list of chunk names")
        return doc

    async def has(self, request: Request) -> Response:
        """Which chunks are stored; with ``?live=1``, only copies GC has not doomed."""
        await self._authorize(request)
        names = await self._names(request)
        if request.query_params.get("live"):
            return JSONResponse([bool(n) for n in await self._chunks.copies(names)])
        return JSONResponse(await self._chunks.has(names))

    async def doom(self, request: Request) -> Response:
        """GC's phase one on this peer's chunks (a JSON list of names)."""
        await self._authorize(request)
        mark = request.query_params.get("mark", "")
        return JSONResponse(await self._chunks.doom(await self._names(request), mark))

    async def delete(self, request: Request) -> Response:
        """GC's phase two: deletes only the named chunks still doomed."""
        await self._authorize(request)
        mark = request.query_params.get("mark", "")
        return JSONResponse(await self._chunks.delete_doomed(await self._names(request), mark))

    async def inventory(self, request: Request) -> Response:
        """One page of stored chunks after ``?after=``, at most ``INVENTORY_PAGE``."""
        await self._authorize(request)
        after = request.query_params.get("after", "")
        limit = int_param(request, "limit", minimum=1, maximum=INVENTORY_PAGE) or INVENTORY_PAGE
        refs = await self._chunks.inventory(after, limit)
        return JSONResponse({"chunks": [[r.sha256, r.size] for r in refs]})

    async def scrub(self, request: Request) -> Response:
        """Re-hash ``names``, or a page after ``after``, here where the files are."""
        await self._authorize(request)
        doc = await json_body(request) or {}
        if not isinstance(doc, dict):
            raise MalformedJSON("expected {names} or {after, limit}")
        names = doc.get("names")
        after, limit = doc.get("after", ""), doc.get("limit", 64)
        if not isinstance(after, str) or not isinstance(limit, int) or isinstance(limit, bool):
            raise InvalidArgument("after must be a chunk name and limit an integer")
        report = await self._chunks.scrub(names, after, limit)
        return JSONResponse(
            {
                "checked": report.checked,
                "bytes": report.bytes,
                "bad": report.bad,
                "next_after": report.next_after,
            }
        )

    async def usage(self, request: Request) -> Response:
        """Bytes and chunks stored on this peer."""
        await self._authorize(request)
        usage = await self._chunks.usage()
        return JSONResponse({"used_bytes": usage.used_bytes, "chunks": usage.chunks})
