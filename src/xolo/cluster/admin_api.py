"""The cluster's HTTP routes on a router (and on ``xolo serve``): the admin API for peers and
background tasks, and the heartbeat endpoint peers report to.

Admin routes need a key with admin on ``*`` (root has it). The heartbeat route takes only a
cluster signature: a peer proves it belongs before it can join.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from xolo.api.app import RouteRow
from xolo.api.http import control_body, json_body
from xolo.cluster.membership import PeerView
from xolo.cluster.workers import Scheduler
from xolo.core.cluster_auth import HEADER
from xolo.core.errors import InvalidArgument, MalformedJSON, NotFound, Unauthenticated
from xolo.core.names import check_peer_id
from xolo.core.records import PeerRecord
from xolo.service.auth import ClusterGuard, Principal
from xolo.service.policy import require_service_admin

RUN_WAIT = 600.0
"""How long ``POST /v1/admin/tasks/{name}/run`` waits for another router's run to finish."""

PeersView = Callable[[], Awaitable[list[PeerView]]]


def _iso(ts: float) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat() if ts else None


def peer_json(view: PeerView) -> dict[str, Any]:
    """A peer as the admin API shows it (``xolo admin peers``): its record, state and ISO times."""
    p = view.record
    return {
        "id": p.id,
        "url": p.url,
        "state": view.state,
        "zone": p.zone,
        "capacity": p.capacity,
        "used_bytes": p.used_bytes,
        "chunks": p.chunks,
        "last_heartbeat": _iso(p.last_heartbeat),
        "joined": _iso(p.joined),
    }


def _admin(request: Request) -> Principal:
    principal: Principal | None = request.state.principal
    return require_service_admin(principal)


class AdminAPI:
    """Handlers for ``/v1/admin/...`` and ``/v1/cluster/heartbeat``."""

    def __init__(
        self,
        *,
        scheduler: Scheduler,
        peers: PeersView,
        drain: Callable[[str, bool], Awaitable[PeerView | None]] | None = None,
        heartbeat: Callable[[PeerRecord], Awaitable[dict[str, Any]]] | None = None,
        guard: ClusterGuard | None = None,
    ) -> None:
        self._scheduler = scheduler
        self._peers = peers
        self._drain = drain
        self._heartbeat = heartbeat
        self._guard = guard

    def routes(self) -> list[RouteRow]:
        """The route rows to mount; the heartbeat route only where peers report to this process (a
        router, not ``xolo serve``)."""
        rows: list[RouteRow] = [
            ("/v1/admin/peers", "admin_peers", self.list_peers, ["GET"], "required"),
            ("/v1/admin/peers/{peer_id}", "admin_peer", self.peer, ["GET"], "required"),
            (
                "/v1/admin/peers/{peer_id}/drain",
                "admin_drain",
                self.drain,
                ["POST", "DELETE"],
                "required",
            ),
            ("/v1/admin/tasks", "admin_tasks", self.list_tasks, ["GET"], "required"),
            ("/v1/admin/tasks/{name}/run", "admin_run", self.run_task, ["POST"], "required"),
        ]
        if self._heartbeat is not None:
            rows.append(("/v1/cluster/heartbeat", "heartbeat", self.heartbeat, ["POST"], "public"))
        return rows

    async def list_peers(self, request: Request) -> Response:
        """``GET /v1/admin/peers``: every peer and its state."""
        _admin(request)
        return JSONResponse({"peers": [peer_json(v) for v in await self._peers()]})

    async def _find(self, peer_id: str) -> PeerView:
        for view in await self._peers():
            if view.record.id == peer_id:
                return view
        raise NotFound(f"no peer {peer_id[:80]!r}")

    async def peer(self, request: Request) -> Response:
        """``GET /v1/admin/peers/{peer_id}``: one peer and its state."""
        _admin(request)
        return JSONResponse(peer_json(await self._find(request.path_params["peer_id"])))

    async def drain(self, request: Request) -> Response:
        """POST starts draining a peer; DELETE stops it (the peer takes new copies again)."""
        _admin(request)
        peer_id = request.path_params["peer_id"]
        await self._find(peer_id)
        if self._drain is None:
            raise InvalidArgument("a single node has no peer to drain")
        view = await self._drain(peer_id, request.method == "POST")
        if view is None:
            raise NotFound(f"no peer {peer_id[:80]!r}")
        return JSONResponse(peer_json(view), status_code=202 if request.method == "POST" else 200)

    async def list_tasks(self, request: Request) -> Response:
        """``GET /v1/admin/tasks``: every background task's status, as the cluster knows it."""
        _admin(request)
        return JSONResponse({"tasks": [s.to_json() for s in await self._scheduler.statuses()]})

    async def run_task(self, request: Request) -> Response:
        """``POST /v1/admin/tasks/{name}/run``: run a task now and answer its status, waiting up to
        ``RUN_WAIT`` for a run another router holds."""
        _admin(request)
        status = await self._scheduler.run_now(request.path_params["name"], wait=RUN_WAIT)
        return JSONResponse(status.to_json())

    async def heartbeat(self, request: Request) -> Response:
        """``POST /v1/cluster/heartbeat``: a peer's report, taken only with a valid cluster
        signature; the answer tells the peer where every router is."""
        assert self._heartbeat is not None and self._guard is not None
        header = request.headers.get(HEADER)
        if header is None:
            raise Unauthenticated("heartbeats need cluster credentials")
        digest = self._guard.check_signature(
            method=request.method, path=request.url.path, query=request.url.query, header=header
        )
        self._guard.check_body(digest, await control_body(request))
        doc = await json_body(request)
        if not isinstance(doc, dict):
            raise MalformedJSON("a heartbeat is a JSON object")
        return JSONResponse(await self._heartbeat(parse_heartbeat(doc)))


def parse_heartbeat(doc: dict[str, Any]) -> PeerRecord:
    """A peer's report, validated: id, url, zone, capacity, used_bytes, chunks, and ``sent``
    (the peer's clock, which orders its heartbeats)."""
    try:
        peer_id, url, zone = str(doc["id"]), str(doc["url"]), str(doc.get("zone") or "default")
        numbers = [int(doc.get(k, 0)) for k in ("capacity", "used_bytes", "chunks")]
        sent = float(doc["sent"])
    except (KeyError, TypeError, ValueError):
        raise InvalidArgument(
            "a heartbeat needs id, url, zone, capacity, used_bytes, chunks, sent"
        ) from None
    check_peer_id(peer_id)
    if not url.startswith(("http://", "https://")) or any(n < 0 for n in numbers):
        raise InvalidArgument("a heartbeat needs an http(s) url and non-negative numbers")
    if not math.isfinite(sent):
        raise InvalidArgument("a heartbeat's sent time must be a finite number")
    capacity, used, chunks = numbers
    return PeerRecord(
        id=peer_id,
        url=url,
        zone=zone[:64],
        capacity=capacity,
        used_bytes=used,
        chunks=chunks,
        sent=sent,
    )
