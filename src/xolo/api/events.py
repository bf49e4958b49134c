"""The change feed over Server-Sent Events: ``GET /v1/events?bucket=B&prefix=P&types=T,U``.

Each event is ``id: <sequence>``, ``event: <type>``, ``data: <JSON>``. A client resumes from any
point with ``Last-Event-ID`` (or ``?after=``): the feed is the bucket's audit chain, kept as
long as the chain, so every event since the bucket was created can be replayed. A comment line
every ``HEARTBEAT`` seconds keeps idle connections (and proxies) alive.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from xolo.api.http import bounded_int
from xolo.core.errors import InvalidArgument
from xolo.core.events import check_types, event_json
from xolo.core.names import check_bucket_name
from xolo.service.auth import Principal
from xolo.service.objects import ObjectService

HEARTBEAT = 15.0
"""Seconds between keep-alive comments on an idle stream."""


def cursor(request: Request) -> int:
    """The sequence to resume after: ``Last-Event-ID``, else ``?after=``, else the feed's start."""
    raw = request.headers.get("last-event-id") or request.query_params.get("after") or "0"
    return bounded_int(raw, name="Last-Event-ID (or after)")


class EventsAPI:
    """The SSE endpoint; access is the service policy's read on the bucket."""

    def __init__(self, service: ObjectService, *, heartbeat: float = HEARTBEAT) -> None:
        self._service = service
        self._heartbeat = heartbeat

    async def stream(self, request: Request) -> Response:
        """Answer ``GET /v1/events``: after a read check on the bucket, stream its audit chain from
        the cursor as SSE, filtered by prefix and type."""
        principal: Principal | None = request.state.principal
        bucket = request.query_params.get("bucket", "")
        if not bucket:
            raise InvalidArgument("name the bucket to follow: /v1/events?bucket=NAME")
        check_bucket_name(bucket)
        await self._service.policy.require(principal, "read", bucket)
        await self._service.get_bucket(bucket)
        prefix = request.query_params.get("prefix", "")
        raw_types = request.query_params.get("types", "")
        types = check_types([t for t in raw_types.split(",") if t])
        after = cursor(request)
        if request.query_params.get("start") == "end" and "last-event-id" not in request.headers:
            head = await self._service.audit.head(bucket)
            after = head[0] if head else 0

        async def events() -> AsyncIterator[bytes]:
            yield f"retry: 1000\n: following {bucket} after {after}\n\n".encode()
            async for entry in self._service.feed.follow(
                bucket, after=after, prefix=prefix, types=types, idle=self._heartbeat
            ):
                if entry is None:
                    yield b": keep-alive\n\n"
                    continue
                data = json.dumps(event_json(entry), separators=(",", ":"))
                yield f"id: {entry.sequence}\nevent: {entry.event_type}\ndata: {data}\n\n".encode()

        return StreamingResponse(
            events(),
            media_type="text/event-stream",
            headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
        )
