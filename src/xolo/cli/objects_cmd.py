"""The object verbs of the ``xolo`` command line, over ``xolo.Client``.

Remote paths are ``xolo://BUCKET/KEY`` (or ``BUCKET/KEY`` where a verb takes only remote
paths); local paths are anything else. Where xolo is comes from ``--url`` (``XOLO_URL``: a
``xolo://`` URI of one or more routers, or ``http://host:port``) or a profile written by
``xolo login`` (``--profile``/``XOLO_PROFILE``); credentials from ``XOLO_ACCESS_KEY`` and
``XOLO_SECRET_KEY`` or the profile. ``--json`` prints machine-readable output.

Exit codes: 0 done; 1 any other failure; 2 bad usage; 3 not found; 4 refused (credentials or
grants); 5 conflict or failed precondition; 6 the server could not be reached or was
unavailable; 7 bytes that did not match their SHA-256.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, NoReturn

import click

from xolo.client import Client, Entry, bulk
from xolo.client.config import ClientConfig, from_env, load_profile, parse_uri, save_profile
from xolo.core import errors as e

EXIT_CODES: list[tuple[type[e.XoloError], int]] = [
    (e.NotFound, 3),
    (e.Unauthenticated, 4),
    (e.AccessDenied, 4),
    (e.Conflict, 5),
    (e.PreconditionFailed, 5),
    (e.ServiceUnavailable, 6),
    (e.IntegrityError, 7),
]
"""The exit code of each kind of failure (the first that matches)."""


def exit_code(error: e.XoloError) -> int:
    """The code a command exits with for ``error`` (``EXIT_CODES``; 1 for any other kind)."""
    for cls, code in EXIT_CODES:
        if isinstance(error, cls):
            return code
    return 1


def fail(error: e.XoloError) -> NoReturn:
    """Report the error and exit with its code, so scripts can tell failures apart."""
    click.echo(f"xolo: {error.code}: {error.message}", err=True)
    sys.exit(exit_code(error))


def remote(path: str) -> tuple[str, str]:
    """(bucket, key) of ``xolo://bucket/key`` or ``bucket/key``."""
    rest = path.removeprefix("xolo://")
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise click.BadParameter(f"{path!r} names no bucket (write xolo://BUCKET/KEY)")
    return bucket, key


def is_remote(path: str) -> bool:
    """Whether a path names an object (``xolo://``) or a local file: a copy's direction."""
    return path.startswith("xolo://")


def _config(url: str | None, profile: str | None) -> ClientConfig:
    if profile:
        config = load_profile(profile)
    elif url:
        config = parse_uri(url)
    else:
        return from_env()
    key, secret = os.environ.get("XOLO_ACCESS_KEY"), os.environ.get("XOLO_SECRET_KEY")
    if key and secret:
        config = dataclasses.replace(config, access_key=key, secret_key=secret)
    return config


@contextmanager
def connected(ctx: click.Context) -> Iterator[Client]:
    """The client the options name; every xolo error exits with its code."""
    try:
        with Client(config=_config(ctx.obj["url"], ctx.obj["profile"])) as client:
            yield client
    except e.XoloError as error:
        fail(error)


