"""``xolo cluster ...`` (a local cluster of processes) and ``xolo admin ...`` (any cluster, or
``xolo serve``: peers, tasks, keys)."""

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
@click.option(
    "--router-workers", default=1, type=click.IntRange(1, 64), help="Processes per router."
)
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
    router_workers: int,
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
        router_workers=router_workers,
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

    def call(self, method: str, path: str, json: Any = None) -> Any:
        """One request; an unreachable router or an error answer becomes a ClickException with the
        server's code and message, so commands deal only with success."""
        try:
            r = self._http.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise click.ClickException(f"cannot reach the router: {exc}") from None
        if r.status_code >= 400:
            try:
                err = r.json()["error"]
            except (ValueError, KeyError):
                raise click.ClickException(f"HTTP {r.status_code}: {r.text[:200]}") from None
            raise click.ClickException(f"{err['code']}: {err['message']}")
        return r.json() if r.content else None


@click.group()
@click.option("--url", envvar="XOLO_URL", default=None, help="A router's URL.")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None)
@click.pass_context
def admin(ctx: click.Context, url: str | None, directory: Path | None) -> None:
    """Operate a cluster: peers, draining, background tasks, keys (root or admin key)."""
    ctx.obj = connect(url, directory)


def connect(url: str | None, directory: Path | None) -> AdminClient:
    """A client for the router at ``url`` (or the first of the local cluster in ``directory``),
    with credentials from XOLO_ACCESS_KEY/XOLO_SECRET_KEY (or the root key's variables)."""
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
    return AdminClient(url, auth)


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


# -- keys ---------------------------------------------------------------------------------------


def parse_grants(grants: tuple[str, ...]) -> dict[str, str]:
    """``--grant BUCKET=LEVEL`` options as the admin API's grants; a malformed one is bad usage."""
    parsed: dict[str, str] = {}
    for grant in grants:
        bucket, sep, level = grant.partition("=")
        if not sep or not bucket:
            raise click.BadParameter(f"{grant!r} is not BUCKET=LEVEL", param_hint="--grant")
        parsed[bucket] = level
    return parsed


@admin.group("key")
def admin_key() -> None:
    """Access keys: create (the secret is shown once), list, grant, revoke, disable, remove."""


@admin_key.command("create")
@click.option("--grant", "grants", multiple=True, metavar="BUCKET=LEVEL", required=True)
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def key_create(client: AdminClient, grants: tuple[str, ...], as_json: bool) -> None:
    """A new key with grants (read, write or admin on a bucket, or on *)."""
    doc = client.call("POST", "/v1/admin/keys", json={"grants": parse_grants(grants)})
    if as_json:
        click.echo(json.dumps(doc, indent=2))
        return
    click.echo(f"access key: {doc['access_key']}\nsecret key: {doc['secret_key']}")
    click.echo("(the secret is shown only this once)", err=True)


@admin_key.command("ls")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def key_ls(client: AdminClient, as_json: bool) -> None:
    """The keys you may manage (never their secrets)."""
    keys = client.call("GET", "/v1/admin/keys")["keys"]
    if as_json:
        click.echo(json.dumps(keys, indent=2))
        return
    for k in keys:
        flags = ("root " if k["root"] else "") + ("disabled" if k["disabled"] else "")
        grants = ",".join(f"{b}={lvl}" for b, lvl in sorted(k["grants"].items()))
        click.echo(f"{k['access_key']}  {grants or '-':40} {flags}")


@admin_key.command("grant")
@click.argument("access_key")
@click.argument("grant", metavar="BUCKET=LEVEL")
@click.pass_obj
def key_grant(client: AdminClient, access_key: str, grant: str) -> None:
    """Add or change one grant of a key."""
    ((bucket, level),) = parse_grants((grant,)).items()
    doc = client.call("PUT", f"/v1/admin/keys/{access_key}/grants/{bucket}", json={"level": level})
    click.echo(json.dumps(doc["grants"]))


@admin_key.command("revoke")
@click.argument("access_key")
@click.argument("bucket")
@click.pass_obj
def key_revoke(client: AdminClient, access_key: str, bucket: str) -> None:
    """Remove one grant of a key."""
    doc = client.call("DELETE", f"/v1/admin/keys/{access_key}/grants/{bucket}")
    click.echo(json.dumps(doc["grants"]))


@admin_key.command("disable")
@click.argument("access_key")
@click.option("--enable", is_flag=True, help="Enable it again.")
@click.pass_obj
def key_disable(client: AdminClient, access_key: str, enable: bool) -> None:
    """Stop a key working (on every router within a second), or start it again."""
    doc = client.call("PATCH", f"/v1/admin/keys/{access_key}", json={"disabled": not enable})
    click.echo(f"{doc['access_key']}: {'disabled' if doc['disabled'] else 'enabled'}")


