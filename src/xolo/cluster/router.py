"""A router: the native, S3 and admin APIs over the shared metadata store and the peers.

Routers are stateless: everything they know is in the metadata store (SQLite for one router,
PostgreSQL for many) or computed from it. Each router keeps a fresh view of the peers, takes
their heartbeats, records itself so peers can find every router, and runs the background tasks
whose leases it wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from starlette.types import ASGIApp

from xolo.api.app import build_app, by_port
from xolo.api.metrics import Metrics
from xolo.api.s3 import build_s3_app
from xolo.chunks.remote import cluster_http
from xolo.chunks.replicated import ReplicatedChunkStore
from xolo.cluster.admin_api import AdminAPI
from xolo.cluster.expiry import UploadExpiry
from xolo.cluster.gc import DEFAULT_GRACE, GarbageCollector, GCWorker
from xolo.cluster.lifecycle import LifecycleWorker
from xolo.cluster.membership import Membership, PeerView, Timing
from xolo.cluster.notify import Notifier
from xolo.cluster.repair import Repairer
from xolo.cluster.scrub import Scrubber
from xolo.cluster.workers import Scheduler, Worker
from xolo.core.audit import chain_key
from xolo.core.credentials import SecretBox
from xolo.core.records import PeerRecord, RouterRecord
from xolo.meta.base import MetaStore
from xolo.meta.open import open_meta_store
from xolo.service.auth import Authenticator, ClusterGuard
from xolo.service.config import ServiceConfig
from xolo.service.objects import ObjectService

log = logging.getLogger("xolo.router")

ROUTER_TTL = 30.0
"""A router not seen for this long is left out of the list peers receive."""


@dataclass(frozen=True, slots=True, kw_only=True)
class RouterSettings:
    """Everything ``xolo router`` was told."""

    meta: str
    url: str
    s3_url: str | None
    s3_port: int
    master_key: bytes
    secret: str
    root: tuple[str, str] | None = None
    region: str = "us-east-1"
    s3_domain: str | None = "localhost"
    inline_threshold: int = 64 * 1024
    chunk_size: int = 8 * 1024 * 1024
    timing: Timing = field(default_factory=Timing)
    repair_rate: float = 64 * 1024 * 1024
    scrub_rate: float = 32 * 1024 * 1024
    gc_grace: float = DEFAULT_GRACE
    router_id: str | None = None
    direct_transfers: bool = True


@dataclass(slots=True, kw_only=True)
class RouterParts:
    """The pieces of a running router (tests reach in through these)."""

    meta: MetaStore
    membership: Membership
    service: ObjectService
    scheduler: Scheduler
    app: ASGIApp


class Router:
    """Builds and runs one router (see the module docstring)."""

    def __init__(self, settings: RouterSettings, *, version: str) -> None:
        self.s = settings
        self.version = version
        self.id = settings.router_id or f"router-{secrets.token_hex(4)}"

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[RouterParts]:
        """Open the store, assemble the router and run its background tasks while the
        context is open; on exit, cancel them and close the HTTP client and the store."""
        meta = await open_meta_store(self.s.meta, chain_key=chain_key(self.s.master_key))
        http = cluster_http()
        tasks: list[asyncio.Task[Any]] = []
        try:
            parts = await self._assemble(meta, http)
            tasks = [
                asyncio.create_task(parts.membership.run()),
                asyncio.create_task(self._announce(meta)),
                asyncio.create_task(parts.scheduler.run_forever()),
            ]
            yield parts
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await http.aclose()
            await meta.close()

    async def _assemble(self, meta: MetaStore, http: Any) -> RouterParts:
        auth = Authenticator(meta, SecretBox(self.s.master_key))
        if self.s.root:
            await auth.ensure_root(*self.s.root)
        membership = Membership(meta=meta, secret=self.s.secret, http=http, timing=self.s.timing)
        await membership.refresh()
        chunks = ReplicatedChunkStore(topology=membership)
        config = ServiceConfig(
            inline_threshold=self.s.inline_threshold,
            chunk_size=self.s.chunk_size,
            read_piece=ServiceConfig().max_chunk_size,  # whole chunks: each is verified
            direct_transfers=self.s.direct_transfers,
        )
        service = ObjectService(
            meta=meta, chunks=chunks, config=config, chain_key=chain_key(self.s.master_key)
        )
        scheduler = self._scheduler(meta, membership, service)
        listen = getattr(meta, "listen", None)
        if listen is not None:  # PostgreSQL: wake this router's feed readers on any commit
            await listen(service.feed.hub.changed)
        membership.on_change(lambda peer, old, new: _on_change(scheduler, old, new))
        guard = ClusterGuard(secret=self.s.secret)

        async def peers() -> list[PeerView]:
            return membership.views()

        async def drain(peer_id: str, start: bool) -> PeerView | None:
            if await meta.set_peer_state(peer_id, "draining" if start else "active") is None:
                return None
            await membership.refresh()
            scheduler.trigger("repair")
            return next((v for v in membership.views() if v.record.id == peer_id), None)

        async def heartbeat(peer: PeerRecord) -> dict[str, Any]:
            await membership.heartbeat(peer)
            routers = await meta.list_routers(time.time() - ROUTER_TTL)
            return {"routers": [r.url for r in routers]}

        admin = AdminAPI(
            scheduler=scheduler, peers=peers, drain=drain, heartbeat=heartbeat, guard=guard
        )
        metrics = Metrics()
        native = build_app(
            service,
            auth,
            extra_routes=admin.routes(),
            role="router",
            version=self.version,
            metrics=metrics,
            guard=guard,
        )
        s3 = build_s3_app(
            service, auth, region=self.s.region, domain=self.s.s3_domain, metrics=metrics
        )
        app = by_port(native, {self.s.s3_port: s3}) if self.s.s3_port else native
        return RouterParts(
            meta=meta, membership=membership, service=service, scheduler=scheduler, app=app
        )

    def _scheduler(
        self, meta: MetaStore, membership: Membership, service: ObjectService
    ) -> Scheduler:
        def volumes() -> list[tuple[str, Any]]:
            return [(m.candidate.id, m.volume) for m in membership.members() if m.readable]

        repairer = Repairer(meta=meta, topology=membership, rate=self.s.repair_rate)
        collector = GarbageCollector(
            meta=meta, volumes=lambda: [v for _, v in volumes()], grace=self.s.gc_grace
        )
        workers: list[Worker] = [
            GCWorker(collector),
            Scrubber(volumes=volumes, repair=repairer.repair_chunk, rate=self.s.scrub_rate),
            repairer,
            UploadExpiry(meta=meta),
            LifecycleWorker(service=service),
            Notifier(meta=meta, feed=service.feed, box=SecretBox(self.s.master_key)),
        ]
        return Scheduler(meta=meta, workers=workers, holder=self.id)

    async def _announce(self, meta: MetaStore) -> None:
        while True:
            try:
                await meta.put_router(
                    RouterRecord(
                        id=self.id, url=self.s.url, s3_url=self.s.s3_url, last_seen=time.time()
                    )
                )
            except Exception as exc:
                log.warning("recording this router failed: %s", exc)
            await asyncio.sleep(ROUTER_TTL / 10)


def _on_change(scheduler: Scheduler, old: str, new: str) -> None:
    """Repair when a peer is lost, and rebalance when one arrives or comes back."""
    if new in ("down", "draining") or (new == "up" and old in ("new", "down")):
        scheduler.trigger("repair")
