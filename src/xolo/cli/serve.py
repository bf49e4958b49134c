"""``xolo serve``: one process (or several workers) serving a data directory over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import socket
from collections.abc import AsyncIterator, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import click
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.supervisors import Multiprocess

import xolo
from xolo.api.app import build_app
from xolo.api.chunks import ChunkAPI
from xolo.api.metrics import Metrics
from xolo.api.s3 import build_s3_app
from xolo.chunks.disk import DiskChunkStore
from xolo.cluster.gc import GarbageCollector, GCReport
from xolo.core.credentials import SecretBox
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
    data: str
    inline_threshold: int
    chunk_size: int
    upload_ttl: float = 3600.0
    s3_port: int = 9002
    region: str = "us-east-1"
    s3_domain: str = "localhost"

    def service_config(self) -> ServiceConfig:
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
    data = DataDir.create(settings.data)
    config = settings.service_config()
    meta = SQLiteMetaStore(data.meta_path)
    volume = DiskChunkStore(data.chunks_path)
    service = ObjectService(meta=meta, chunks=volume, config=config)
    auth = Authenticator(meta, SecretBox(data.master_key()))
    return SingleNode(service=service, auth=auth, data=data, meta=meta, volume=volume)


def create_app() -> ASGIApp:
    """The app factory uvicorn calls in each worker process."""
    settings = ServeSettings(**json.loads(os.environ[CONFIG_ENV]))
    node = open_service(settings)
    metrics = Metrics()
    config = settings.service_config()
    chunks = ChunkAPI(
        ChunkService(volume=node.volume, max_chunk_size=config.max_chunk_size),
        ClusterGuard(secret=None),
        node.auth,
    )

    @contextlib.asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        try:
            yield
        finally:
            await node.service.close()

    native = build_app(
        node.service,
        node.auth,
        chunks=chunks,
        role="single",
        version=xolo.__version__,
        data_path=node.data.root,
        lifespan=lifespan,
        metrics=metrics,
    )
    service, auth = node.service, node.auth
    if not settings.s3_port:
        return native
    s3 = build_s3_app(
        service, auth, region=settings.region, domain=settings.s3_domain or None, metrics=metrics
    )
    return by_port(native, {settings.s3_port: s3})


def by_port(default: ASGIApp, apps: dict[int, ASGIApp]) -> ASGIApp:
    """One server, several listening sockets: each request goes to the surface of its port.
    Lifespan events go to ``default``, which owns the stores."""

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        server = scope.get("server")
        target = apps.get(server[1]) if server and scope["type"] == "http" else None
        await (target or default)(scope, receive, send)

    return app


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


async def prepare(
    settings: ServeSettings, root_key: str | None, root_secret: str | None
) -> tuple[str, str] | None:
    """Create the data directory and the root key before any worker starts."""
    node = open_service(settings)
    async with node.service:
        return await node.auth.ensure_root(root_key, root_secret)


async def create_access_key(data: str, grants: dict[str, str]) -> tuple[str, str]:
    settings = ServeSettings(data=data, inline_threshold=0, chunk_size=8 * 1024 * 1024)
    node = open_service(settings)
    async with node.service:
        return await node.auth.create_key(grants)


async def collect_garbage(data: str, grace: float) -> GCReport:
    settings = ServeSettings(data=data, inline_threshold=0, chunk_size=8 * 1024 * 1024)
    node = open_service(settings)
    async with node.service:
        gc = GarbageCollector(meta=node.meta, volumes=lambda: [node.volume], grace=grace)
        return await gc.collect()


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
    options = dict(
        host=host,
        port=port,
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=graceful_timeout,
        server_header=False,
        proxy_headers=False,
    )
    config = uvicorn.Config("xolo.cli.serve:create_app", factory=True, workers=workers, **options)  # type: ignore[arg-type]
    sockets = [bind(host, port)]
    if settings.s3_port:
        sockets.append(bind(host, settings.s3_port))
    server = _DrainingServer(config)
    if workers > 1:
        Multiprocess(config, sockets=sockets).run()
    else:
        server.run(sockets=sockets)


class _DrainingServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM after draining, so the exit status reads "killed by a signal".
    A drained shutdown is a clean one: exit 0, as service managers expect."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            try:
                yield
            finally:
                captured = getattr(self, "_captured_signals", None)
                if isinstance(captured, list):
                    captured.clear()
