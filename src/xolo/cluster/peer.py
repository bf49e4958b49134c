"""A storage peer: one chunk volume behind the chunk API, reporting to the cluster's routers.

A peer keeps its chunks in ``<data>/chunks`` and its identity in ``<data>/peer.id``; its own
``<data>/meta.db`` holds only the root key, with which an operator may inspect it (HTTP Basic,
e.g. ``HEAD /v1/chunks/{sha256}``). Routers reach it with cluster-signed requests. Every
``heartbeat`` seconds it tells a router its URL, zone, capacity and usage; the answer lists
every router, so the peer keeps reporting when the router it joined through goes away.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import secrets
import shutil
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from starlette.types import ASGIApp

from xolo.api.app import assemble, chunk_routes, common_routes
from xolo.api.chunks import ChunkAPI
from xolo.api.metrics import Metrics
from xolo.chunks.disk import DiskChunkStore
from xolo.cluster.gc import TEMP_AGE
from xolo.core.cluster_auth import HEADER, sign_request
from xolo.core.credentials import SecretBox
from xolo.core.names import check_peer_id
from xolo.meta.sqlite import SQLiteMetaStore
from xolo.service.auth import Authenticator, ClusterGuard
from xolo.service.chunks import ChunkService
from xolo.service.config import ServiceConfig
from xolo.service.datadir import DataDir

log = logging.getLogger("xolo.peer")


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerSettings:
    """Everything ``xolo peer`` was told."""

    data: str
    url: str
    """The URL routers reach this peer at (its advertised address)."""
    join: tuple[str, ...]
    zone: str
    capacity: int | None
    secret: str
    heartbeat: float = 1.0
    peer_id: str | None = None


def peer_id_for(data: DataDir, wanted: str | None) -> str:
    """The peer's id: given, or remembered in ``<data>/peer.id``, or new (and remembered)."""
    path = data.root / "peer.id"
    if wanted:
        check_peer_id(wanted)
    if path.exists():
        known = path.read_text().strip()
        if wanted and wanted != known:
            raise ValueError(f"{data.root} belongs to peer {known!r}, not {wanted!r}")
        return known
    chosen = wanted or f"peer-{secrets.token_hex(4)}"
    path.write_text(chosen + "\n")
    return chosen


class Reporter:
    """The heartbeat loop: report to a router, learn the others, move on when one fails."""

    def __init__(
        self,
        *,
        settings: PeerSettings,
        peer_id: str,
        volume: DiskChunkStore,
        capacity: int,
        http: httpx.AsyncClient,
    ) -> None:
        self._s = settings
        self._id = peer_id
        self._volume = volume
        self._capacity = capacity
        self._http = http
        self.routers: list[str] = [u.rstrip("/") for u in settings.join]
        self.reported = asyncio.Event()

    async def report_once(self) -> bool:
        """One heartbeat to the first router that answers; whether one did."""
        usage = await self._volume.usage()
        doc = {
            "id": self._id,
            "url": self._s.url,
            "zone": self._s.zone,
            "capacity": self._capacity,
            "used_bytes": usage.used_bytes,
            "chunks": usage.chunks,
        }
        for router in list(self.routers):
            # A fresh ``sent`` per attempt: routers refuse one no newer than the last recorded,
            # which a router that recorded this report but failed to answer would have made.
            body = json.dumps({**doc, "sent": time.time()}).encode()
            path = "/v1/cluster/heartbeat"
            signature = sign_request(self._s.secret, "POST", path, "", now=time.time(), body=body)
            headers = {HEADER: signature, "content-type": "application/json"}
            try:
                r = await self._http.post(router + path, content=body, headers=headers)
            except httpx.HTTPError as exc:
                log.warning("heartbeat to %s failed: %s", router, type(exc).__name__)
                continue
            if r.status_code != 200:
                log.warning("heartbeat to %s answered %s: %s", router, r.status_code, r.text[:200])
                continue
            self._learn(router, r.json().get("routers", []))
            self.reported.set()
            return True
        return False

    def _learn(self, answered: str, routers: Sequence[str]) -> None:
        known = [answered, *(u.rstrip("/") for u in routers if isinstance(u, str))]
        known += [u for u in self.routers if u not in known]  # keep the ones we were given
        self.routers = list(dict.fromkeys(known))

    async def run(self) -> None:
        """Report every ``heartbeat`` seconds until cancelled, and clean abandoned temporary files
        every ``TEMP_AGE``; a failure is logged and the loop goes on."""
        last_clean = 0.0
        while True:
            try:
                await self.report_once()
                if time.monotonic() - last_clean > TEMP_AGE:
                    last_clean = time.monotonic()
                    await self._volume.clean_temp(TEMP_AGE)
            except Exception:
                log.exception("heartbeat loop")
            await asyncio.sleep(self._s.heartbeat)


def build_peer(settings: PeerSettings, *, version: str) -> tuple[ASGIApp, str]:
    """The peer's ASGI app and its id."""
    data = DataDir.create(settings.data)
    peer_id = peer_id_for(data, settings.peer_id)
    volume = DiskChunkStore(data.chunks_path)
    meta = SQLiteMetaStore(data.meta_path)
    auth = Authenticator(meta, SecretBox(data.master_key()))
    guard = ClusterGuard(secret=settings.secret, audience=settings.url)
    metrics = Metrics()
    chunks = ChunkAPI(
        ChunkService(volume=volume, max_chunk_size=ServiceConfig().max_chunk_size),
        guard,
        auth,
        metrics,
    )
    capacity = settings.capacity or shutil.disk_usage(data.root).total

    def identity() -> dict[str, Any]:
        return {"peer_id": peer_id, "zone": settings.zone, "capacity": capacity}

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        http = httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=2.0))
        reporter = Reporter(
            settings=settings, peer_id=peer_id, volume=volume, capacity=capacity, http=http
        )
        task = asyncio.create_task(reporter.run())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await http.aclose()
            await volume.close()
            await meta.close()

    table = [
        *common_routes(
            role="peer", version=version, data_path=data.root, metrics=metrics, extra=identity
        ),
        *chunk_routes(chunks),
    ]
    return assemble(table, auth=auth, metrics=metrics, lifespan=lifespan), peer_id


async def ensure_peer_root(data: str, access_key: str | None, secret: str | None) -> None:
    """Give the peer's own store the root key, so an operator can inspect it."""
    if not (access_key and secret):
        return
    root = DataDir.create(data)
    meta = SQLiteMetaStore(root.meta_path)
    try:
        await Authenticator(meta, SecretBox(root.master_key())).ensure_root(access_key, secret)
    finally:
        await meta.close()
