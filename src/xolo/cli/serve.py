"""``xolo serve``: one process (or several workers) serving a data directory over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import os
import shutil
import time
from collections.abc import AsyncIterator
from dataclasses import asdict, dataclass
from pathlib import Path

import click
from starlette.types import ASGIApp

import xolo
from xolo.api.app import build_app, by_port
from xolo.api.chunks import ChunkAPI
from xolo.api.metrics import Metrics
from xolo.api.s3 import build_s3_app
from xolo.chunks.disk import DiskChunkStore
from xolo.cli import logs, runner
from xolo.cli.runner import bind
from xolo.cluster.admin_api import AdminAPI
from xolo.cluster.expiry import UploadExpiry
from xolo.cluster.gc import DEFAULT_GRACE, GarbageCollector, GCReport, GCWorker
from xolo.cluster.lifecycle import LifecycleWorker
from xolo.cluster.membership import PeerView
from xolo.cluster.notify import Notifier
from xolo.cluster.scrub import Scrubber
from xolo.cluster.workers import Scheduler
from xolo.core.audit import chain_key
from xolo.core.credentials import SecretBox
from xolo.core.records import PeerRecord
from xolo.meta.sqlite import SQLiteMetaStore
from xolo.service.auth import Authenticator, ClusterGuard
from xolo.service.chunks import ChunkService
from xolo.service.config import ServiceConfig
from xolo.service.datadir import DataDir
from xolo.service.objects import ObjectService

CONFIG_ENV = "XOLO_SERVE_CONFIG"
"""How the parent hands its resolved settings to worker processes."""


@dataclass(frozen=True, slots=True)
class ServeSettings:
    """What ``xolo serve`` runs with, as plain values so the parent can hand them to its worker
    processes as JSON (``CONFIG_ENV``)."""

    data: str
    inline_threshold: int
    chunk_size: int
    upload_ttl: float = 3600.0
    s3_port: int = 9002
    region: str = "us-east-1"
    s3_domain: str = "localhost"
    gc_grace: float = DEFAULT_GRACE
    audit: bool = True
    """Record every change in the audit chain (off only to measure what the chain costs)."""

    def service_config(self) -> ServiceConfig:
        """The object service's tunables; ValueError when a size is out of range (``run_server``
        reports it before anything starts)."""
        return ServiceConfig(
            inline_threshold=self.inline_threshold,
            chunk_size=self.chunk_size,
            upload_ttl=self.upload_ttl,
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class SingleNode:
    """The parts of a one-node store: one metadata file, one chunk volume."""

    service: ObjectService
    auth: Authenticator
    data: DataDir
    meta: SQLiteMetaStore
    volume: DiskChunkStore


def open_service(settings: ServeSettings) -> SingleNode:
    """The store in a data directory (created on first use): metadata, volume, service, auth."""
    data = DataDir.create(settings.data)
    config = settings.service_config()
    master = data.master_key()
    key = chain_key(master) if settings.audit else None
    meta = SQLiteMetaStore(data.meta_path, chain_key=key)
    volume = DiskChunkStore(data.chunks_path)
    service = ObjectService(meta=meta, chunks=volume, config=config, chain_key=chain_key(master))
    auth = Authenticator(meta, SecretBox(master))
    return SingleNode(service=service, auth=auth, data=data, meta=meta, volume=volume)


def single_node_scheduler(node: SingleNode, settings: ServeSettings) -> Scheduler:
    """A one-node cluster's background tasks: GC, scrub and upload expiry on the local volume
    (several worker processes share them through leases in the metadata file)."""
    collector = GarbageCollector(
        meta=node.meta, volumes=lambda: [node.volume], grace=settings.gc_grace
    )
    return Scheduler(
        meta=node.meta,
        workers=[
            GCWorker(collector),
            Scrubber(volumes=lambda: [("local", node.volume)]),
            UploadExpiry(meta=node.meta),
            LifecycleWorker(service=node.service),
            Notifier(meta=node.meta, feed=node.service.feed, box=node.auth.box),
        ],
    )


async def local_peer(node: SingleNode) -> list[PeerView]:
    """The one volume of ``xolo serve``, shown as the admin API shows a cluster's peers."""
    usage = await node.volume.usage()
    record = PeerRecord(
        id="local",
        url="",
        zone="local",
        capacity=shutil.disk_usage(node.data.root).total,
        used_bytes=usage.used_bytes,
        chunks=usage.chunks,
        last_heartbeat=time.time(),
        joined=0.0,
    )
    return [PeerView(record=record, state="up")]


def chunk_url_secret(master_key: bytes) -> str:
    """The secret ``xolo serve`` signs chunk URLs with, derived from its master key."""
    return hmac.new(master_key, b"xolo serve chunk urls v1", hashlib.sha256).hexdigest()


