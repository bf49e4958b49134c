"""``xolo peer`` and ``xolo router``: the two processes a cluster is made of."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
from collections.abc import AsyncIterator
from pathlib import Path

import click
from starlette.types import ASGIApp

import xolo
from xolo.cli import logs, runner
from xolo.cli.sizes import SizeParam
from xolo.cluster.membership import Timing
from xolo.cluster.peer import PeerSettings, build_peer, ensure_peer_root
from xolo.cluster.router import Router, RouterSettings
from xolo.core.audit import chain_key
from xolo.core.cluster_auth import derive_cluster_secret
from xolo.core.credentials import SecretBox
from xolo.core.errors import XoloError
from xolo.meta.open import open_meta_store, sqlite_path
from xolo.service.auth import Authenticator
from xolo.service.datadir import key_file


def resolve_cluster_secret(given: str | None, root_secret: str | None) -> str:
    """The cluster secret: given, or derived from the root secret; one of them is needed."""
    if given:
        return given
    if root_secret:
        return derive_cluster_secret(root_secret)
    raise click.UsageError(
        "a cluster needs a shared secret: set --cluster-secret (XOLO_CLUSTER_SECRET), or the "
        "root credentials (XOLO_ROOT_ACCESS_KEY, XOLO_ROOT_SECRET_KEY) to derive it from"
    )


def resolve_master_key(meta: str, path: str | None) -> bytes:
    """The key that seals secrets: XOLO_MASTER_KEY, the file given (created if missing), or
    for SQLite the file beside the database. Every router of a cluster needs the same one."""
    env = os.environ.get("XOLO_MASTER_KEY")
    if env:
        return env.encode()
    if path is not None:
        return key_file(Path(path))
    db = sqlite_path(meta)
    if db is None:
        raise click.UsageError(
            "routers sharing PostgreSQL need one master key: --master-key FILE "
            "(XOLO_MASTER_KEY_FILE) or XOLO_MASTER_KEY"
        )
    return key_file(Path(db).resolve().parent / "master.key")


async def prepare_router(
    meta_url: str, key: bytes, root: tuple[str | None, str | None]
) -> tuple[str, str] | None:
    """Migrate the store and make sure a root key exists, before the server starts."""
    meta = await open_meta_store(meta_url, chain_key=chain_key(key))
    try:
        return await Authenticator(meta, SecretBox(key)).ensure_root(*root)
    finally:
        await meta.close()


@click.command()
@click.option("--host", envvar="XOLO_HOST", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", envvar="XOLO_PORT", default=9000, type=int, help="Native API port.")
@click.option("--s3-port", envvar="XOLO_S3_PORT", default=9002, type=click.IntRange(0, 65535))
@click.option(
    "--meta", envvar="XOLO_META", required=True, help="sqlite:///PATH or postgresql://..."
)
@click.option("--master-key", envvar="XOLO_MASTER_KEY_FILE", default=None, help="Master key file.")
@click.option("--cluster-secret", envvar="XOLO_CLUSTER_SECRET", default=None)
@click.option("--advertise", default=None, help="URL peers reach this router at.")
@click.option("--region", envvar="XOLO_REGION", default="us-east-1")
@click.option("--s3-domain", envvar="XOLO_S3_DOMAIN", default="localhost")
@click.option("--inline-threshold", default="64KiB", type=SizeParam())
@click.option("--chunk-size", default="8MiB", type=SizeParam())
@click.option("--heartbeat", default=1.0, type=float, help="Seconds between peer heartbeats.")
@click.option("--suspect-after", default=5.0, type=float, help="Silence before suspect.")
@click.option("--down-after", default=60.0, type=float, help="Silence before down.")
@click.option("--repair-rate", default="64MiB", type=SizeParam(), help="Repair bytes/second.")
@click.option("--scrub-rate", default="32MiB", type=SizeParam(), help="Scrub bytes/second.")
@click.option("--gc-grace", default=24 * 3600.0, type=float, help="GC grace period, seconds.")
@click.option("--root-access-key", envvar="XOLO_ROOT_ACCESS_KEY", default=None)
@click.option("--root-secret-key", envvar="XOLO_ROOT_SECRET_KEY", default=None)
@click.option(
    "--workers",
    envvar="XOLO_WORKERS",
    default=1,
    type=click.IntRange(1, 256),
    help="Processes serving the ports; each is a router of its own to the cluster.",
)
@click.option(
    "--direct-transfers/--no-direct-transfers",
    envvar="XOLO_DIRECT_TRANSFERS",
    default=True,
    help="Let clients move chunks to and from the peers themselves (see docs/security.md for "
    "when to turn this off); off, clients go through the router.",
)
@click.option("--log-level", envvar="XOLO_LOG_LEVEL", default="info")
def router(
    host: str,
    port: int,
    s3_port: int,
    meta: str,
    master_key: str | None,
    cluster_secret: str | None,
    advertise: str | None,
    region: str,
    s3_domain: str,
    inline_threshold: int,
    chunk_size: int,
    heartbeat: float,
    suspect_after: float,
    down_after: float,
    repair_rate: int,
    scrub_rate: int,
    gc_grace: float,
    root_access_key: str | None,
    root_secret_key: str | None,
    workers: int,
    direct_transfers: bool,
    log_level: str,
) -> None:
    """A stateless router over a metadata store and the peers that join it."""
    key = resolve_master_key(meta, master_key)
    secret = resolve_cluster_secret(cluster_secret, root_secret_key)
    try:
        created = asyncio.run(prepare_router(meta, key, (root_access_key, root_secret_key)))
    except (XoloError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None
    if created and not root_access_key:
        click.echo(
            "xolo: created the root access key; the secret is shown only this once:\n"
            f"  access key: {created[0]}\n  secret key: {created[1]}"
        )
    url = advertise or f"http://{host}:{port}"
    settings = RouterSettings(
        meta=meta,
        url=url,
        s3_url=f"http://{host}:{s3_port}" if s3_port else None,
        s3_port=s3_port,
        master_key=key,
        secret=secret,
        region=region,
        s3_domain=s3_domain or None,
        inline_threshold=inline_threshold,
        chunk_size=chunk_size,
        timing=Timing(heartbeat=heartbeat, suspect_after=suspect_after, down_after=down_after),
        repair_rate=float(repair_rate),
        scrub_rate=float(scrub_rate),
        gc_grace=gc_grace,
        direct_transfers=direct_transfers,
    )
    sockets = [runner.bind(host, port)]
    if s3_port:
        sockets.append(runner.bind(host, s3_port))
    click.echo(
        f"xolo: router on {url} (S3 on port {s3_port}, {workers} worker(s)), metadata {meta}"
    )
    if workers == 1:
        runner.run(router_app(settings), sockets=sockets, log_level=log_level)
        return
    os.environ[ROUTER_ENV] = settings_to_json(settings)
    runner.run(
        "xolo.cli.roles:create_router_app", sockets=sockets, workers=workers, log_level=log_level
    )


ROUTER_ENV = "XOLO_ROUTER_CONFIG"
"""How ``xolo router --workers N`` hands its resolved settings to its worker processes."""


def settings_to_json(settings: RouterSettings) -> str:
    """``settings`` as JSON for the worker processes (the master key as hex)."""
    doc = dataclasses.asdict(settings)
    doc["master_key"] = settings.master_key.hex()
    return json.dumps(doc)


def settings_from_json(text: str) -> RouterSettings:
    """The inverse of ``settings_to_json``."""
    doc = json.loads(text)
    doc["master_key"] = bytes.fromhex(doc["master_key"])
    doc["timing"] = Timing(**doc["timing"])
    if doc.get("root") is not None:
        doc["root"] = tuple(doc["root"])
    return RouterSettings(**doc)


def router_app(settings: RouterSettings) -> ASGIApp:
    """One router's app, built inside its server's event loop. Each worker process is a
    router of its own (own id, heartbeats and task leases), so several workers share work
    exactly as several routers do."""
    node = Router(settings, version=xolo.__version__)

    @contextlib.asynccontextmanager
    async def build() -> AsyncIterator[ASGIApp]:
        async with node.running() as parts:
            yield parts.app

    return runner.Deferred(build)


def create_router_app() -> ASGIApp:
    """The app factory uvicorn calls in each worker process of ``xolo router --workers``."""
    logs.install()
    return router_app(settings_from_json(os.environ[ROUTER_ENV]))


@click.command()
@click.option("--data", envvar="XOLO_DATA", default="./xolo-peer", help="Data directory.")
@click.option("--host", envvar="XOLO_HOST", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", envvar="XOLO_PORT", default=9100, type=int)
@click.option("--advertise", default=None, help="URL routers reach this peer at.")
@click.option("--join", "join", required=True, help="Router URL(s), comma-separated.")
@click.option("--zone", default="default", help="Failure domain (rack, host, room).")
@click.option("--capacity", default=None, type=SizeParam(), help="Bytes offered (default: disk).")
@click.option("--peer-id", default=None, help="Identity (default: remembered or new).")
@click.option("--cluster-secret", envvar="XOLO_CLUSTER_SECRET", default=None)
@click.option("--heartbeat", default=1.0, type=float, help="Seconds between heartbeats.")
@click.option("--root-access-key", envvar="XOLO_ROOT_ACCESS_KEY", default=None)
@click.option("--root-secret-key", envvar="XOLO_ROOT_SECRET_KEY", default=None)
@click.option("--log-level", envvar="XOLO_LOG_LEVEL", default="info")
def peer(
    data: str,
    host: str,
    port: int,
    advertise: str | None,
    join: str,
    zone: str,
    capacity: int | None,
    peer_id: str | None,
    cluster_secret: str | None,
    heartbeat: float,
    root_access_key: str | None,
    root_secret_key: str | None,
    log_level: str,
) -> None:
    """A storage peer: holds chunks, reports to the routers it joins."""
    secret = resolve_cluster_secret(cluster_secret, root_secret_key)
    asyncio.run(ensure_peer_root(data, root_access_key, root_secret_key))
    settings = PeerSettings(
        data=data,
        url=advertise or f"http://{host}:{port}",
        join=tuple(u.strip() for u in join.split(",") if u.strip()),
        zone=zone,
        capacity=capacity,
        secret=secret,
        heartbeat=heartbeat,
        peer_id=peer_id,
    )
    try:
        app, pid = build_peer(settings, version=xolo.__version__)
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(f"xolo: peer {pid} on {settings.url}, zone {zone}, joining {join}")
    runner.run(app, sockets=[runner.bind(host, port)], log_level=log_level)
