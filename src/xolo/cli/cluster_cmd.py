"""``xolo cluster ...`` (a local cluster of processes) and ``xolo admin ...`` (any cluster)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import click
import httpx

from xolo.cli import launcher
from xolo.cli.launcher import Cluster, Options

DIR_OPTION = click.option(
    "--dir", "directory", required=True, type=click.Path(path_type=Path), help="Cluster directory."
)


@click.group()
def cluster() -> None:
    """Run a cluster of separate processes on this machine (for trying xolo, tests, benchmarks)."""


@cluster.command("up")
@DIR_OPTION
@click.option("--peers", default=3, type=click.IntRange(1, 64))
@click.option("--routers", default=1, type=click.IntRange(1, 16))
@click.option("--meta", default=None, help="Metadata URL (default: sqlite:///DIR/meta.db).")
@click.option("--zones", default=None, type=click.IntRange(1, 64), help="Default: one per peer.")
@click.option("--inline-threshold", default="64KiB")
@click.option("--chunk-size", default="8MiB")
@click.option("--heartbeat", default=1.0, type=float)
@click.option("--suspect-after", default=5.0, type=float)
@click.option("--down-after", default=60.0, type=float)
@click.option("--repair-rate", default="64MiB")
@click.option("--capacity", default=None, help="Capacity each peer reports (default: its disk).")
@click.option("--log-level", default="warning")
def cluster_up(
    directory: Path,
    peers: int,
    routers: int,
    meta: str | None,
    zones: int | None,
    inline_threshold: str,
    chunk_size: str,
    heartbeat: float,
    suspect_after: float,
    down_after: float,
    repair_rate: str,
    capacity: str | None,
    log_level: str,
) -> None:
    """Start routers and peers, wait until every peer is up, write DIR/cluster.json."""
    opts = Options(
        inline_threshold=inline_threshold,
        chunk_size=chunk_size,
        heartbeat=heartbeat,
        suspect_after=suspect_after,
        down_after=down_after,
        repair_rate=repair_rate,
        capacity=capacity,
        log_level=log_level,
    )
    try:
        c = launcher.up(
            directory, peers=peers, routers=routers, meta=meta, zones=zones or peers, opts=opts
        )
    except RuntimeError as exc:
        raise click.ClickException(str(exc)) from None
    for r in c.routers:
        click.echo(f"router {r.name}: {r.url}  (S3: {r.s3_url})  pid {r.pid}")
    for p in c.peers:
        click.echo(f"peer   {p.name}: {p.url}  zone {p.zone}  pid {p.pid}")
    click.echo(f"metadata: {c.meta}")
    click.echo(f"root credentials: {c.root_source}")
    click.echo(f"state: {c.dir / launcher.STATE}")


@cluster.command("down")
@DIR_OPTION
def cluster_down(directory: Path) -> None:
    """Stop every process of the cluster (its data stays)."""
    launcher.down(_load(directory))
    click.echo("xolo: cluster stopped")


@cluster.command("status")
@DIR_OPTION
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def cluster_status(directory: Path, as_json: bool) -> None:
    """Each process, whether it answers, and each peer's state."""
    rows = launcher.status(_load(directory))
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    for row in rows:
        pid = row["pid"] or "stopped"
        health = "healthy" if row["healthy"] else "not answering"
        click.echo(
            f"{row['name']:10} {row['role']:6} {row['url']:24} {pid!s:>8}  {health}  {row['state']}"
        )


@cluster.command("start")
@DIR_OPTION
@click.argument("name")
def cluster_start(directory: Path, name: str) -> None:
    """Start one stopped process again (same ports, same data)."""
    try:
        proc = launcher.start(_load(directory), name)
    except (KeyError, RuntimeError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"xolo: {proc.name} started, pid {proc.pid}")


@cluster.command("add-peer")
@DIR_OPTION
@click.option("--zone", default=None)
@click.option("--capacity", default=None)
def cluster_add_peer(directory: Path, zone: str | None, capacity: str | None) -> None:
    """Start one more peer; rebalance moves its share of the chunks to it."""
    c = _load(directory)
    proc = launcher.add_peer(c, zone=zone, opts=Options(capacity=capacity))
    click.echo(f"peer {proc.name}: {proc.url} zone {proc.zone} pid {proc.pid}")