@admin_key.command("rm")
@click.argument("access_key")
@click.pass_obj
def key_rm(client: AdminClient, access_key: str) -> None:
    """Delete a key for good."""
    client.call("DELETE", f"/v1/admin/keys/{access_key}")
    click.echo(f"{access_key}: deleted")


# -- the audit chain ----------------------------------------------------------------------------


@click.group()
@click.option("--url", envvar="XOLO_URL", default=None, help="A server's or router's URL.")
@click.option("--dir", "directory", type=click.Path(path_type=Path), default=None)
@click.pass_context
def audit(ctx: click.Context, url: str | None, directory: Path | None) -> None:
    """Read and verify the tamper-evident audit chains (admin on the bucket)."""
    ctx.obj = connect(url, directory)


def _chain_path(bucket: str) -> str:
    return "/v1/admin/audit" if bucket in ("", "-") else f"/v1/buckets/{bucket}/audit"


@audit.command("verify")
@click.argument("bucket")
@click.pass_obj
def audit_verify(client: AdminClient, bucket: str) -> None:
    """Replay a bucket's chain ('-' for the system chain); exit 1 and name the first broken
    entry when it does not hold."""
    doc = client.call("POST", _chain_path(bucket) + "/verify")
    if doc["valid"]:
        click.echo(f"{bucket or 'system'}: valid, {doc['entries']} entries")
        return
    broken = doc["first_broken"]
    click.echo(
        f"{bucket or 'system'}: BROKEN at entry {broken['sequence']} ({broken['reason']}); "
        f"expected {broken['expected']}, found {broken['actual']}"
    )
    raise SystemExit(1)


@audit.command("ls")
@click.argument("bucket")
@click.option("--after", default=0, type=int)
@click.option("--limit", default=100, type=int)
@click.pass_obj
def audit_ls(client: AdminClient, bucket: str, after: int, limit: int) -> None:
    """Print entries of a chain as JSON lines."""
    doc = client.call("GET", f"{_chain_path(bucket)}?after={after}&limit={limit}")
    for entry in doc["entries"]:
        click.echo(json.dumps(entry))


# -- notifications ------------------------------------------------------------------------------


@admin.group("notify")
def admin_notify() -> None:
    """Where a bucket's change events are delivered: webhooks, NATS JetStream, Redis Streams."""


@admin_notify.command("add")
@click.argument("kind", type=click.Choice(["webhook", "nats", "redis"]))
@click.argument("url")
@click.option("--bucket", required=True)
@click.option("--prefix", default="")
@click.option("--type", "types", multiple=True, help="Event type (repeatable; default: all).")
@click.option("--subject", default=None, help="NATS subject prefix or Redis stream key.")
@click.pass_obj
def notify_add(
    client: AdminClient,
    kind: str,
    url: str,
    bucket: str,
    prefix: str,
    types: tuple[str, ...],
    subject: str | None,
) -> None:
    """Deliver the bucket's events (after now) to URL; a webhook's secret is shown once."""
    doc = client.call(
        "POST",
        "/v1/admin/notify",
        json={
            "kind": kind,
            "url": url,
            "bucket": bucket,
            "prefix": prefix,
            "types": list(types),
            "subject": subject,
        },
    )
    click.echo(f"target {doc['id']}: {kind} {url} for {bucket}/{prefix}*")
    if "secret" in doc:
        click.echo(f"signing secret: {doc['secret']}")


@admin_notify.command("ls")
@click.option("--json", "as_json", is_flag=True)
@click.pass_obj
def notify_ls(client: AdminClient, as_json: bool) -> None:
    """Every target you administer, with its state (active or dead) and last error."""
    targets = client.call("GET", "/v1/admin/notify")["targets"]
    if as_json:
        click.echo(json.dumps(targets, indent=2))
        return
    for t in targets:
        click.echo(
            f"{t['id']}  {t['kind']:7} {t['bucket']}/{t['prefix']}*  {t['state']:6} "
            f"after {t['cursor']}  {t['url']}  {t['last_error'] or ''}"
        )


@admin_notify.command("rm")
@click.argument("target_id")
@click.pass_obj
def notify_rm(client: AdminClient, target_id: str) -> None:
    """Stop delivering to a target."""
    client.call("DELETE", f"/v1/admin/notify/{target_id}")
    click.echo(f"{target_id}: removed")


@admin_notify.command("revive")
@click.argument("target_id")
@click.pass_obj
def notify_revive(client: AdminClient, target_id: str) -> None:
    """Put a dead target back to work, from where it stopped."""
    doc = client.call("PATCH", f"/v1/admin/notify/{target_id}", json={"state": "active"})
    click.echo(f"{doc['id']}: {doc['state']}")
