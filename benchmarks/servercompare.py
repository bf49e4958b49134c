"""ASGI servers side by side, one run, same app, same load: how xolo chose its HTTP server.

    python -m pip install granian && python -m benchmarks.servercompare
    python -m benchmarks.servercompare --quick    # a short smoke run

One small Starlette app answers three routes, each served by uvicorn (httptools, uvloop) and by
Granian (uvloop), two workers each, on 127.0.0.1:

* ``/file/N``: a 4 MiB file as Starlette's ``FileResponse``. Granian implements the
  ``http.response.pathsend`` extension, so it sends the file itself (no Python copies);
  uvicorn gets 64 KiB pieces read on a thread.
* ``/whole/N``: the same file read whole with one ``pread`` on a thread and sent in one
  message, as xolo's read path serves a chunk.
* ``/small``: a 4 KiB body from memory (per-request overhead).

The result decides what xolo runs on; it is printed and written into ``docs/benchmarks.md``.
Granian is not a dependency of xolo: the run skips it, saying so, when it is not installed.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.compare import (
    ROOT,
    installed,
    machine,
    process,
    write_between_markers,
)
from benchmarks.loadgen import Op, Result, run
from xolo.cli.ports import free_port

FILE_SIZE = 4 * 1024 * 1024

APP = """
import os

import anyio
from starlette.applications import Starlette
from starlette.responses import FileResponse, Response
from starlette.routing import Route

FILES = os.environ["BENCH_FILES"]
SMALL = b"x" * 4096


async def file(request):
    return FileResponse(os.path.join(FILES, request.path_params["n"]))


async def whole(request):
    fd = os.open(os.path.join(FILES, request.path_params["n"]), os.O_RDONLY)
    try:
        data = await anyio.to_thread.run_sync(os.pread, fd, os.fstat(fd).st_size, 0)
    finally:
        os.close(fd)
    return Response(data, media_type="application/octet-stream")


async def small(request):
    return Response(SMALL, media_type="application/octet-stream")


app = Starlette(
    routes=[Route("/file/{n}", file), Route("/whole/{n}", whole), Route("/small", small)]
)
"""


def server_command(name: str, port: int, workers: int) -> list[str] | None:
    """The command that serves ``benchapp:app`` with ``name``, or None when not installed."""
    exe = installed(name)
    if exe is None:
        return None
    if name == "uvicorn":
        return [
            exe, "benchapp:app", "--port", str(port), "--workers", str(workers),
            "--http", "httptools", "--loop", "uvloop", "--no-access-log", "--log-level", "warning",
        ]  # fmt: skip
    return [
        exe, "--interface", "asgi", "--port", str(port), "--workers", str(workers),
        "--loop", "uvloop", "--no-ws", "--log-level", "warning", "benchapp:app",
    ]  # fmt: skip


@contextmanager
def serving(name: str, work: Path, workers: int) -> Iterator[str | None]:
    """Run one server over the app in ``work``; yields its URL (None: not installed)."""
    port = free_port()
    cmd = server_command(name, port, workers)
    if cmd is None:
        yield None
        return
    env = dict(os.environ, BENCH_FILES=str(work / "files"), PYTHONPATH=str(work))
    os.chdir(work)
    url = f"http://127.0.0.1:{port}"
    with process(cmd, env, f"{url}/small", work / f"{name}.log"):
        yield url


def prepare(work: Path, files: int) -> None:
    """Write the app and ``files`` random 4 MiB files into ``work``."""
    (work / "benchapp.py").write_text(textwrap.dedent(APP))
    (work / "files").mkdir()
    for i in range(files):
        (work / "files" / f"f{i}").write_bytes(os.urandom(FILE_SIZE))


def measure(url: str, route: str, count: int, files: int, connections: int) -> Result:
    """``count`` GETs of one route over ``connections`` connections, after a short
    warm-up that is not counted."""
    ops: list[Op]
    if route == "small":
        ops = [("GET", f"{url}/small", {}, None) for _ in range(count)]
    else:
        ops = [("GET", f"{url}/{route}/f{i % files}", {}, None) for i in range(count)]
    run(ops[: min(50, count)], connections=connections)  # warm-up
    return run(ops, connections=connections)


def report(results: dict[tuple[str, str], Result], workers: int, connections: int) -> str:
    """The results as a Markdown table, with the machine and the load."""
    lines = [
        f"Machine: {machine()}\n",
        f"Load: {connections} connections from 2 load generator processes, plain GETs; "
        f"each server with {workers} workers and uvloop.\n",
        "| route | server | ops/s | MB/s | p50 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for (route, server), r in results.items():
        lines.append(
            f"| {route} | {server} | {r.ops / r.seconds:,.0f} | {r.bytes / r.seconds / 1e6:,.1f}"
            f" | {r.percentile(50) * 1000:.2f} | {r.percentile(99) * 1000:.2f} | {r.errors} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Run every installed server over every route and print the table; without ``--quick``,
    also write it into ``docs/benchmarks.md``."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="a short smoke run; print, do not write")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args(argv)
    large, small, files = (64, 2000, 8) if args.quick else (512, 10000, 64)
    results: dict[tuple[str, str], Result] = {}
    here = os.getcwd()
    with tempfile.TemporaryDirectory(prefix="xolo-servers-") as tmp:
        work = Path(tmp)
        prepare(work, files)
        try:
            for server in ("uvicorn", "granian"):
                with serving(server, work, args.workers) as url:
                    if url is None:
                        print(f"{server} is not installed: skipped", file=sys.stderr)
                        continue
                    for route, count in (("file", large), ("whole", large), ("small", small)):
                        results[(route, server)] = measure(
                            url, route, count, files, args.connections
                        )
        finally:
            os.chdir(here)
    ordered = dict(sorted(results.items()))
    text = report(ordered, args.workers, args.connections)
    print(text)
    if not args.quick:
        write_between_markers(ROOT / "docs" / "benchmarks.md", text, name="server-results")


if __name__ == "__main__":
    main()
