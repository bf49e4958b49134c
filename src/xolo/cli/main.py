"""The ``xolo`` command line. Every option can also be set by the ``XOLO_*`` variable it names."""

from __future__ import annotations

import asyncio

import click

import xolo
from xolo.cli import objects_cmd
from xolo.cli.cluster_cmd import admin, audit, cluster
from xolo.cli.roles import peer, router
from xolo.cli.serve import ServeSettings, collect_garbage, create_access_key, run_server
from xolo.cli.sizes import SizeParam


@click.group(context_settings={"help_option_names": ["-h", "--help"], "show_default": True})
@click.version_option(xolo.__version__, prog_name="xolo")
def main() -> None:
    """xolo: a distributed, content-addressed, audited object store."""


@main.command()
@click.option("--data", envvar="XOLO_DATA", default="./xolo-data", help="Data directory.")
@click.option("--host", envvar="XOLO_HOST", default="127.0.0.1", help="Address to listen on.")
@click.option("--port", envvar="XOLO_PORT", default=9000, type=int, help="Port to listen on.")
@click.option(
    "--s3-port",
    envvar="XOLO_S3_PORT",
    default=9002,
    type=click.IntRange(0, 65535),
    help="Port of the S3-compatible API (0: no S3 API).",
)
@click.option("--region", envvar="XOLO_REGION", default="us-east-1", help="The S3 region.")
@click.option(
    "--s3-domain",
    envvar="XOLO_S3_DOMAIN",
    default="localhost",
    help="Domain for virtual-host-style S3 addressing (bucket.<domain>); empty: none.",
)
@click.option(
    "--workers",
    envvar="XOLO_WORKERS",
    default=1,
    type=click.IntRange(1, 64),
    help="Worker processes sharing the data directory.",
)
@click.option(
    "--inline-threshold",
    envvar="XOLO_INLINE_THRESHOLD",
    default="64KiB",
    type=SizeParam(),
    help="Objects up to this size live in the metadata store.",
)
@click.option(
    "--chunk-size",
    envvar="XOLO_CHUNK_SIZE",
    default="8MiB",
    type=SizeParam(),
    help="Size of the chunks larger objects are cut into.",
)
@click.option(
    "--upload-ttl",
    envvar="XOLO_UPLOAD_TTL",
    default=3600.0,
    type=click.FloatRange(min=0.001),
    help="Seconds a declared two-step upload waits for its bytes.",
)
@click.option(
    "--tls-cert", envvar="XOLO_TLS_CERT", default=None, help="PEM certificate: serve HTTPS."
)
@click.option(
    "--tls-key", envvar="XOLO_TLS_KEY", default=None, help="PEM private key for --tls-cert."
)
@click.option(
    "--root-access-key",
    envvar="XOLO_ROOT_ACCESS_KEY",
    default=None,
    help="Root access key (prefer the environment variable).",
)
@click.option(
    "--root-secret-key",
    envvar="XOLO_ROOT_SECRET_KEY",
    default=None,
    help="Root secret (prefer the environment variable).",
    show_default=False,
)
@click.option(
    "--log-level",
    envvar="XOLO_LOG_LEVEL",
    default="info",
    type=click.Choice(["critical", "error", "warning", "info", "debug"]),
)
@click.option(
    "--access-log/--no-access-log",
    envvar="XOLO_ACCESS_LOG",
    default=False,
    help="Log every request.",
)
@click.option(
    "--graceful-timeout",
    envvar="XOLO_GRACEFUL_TIMEOUT",
    default=30,
    type=int,
    help="Seconds SIGTERM waits for in-flight requests.",
)
@click.option(
    "--audit/--no-audit",
    envvar="XOLO_AUDIT",
    default=True,
    help="Record every change in the audit chain (turn off only to measure its cost).",
)
def serve(
    data: str,
    host: str,
    port: int,
    s3_port: int,
    region: str,
    s3_domain: str,
    workers: int,
    inline_threshold: int,
    chunk_size: int,
    upload_ttl: float,
    tls_cert: str | None,
    tls_key: str | None,
    root_access_key: str | None,
    root_secret_key: str | None,
    log_level: str,
    access_log: bool,
    graceful_timeout: int,
    audit: bool,
) -> None:
    """Serve a complete single-node store: SQLite metadata and chunks on local disk."""
    run_server(
        ServeSettings(
            data=data,
            inline_threshold=inline_threshold,
            chunk_size=chunk_size,
            upload_ttl=upload_ttl,
            s3_port=s3_port,
            region=region,
            s3_domain=s3_domain,
            audit=audit,
        ),
        host=host,
        port=port,
        workers=workers,
        tls_cert=tls_cert,
        tls_key=tls_key,
        root_key=root_access_key,
        root_secret=root_secret_key,
        log_level=log_level,
        access_log=access_log,
        graceful_timeout=graceful_timeout,
    )


main.add_command(router)
main.add_command(peer)
main.add_command(cluster)
main.add_command(admin)
main.add_command(audit)


@main.group()
def keys() -> None:
    """Manage access keys in a data directory (safe beside a running server)."""


@keys.command("create")
@click.option("--data", envvar="XOLO_DATA", default="./xolo-data", help="Data directory.")
@click.option(
    "--grant",
    "grants",
    multiple=True,
    metavar="BUCKET=LEVEL",
    help="A grant: bucket name (or *) = read, write or admin. Repeatable.",
)
def create_key(data: str, grants: tuple[str, ...]) -> None:
    """Create a key that is not root, with per-bucket grants; prints its secret once."""
    parsed: dict[str, str] = {}
    for grant in grants:
        bucket, sep, level = grant.partition("=")
        if not sep or not bucket:
            raise click.BadParameter(f"{grant!r} is not BUCKET=LEVEL", param_hint="--grant")
        parsed[bucket] = level
    try:
        access_key, secret = asyncio.run(create_access_key(data, parsed))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--grant") from None
    click.echo(f"access key: {access_key}\nsecret key: {secret}")


@main.command()
@click.option("--data", envvar="XOLO_DATA", default="./xolo-data", help="Data directory.")
@click.option(
    "--grace",
    default="24h",
    show_default=True,
    help="Keep unreferenced chunks younger than this (e.g. 3600, 90m, 24h): an upload still in "
    "progress may need them.",
)
@click.option(
    "--wait",
    default="2m",
    show_default=True,
    help="How long to wait for a collection already running (a server's scheduled one) to end.",
)
def gc(data: str, grace: str, wait: str) -> None:
    """Delete chunks no object or part refers to (safe beside a running server: it takes the
    same lease as the server's scheduled collection, so the two never run at once)."""
    seconds = parse_duration(grace)
    report = asyncio.run(collect_garbage(data, seconds, wait=parse_duration(wait)))
    click.echo(
        f"xolo: deleted {report.deleted} unreferenced chunks older than {grace} "
        f"({report.temp_removed} abandoned temporary files)"
    )


def parse_duration(text: str) -> float:
    """A duration option in seconds: a plain number, or one ending in s, m, h or d."""
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    value = text.strip().lower()
    try:
        if value and value[-1] in units:
            return float(value[:-1]) * units[value[-1]]
        return float(value)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a duration like 3600, 90m or 24h") from None


objects_cmd.register(main)