def _json(value: Any) -> str:
    def default(o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        if isinstance(o, datetime):
            return o.isoformat()
        return str(o)

    return json.dumps(value, default=default, indent=2, ensure_ascii=False)


def _progress(total: int, label: str) -> Any:
    """A rich progress bar on a terminal; nothing otherwise."""
    if not sys.stderr.isatty():
        return None
    from rich.progress import Progress

    bar = Progress(transient=True)
    task = bar.add_task(label, total=total)
    bar.start()
    return bar, task


def _advance(progress: Any) -> Callable[[int], None] | None:
    if progress is None:
        return None
    bar, task = progress

    def advance(n: int) -> None:
        bar.update(task, advance=n)

    return advance


def _done(progress: Any) -> None:
    if progress is not None:
        progress[0].stop()


def register(group: click.Group) -> None:
    """Attach the object verbs to the ``xolo`` group."""
    for command in (
        put,
        get,
        cat,
        ls,
        tree,
        du,
        rm,
        cp,
        mv,
        stat,
        presign,
        sync,
        watch,
        bucket,
        login,
    ):
        group.add_command(command)


def _common(f: Callable[..., Any]) -> Callable[..., Any]:
    """The options every verb takes: ``--url`` and ``--profile`` (kept in ``ctx.obj`` for
    ``connected``) and ``--json``."""

    @functools.wraps(f)
    def verb(
        ctx: click.Context, *args: Any, url: str | None, profile: str | None, **kw: Any
    ) -> Any:
        ctx.obj = {"url": url, "profile": profile}
        return f(ctx, *args, **kw)

    verb = click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")(verb)
    verb = click.option("--profile", envvar="XOLO_PROFILE", default=None, help="A saved profile.")(
        verb
    )
    verb = click.option("--url", envvar="XOLO_URL", default=None, help="xolo://host:port[,...]")(
        verb
    )
    return click.pass_context(verb)


@click.command()
@click.argument("source", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("dest")
@click.option("--content-type", default=None)
@_common
def put(
    ctx: click.Context,
    source: Path,
    dest: str,
    content_type: str | None,
    as_json: bool,
) -> None:
    """Upload a local file to xolo://BUCKET/KEY (a KEY ending in / takes the file's name)."""
    bucket_name, key = remote(dest)
    if not key or key.endswith("/"):
        key += source.name
    with connected(ctx) as client:
        bar = _progress(source.stat().st_size, f"put {key}")
        try:
            info = client.put_file(
                bucket_name, key, source, progress=_advance(bar), content_type=content_type
            )
        finally:
            _done(bar)
    click.echo(_json(info) if as_json else f"{bucket_name}/{key} {info.size} bytes {info.etag}")


@click.command()
@click.argument("source")
@click.argument("dest", type=click.Path(path_type=Path), required=False)
@_common
def get(
    ctx: click.Context,
    source: str,
    dest: Path | None,
    as_json: bool,
) -> None:
    """Download xolo://BUCKET/KEY to a local file (resumable, SHA-256 verified)."""
    bucket_name, key = remote(source)
    target = dest or Path(key.rpartition("/")[2] or "download")
    if target.is_dir():
        target = target / key.rpartition("/")[2]
    with connected(ctx) as client:
        size = client.head(bucket_name, key).size
        bar = _progress(size, f"get {key}")
        try:
            info = client.get_to_file(bucket_name, key, target, progress=_advance(bar))
        finally:
            _done(bar)
    click.echo(_json(info) if as_json else f"{target} {info.size} bytes")


@click.command()
@click.argument("source")
@_common
def cat(ctx: click.Context, source: str, as_json: bool) -> None:
    """Write an object's bytes to standard output."""
    bucket_name, key = remote(source)
    with connected(ctx) as client:
        data = client.get(bucket_name, key)
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _entry_line(entry: Entry) -> str:
    if entry.is_dir:
        return f"{'DIR':>12}  {entry.key}"
    return f"{entry.size:>12}  {entry.key}"


@click.command()
@click.argument("path", required=False, default="")
@_common
def ls(ctx: click.Context, path: str, as_json: bool) -> None:
    """List buckets, or one level of xolo://BUCKET/PREFIX."""
    with connected(ctx) as client:
        if not path or path == "xolo://":
            buckets = client.list_buckets()
            click.echo(_json(buckets) if as_json else "\n".join(b.name for b in buckets))
            return
        bucket_name, prefix = remote(path)
        entries = client.ls(bucket_name, prefix)
    click.echo(_json(entries) if as_json else "\n".join(_entry_line(x) for x in entries))


@click.command()
@click.argument("path")
@_common
def tree(ctx: click.Context, path: str, as_json: bool) -> None:
    """Every object under xolo://BUCKET/PREFIX, at any depth."""
    bucket_name, prefix = remote(path)
    with connected(ctx) as client:
        entries = list(client.tree(bucket_name, prefix))
    click.echo(_json(entries) if as_json else "\n".join(_entry_line(x) for x in entries))


@click.command()
@click.argument("path")
@_common
def du(ctx: click.Context, path: str, as_json: bool) -> None:
    """Objects and bytes under xolo://BUCKET/PREFIX."""
    bucket_name, prefix = remote(path)
    with connected(ctx) as client:
        count, size = client.du(bucket_name, prefix)
    doc = {"objects": count, "bytes": size}
    click.echo(_json(doc) if as_json else f"{count} objects, {size} bytes")


@click.command()
@click.argument("path")
@click.option("-r", "--recursive", is_flag=True, help="Everything under a PREFIX/.")
@click.option("--everything", is_flag=True, help="With -r and no prefix: empty the bucket.")
@_common
def rm(
    ctx: click.Context,
    path: str,
    recursive: bool,
    everything: bool,
    as_json: bool,
) -> None:
    """Delete an object, or with -r every object under a prefix ending in /."""
    bucket_name, key = remote(path)
    with connected(ctx) as client:
        count = client.rm(bucket_name, key, recursive=recursive, everything=everything)
    click.echo(_json({"deleted": count}) if as_json else f"deleted {count}")


@click.command()
@click.argument("source")
@click.argument("dest")
@_common
def cp(ctx: click.Context, source: str, dest: str, as_json: bool) -> None:
    """Copy: local → xolo:// (upload), xolo:// → local (download) or xolo:// → xolo://
    (on the server, no bytes travel)."""
    if is_remote(source) and not is_remote(dest):
        ctx.invoke(get, source=source, dest=Path(dest), **ctx.obj, as_json=as_json)
        return
    if not is_remote(source) and is_remote(dest):
        ctx.invoke(
            put,
            source=Path(source),
            dest=dest,
            content_type=None,
            **ctx.obj,
            as_json=as_json,
        )
        return
    if not is_remote(source):
        raise click.UsageError("one side of cp must be a xolo:// path")
    (sb, sk), (db, dk) = remote(source), remote(dest)
    with connected(ctx) as client:
        info = client.copy(sb, sk, db, dk or sk)
    click.echo(_json(info) if as_json else f"{db}/{info.key}")


@click.command()
@click.argument("source")
@click.argument("dest")
@_common
def mv(ctx: click.Context, source: str, dest: str, as_json: bool) -> None:
    """Move an object within xolo (copy on the server, then delete)."""
    (sb, sk), (db, dk) = remote(source), remote(dest)
    with connected(ctx) as client:
        info = client.mv(sb, sk, dk or sk, new_bucket=db)
    click.echo(_json(info) if as_json else f"{db}/{info.key}")


@click.command()
@click.argument("path")
@_common
def stat(ctx: click.Context, path: str, as_json: bool) -> None:
    """An object's size, ETag, SHA-256, type, version and metadata."""
    bucket_name, key = remote(path)
    with connected(ctx) as client:
        info = client.head(bucket_name, key)
    if as_json:
        click.echo(_json(info))
        return
    for name in ("key", "size", "etag", "sha256", "content_type", "modified", "version_id"):
        click.echo(f"{name}: {getattr(info, name)}")
    for name, value in info.metadata.items():
        click.echo(f"meta.{name}: {value}")


@click.command()
@click.argument("path")
@click.option("--method", default="GET", type=click.Choice(["GET", "HEAD", "PUT", "DELETE"]))
@click.option("--expires", default=3600, type=click.IntRange(1, 7 * 24 * 3600))
@_common
def presign(
    ctx: click.Context,
    path: str,
    method: str,
    expires: int,
    as_json: bool,
) -> None:
    """A URL that allows one method on one object until it expires."""
    bucket_name, key = remote(path)
    with connected(ctx) as client:
        link = client.presign(method, bucket_name, key, expires=expires)
    click.echo(_json({"url": link}) if as_json else link)


@click.command()
@click.argument("source")
@click.argument("dest")
@click.option("--delete", is_flag=True, help="Delete at DEST what SOURCE does not have.")
@click.option("--dry-run", is_flag=True, help="Say what would be done; change nothing.")
@click.option("--concurrency", default=8, type=click.IntRange(1, 64))
@_common
def sync(
    ctx: click.Context,
    source: str,
    dest: str,
    delete: bool,
    dry_run: bool,
    concurrency: int,
    as_json: bool,
) -> None:
    """Make DEST like SOURCE, one side a local directory and the other xolo://BUCKET/PREFIX,
    comparing by size and SHA-256; a rerun after an interruption sends only what is left."""
    upload = is_remote(dest) and not is_remote(source)
    if upload == is_remote(source):
        raise click.UsageError("sync a local directory with a xolo:// prefix, either way")
    bucket_name, prefix = remote(dest if upload else source)
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
    local = Path(source if upload else dest)
    with connected(ctx) as client:
        if upload:
            plan = bulk.plan_upload(client, local, bucket_name, prefix)
        else:
            plan = bulk.plan_download(client, bucket_name, prefix, local)
        deletes = plan.delete if delete else []
        if not dry_run:
            chosen = set(plan.send)
            if upload:
                stats = bulk.upload_tree(
                    client,
                    local,
                    bucket_name,
                    prefix,
                    only=chosen,
                    concurrency=concurrency,
                )
                for rel in deletes:
                    client.delete(bucket_name, prefix + rel)
            else:
                stats = bulk.download_tree(
                    client,
                    bucket_name,
                    prefix,
                    local,
                    only=chosen,
                    concurrency=concurrency,
                )
                for rel in deletes:
                    (local / rel).unlink()
            if stats.errors:
                for line in stats.errors:
                    click.echo(f"xolo: {line}", err=True)
                sys.exit(1)
    doc = {"send": plan.send, "delete": deletes, "unchanged": plan.same, "dry_run": dry_run}
    if as_json:
        click.echo(_json(doc))
        return
    verb = "would " if dry_run else ""
    for rel in plan.send:
        click.echo(f"{verb}{'put' if upload else 'get'} {rel}")
    for rel in deletes:
        click.echo(f"{verb}delete {rel}")
    click.echo(f"{len(plan.send)} to send, {len(deletes)} to delete, {plan.same} unchanged")


@click.command()
@click.argument("path")
@click.option("--after", default=None, type=int, help="Resume after this sequence.")
@click.option("--count", default=None, type=int, help="Stop after this many events.")
@_common
def watch(
    ctx: click.Context,
    path: str,
    after: int | None,
    count: int | None,
    as_json: bool,
) -> None:
    """Print a bucket's changes as they happen (from now on, or after a sequence)."""
    bucket_name, prefix = remote(path)
    seen = 0
    with connected(ctx) as client:
        for event in client.events(bucket_name, prefix=prefix, after=after):
            if as_json:
                click.echo(json.dumps(dataclasses.asdict(event)))
            else:
                click.echo(f"{event.sequence} {event.type} {event.key} {event.size}")
            sys.stdout.flush()
            seen += 1
            if count is not None and seen >= count:
                return


@click.group()
def bucket() -> None:
    """Buckets: create, ls, rm, info, set."""


def _setting(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        name, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r}: settings are NAME=VALUE")
        out[name] = json.loads(value) if value not in ("Enabled", "Suspended") else value
    return out


@bucket.command("create")
@click.argument("name")
@click.option("--set", "settings", multiple=True, help="NAME=VALUE, e.g. replication=3")
@_common
def bucket_create(
    ctx: click.Context,
    name: str,
    settings: tuple[str, ...],
    as_json: bool,
) -> None:
    """Create a bucket if absent (an existing one is left as it is)."""
    with connected(ctx) as client:
        info = client.create_bucket(name, **_setting(settings))
    click.echo(_json(info) if as_json else info.name)


@bucket.command("ls")
@_common
def bucket_ls(ctx: click.Context, as_json: bool) -> None:
    """The buckets this key may read."""
    with connected(ctx) as client:
        buckets = client.list_buckets()
    if as_json:
        click.echo(_json(buckets))
        return
    for b in buckets:
        click.echo(f"{b.name}  {b.object_count} objects  {b.bytes} bytes")


@bucket.command("info")
@click.argument("name")
@_common
def bucket_info(ctx: click.Context, name: str, as_json: bool) -> None:
    """Show a bucket's settings and versioning state."""
    with connected(ctx) as client:
        info = client.bucket_info(name)
    click.echo(
        _json(info)
        if as_json
        else f"{info.name}: {dict(info.settings)} versioning={info.versioning}"
    )


@bucket.command("set")
@click.argument("name")
@click.argument("settings", nargs=-1, required=True)
@_common
def bucket_set(
    ctx: click.Context,
    name: str,
    settings: tuple[str, ...],
    as_json: bool,
) -> None:
    """Change the settings named (NAME=VALUE ...): replication, write_quorum, public_read,
    versioning."""
    with connected(ctx) as client:
        info = client.update_bucket(name, **_setting(settings))
    click.echo(_json(info) if as_json else f"{info.name}: {dict(info.settings)}")


@bucket.command("rm")
@click.argument("name")
@_common
def bucket_rm(ctx: click.Context, name: str, as_json: bool) -> None:
    """Delete an empty bucket."""
    with connected(ctx) as client:
        client.delete_bucket(name)
    click.echo(_json({"deleted": name}) if as_json else f"deleted {name}")


@click.command()
@click.option("--url", required=True, help="xolo://host:port[,...] or http://host:port")
@click.option("--access-key", prompt=True)
@click.option("--secret-key", prompt=True, hide_input=True)
@click.option("--profile", default="default")
def login(url: str, access_key: str, secret_key: str, profile: str) -> None:
    """Check the credentials against the server and save them as a profile (mode 0600)."""
    config = dataclasses.replace(parse_uri(url), access_key=access_key, secret_key=secret_key)
    try:
        with Client(config=config) as client:
            client.list_buckets()
    except e.XoloError as error:
        fail(error)
    path = save_profile(profile, url=url, access_key=access_key, secret_key=secret_key)
    click.echo(f"saved profile {profile!r} in {path}")