def _load(directory: Path) -> Cluster:
    try:
        return Cluster.load(directory.resolve())
    except FileNotFoundError:
        raise click.ClickException(f"no cluster in {directory} (no {launcher.STATE})") from None


# -- admin --------------------------------------------------------------------------------------


class AdminClient:
    """The admin API of one router, with root (or admin) credentials."""

    def __init__(self, url: str, auth: tuple[str, str]) -> None:
        self._http = httpx.Client(base_url=url, auth=auth, timeout=600)

    def call(self, method: str, path: str) -> Any:
        try:
            r = self._http.request(method, path)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach the router: {exc}") from None
        if r.status_code >= 400:
            try:
                err = r.json()["error"]
                raise click.ClickException(f"{err['code']}: {err['message']}")
            except (ValueError, KeyError):
                raise click.ClickException(f"HTTP {r.status_code}: {r.text[:200]}") from None
        return r.json()


@click.group()
@click.option("--url", envvar="XOLO_URL", default=None, help="A router's URL.")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None)
@click.pass_context
def admin(ctx: click.Context, url: str | None, directory: Path | None) -> None:
    """Operate a cluster: peers, draining, background tasks (root or admin-on-* key)."""
    auth: tuple[str, str] | None = None
    if directory is not None:
        c = _load(directory)
        url = url or c.routers[0].url
        auth, _ = launcher.credentials(c.dir)
    key = os.environ.get("XOLO_ACCESS_KEY") or os.environ.get("XOLO_ROOT_ACCESS_KEY")
    secret = os.environ.get("XOLO_SECRET_KEY") or os.environ.get("XOLO_ROOT_SECRET_KEY")
    if key and secret:
        auth = (key, secret)
    if url is None or auth is None:
        raise click.UsageError(
            "give --url (XOLO_URL) and credentials (XOLO_ACCESS_KEY/XOLO_SECRET_KEY), or --dir"
        )
    ctx.obj = AdminClient(url, auth)


@admin.command("peers")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def admin_peers(client: AdminClient, as_json: bool) -> None:
    """Each peer: state, zone, capacity, usage, last heartbeat."""
    peers = client.call("GET", "/v1/admin/peers")["peers"]
    if as_json:
        click.echo(json.dumps(peers, indent=2))
        return
    for p in peers:
        click.echo(
            f"{p['id']:12} {p['state']:9} {p['zone']:10} {p['used_bytes']:>14} / "
            f"{p['capacity']:<14} {p['chunks']:>8} chunks  {p['url']}  {p['last_heartbeat']}"
        )


@admin.command("drain")
@click.argument("peer_id")
@click.option("--cancel", is_flag=True, help="Stop draining: the peer takes new copies again.")
@click.pass_obj
def admin_drain(client: AdminClient, peer_id: str, cancel: bool) -> None:
    """Move a peer's chunks away; it shows 'drained' when it holds nothing needed."""
    doc = client.call("DELETE" if cancel else "POST", f"/v1/admin/peers/{peer_id}/drain")
    click.echo(f"{doc['id']}: {doc['state']}")


@admin.command("tasks")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def admin_tasks(client: AdminClient, as_json: bool) -> None:
    """Every background task: schedule, last run, duration, counters, errors."""
    tasks = client.call("GET", "/v1/admin/tasks")["tasks"]
    if as_json:
        click.echo(json.dumps(tasks, indent=2))
        return
    for t in tasks:
        click.echo(
            f"{t['name']:15} {t['schedule']:14} runs {t['runs']:<5} last {t['last_run']} "
            f"({t['duration_seconds']} s) {t['counters']} {t['last_error'] or ''}"
        )


@admin.command("run")
@click.argument("task")
@click.pass_obj
def admin_run(client: AdminClient, task: str) -> None:
    """Run a background task now and wait for it."""
    doc = client.call("POST", f"/v1/admin/tasks/{task}/run")
    click.echo(json.dumps(doc, indent=2))