def create_app() -> ASGIApp:
    """The app factory uvicorn calls in each worker process."""
    logs.install()  # each worker process configures its own logging
    settings = ServeSettings(**json.loads(os.environ[CONFIG_ENV]))
    node = open_service(settings)
    metrics = Metrics()
    config = settings.service_config()
    # Signed chunk URLs (direct transfers to this server's own chunk API) under a secret
    # derived from the master key: no other process needs it.
    guard = ClusterGuard(secret=chunk_url_secret(node.data.master_key()))
    chunks = ChunkAPI(
        ChunkService(volume=node.volume, max_chunk_size=config.max_chunk_size),
        guard,
        node.auth,
        metrics,
    )

    scheduler = single_node_scheduler(node, settings)
    admin = AdminAPI(scheduler=scheduler, peers=lambda: local_peer(node))

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        task = asyncio.create_task(scheduler.run_forever())
        try:
            yield
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await node.service.close()

    native = build_app(
        node.service,
        node.auth,
        chunks=chunks,
        extra_routes=admin.routes(),
        role="single",
        version=xolo.__version__,
        data_path=node.data.root,
        lifespan=lifespan,
        metrics=metrics,
        guard=guard,
    )
    service, auth = node.service, node.auth
    if not settings.s3_port:
        return native
    s3 = build_s3_app(
        service, auth, region=settings.region, domain=settings.s3_domain or None, metrics=metrics
    )
    return by_port(native, {settings.s3_port: s3})


async def prepare(
    settings: ServeSettings, root_key: str | None, root_secret: str | None
) -> tuple[str, str] | None:
    """Create the data directory and the root key before any worker starts."""
    node = open_service(settings)
    async with node.service:
        return await node.auth.ensure_root(root_key, root_secret)


async def create_access_key(data: str, grants: dict[str, str]) -> tuple[str, str]:
    """For ``xolo keys create``: a new key with ``grants``, made in the data directory directly."""
    settings = ServeSettings(data=data, inline_threshold=0, chunk_size=8 * 1024 * 1024)
    node = open_service(settings)
    async with node.service:
        return await node.auth.create_key(grants)


GC_WAIT = 120.0
"""How long ``xolo gc`` waits by default for a collection already running to finish."""


async def collect_garbage(data: str, grace: float, *, wait: float = GC_WAIT) -> GCReport:
    """For ``xolo gc``: one GC pass over the data directory, whether or not a server runs on it.
    It runs under the ``gc`` lease a server's scheduled collection takes, so the two never
    collect at once; when a collection is already running, wait for it, then run."""
    settings = ServeSettings(data=data, inline_threshold=0, chunk_size=8 * 1024 * 1024)
    node = open_service(settings)
    async with node.service:
        gc = GarbageCollector(meta=node.meta, volumes=lambda: [node.volume], grace=grace)
        started: list[bool] = []
        reports: list[GCReport] = []

        class Once:
            name, schedule = "gc", "@yearly"

            async def run_once(self) -> dict[str, int]:
                started.append(True)
                reports.append(await gc.collect())
                return reports[-1].counters()

        scheduler = Scheduler(meta=node.meta, workers=[Once()], holder=f"xolo-gc-{os.getpid()}")
        status = await scheduler.run_now("gc", wait=wait)
        if not started:
            raise click.ClickException(
                f"a collection by {status.holder} is still running after {wait:.0f}s; "
                "try again later"
            )
        if not reports:
            raise click.ClickException(f"the collection failed: {status.last_error}")
        return reports[0]


def run_server(
    settings: ServeSettings,
    *,
    host: str,
    port: int,
    workers: int,
    tls_cert: str | None,
    tls_key: str | None,
    root_key: str | None,
    root_secret: str | None,
    log_level: str,
    access_log: bool,
    graceful_timeout: int,
) -> None:
    """``xolo serve``: check the settings, create the root key, bind the ports, then serve until
    stopped (a bad setting is a usage error before any worker starts)."""
    try:
        settings.service_config()
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if bool(tls_cert) != bool(tls_key):
        raise click.UsageError("--tls-cert and --tls-key go together")
    try:
        created = asyncio.run(prepare(settings, root_key, root_secret))
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    if created and not root_key:
        click.echo(
            "xolo: created the root access key; the secret is shown only this once:\n"
            f"  access key: {created[0]}\n"
            f"  secret key: {created[1]}",
        )
    scheme = "https" if tls_cert else "http"
    click.echo(f"xolo: serving {Path(settings.data).resolve()} on {scheme}://{host}:{port}")
    if settings.s3_port:
        click.echo(
            f"xolo: S3 API on {scheme}://{host}:{settings.s3_port} (region {settings.region})"
        )
    os.environ[CONFIG_ENV] = json.dumps(asdict(settings))
    sockets = [bind(host, port)]
    if settings.s3_port:
        sockets.append(bind(host, settings.s3_port))
    runner.run(
        "xolo.cli.serve:create_app",
        sockets=sockets,
        workers=workers,
        tls_cert=tls_cert,
        tls_key=tls_key,
        log_level=log_level,
        access_log=access_log,
        graceful_timeout=graceful_timeout,
    )
