"""Side by side, one run, same load: xolo's native API against hashserver and Elastik.

    python -m benchmarks.compare            # full run; writes docs/benchmarks.md
    python -m benchmarks.compare --quick    # a short smoke run, prints only

Each system is started here on 127.0.0.1 with a fresh data directory, and stopped after.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import platform
import secrets
import shutil
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import httpx

from benchmarks.loadgen import Op, Result, run, unique_payloads
from xolo.cli.ports import free_port

KiB, MiB = 1024, 1024 * 1024
ROOT = Path(__file__).resolve().parent.parent


def installed(name: str) -> str | None:
    """A command pip installed beside this interpreter, else on PATH (shims may lag)."""
    beside = Path(sysconfig.get_path("scripts")) / name
    return str(beside) if beside.exists() else shutil.which(name)


def wait_until_up(url: str, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    """Until ``url`` answers at all (any status will do), polling; raises RuntimeError when ``proc``
    exits first or ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{url}: the process exited with {proc.returncode}")
        try:
            httpx.get(url, timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not come up")


class PeerFailed(RuntimeError):
    """A system under test did not come up; the message carries the end of its log, which
    would otherwise vanish with the temporary directory it was written to."""


def log_tail(log: Path, lines: int = 60) -> str:
    """The last ``lines`` lines of ``log``, or a note saying why there are none, for an error
    message to carry."""
    try:
        text = log.read_text(errors="replace")
    except FileNotFoundError:
        return "(no log was written)"
    return "\n".join(text.splitlines()[-lines:]) or "(the log is empty)"


@contextmanager
def process(cmd: list[str], env: dict[str, str], probe: str, log: Path) -> Iterator[None]:
    """Run ``cmd`` until the block ends, once ``probe`` answers; its output goes to ``log``."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        try:
            wait_until_up(probe, proc)
        except RuntimeError as exc:
            raise PeerFailed(
                f"{exc}\ncommand: {' '.join(cmd)}\n--- last lines of {log.name} ---\n"
                + log_tail(log)
            ) from None
        yield
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()


@dataclass
class System:
    """A native-API system under test: its name, and how to make a PUT and a GET op for a key and
    body (a content-addressed system names the object by its body and ignores the key)."""

    name: str
    put: Callable[[str, bytes], Op]
    get: Callable[[str, bytes], Op]


@contextmanager
def xolo_serve(
    work: Path,
    *,
    workers: int,
    key: str,
    secret: str,
    extra: tuple[str, ...] = (),
    name: str = "xolo",
) -> Iterator[tuple[int, int]]:
    """``xolo serve`` on fresh ports and a fresh data directory: yields (native, S3) ports."""
    port, s3_port = free_port(), free_port()
    env = dict(os.environ, XOLO_ROOT_ACCESS_KEY=key, XOLO_ROOT_SECRET_KEY=secret)
    cmd = [
        sys.executable,
        "-m",
        "xolo",
        "serve",
        "--data",
        str(work / name),
        "--port",
        str(port),
        "--s3-port",
        str(s3_port),
        "--workers",
        str(workers),
        "--log-level",
        "warning",
        *extra,
    ]
    with process(cmd, env, f"http://127.0.0.1:{port}/health", work / f"{name}.log"):
        yield port, s3_port


@contextmanager
def xolo_system(work: Path, workers: int) -> Iterator[System]:
    """``xolo serve`` with a ``bench`` bucket, driven through the native API with Basic auth; its
    name shows the worker count when there is more than one."""
    key, secret = "XOBENCHROOTKEY000001", secrets.token_hex(16)
    with xolo_serve(work, workers=workers, key=key, secret=secret) as (port, _):
        url = f"http://127.0.0.1:{port}"
        auth = {"authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}
        httpx.put(f"{url}/v1/buckets/bench", headers=auth).raise_for_status()
        name = "xolo" if workers == 1 else f"xolo ({workers} workers)"
        yield System(
            name,
            put=lambda k, body: ("PUT", f"{url}/v1/buckets/bench/objects/{k}", auth, body),
            get=lambda k, body: ("GET", f"{url}/v1/buckets/bench/objects/{k}", auth, None),
        )


@contextmanager
def hashserver_system(work: Path) -> Iterator[System]:
    """A writable hashserver over a fresh directory. It addresses objects by SHA-256, so the key is
    ignored and each body's hash is computed once, as its ops are made, before the clock starts."""
    port = free_port()
    exe = installed("hashserver")
    if exe is None:
        raise SystemExit("hashserver is not installed: python -m pip install -e '.[bench]'")
    (work / "hs").mkdir()
    cmd = [
        exe,
        str(work / "hs"),
        "--writable",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--hash-algorithm",
        "sha-256",
    ]
    with process(
        cmd, dict(os.environ), f"http://127.0.0.1:{port}/healthcheck", work / "hashserver.log"
    ):
        url = f"http://127.0.0.1:{port}"
        names: dict[int, str] = {}

        def name_of(body: bytes) -> str:
            h = names.get(id(body))
            if h is None:
                h = names[id(body)] = hashlib.sha256(body).hexdigest()
            return h

        yield System(
            "hashserver",
            put=lambda k, body: ("PUT", f"{url}/{name_of(body)}", {}, body),
            get=lambda k, body: ("GET", f"{url}/{name_of(body)}", {}, None),
        )


@contextmanager
def elastik_system(work: Path) -> Iterator[System]:
    """Elastik's core binary (from the installed package) over a fresh data directory; PUTs carry
    its write token, GETs go without one."""
    import elastik

    exe = Path(elastik.__file__).parent / "_bin" / "elastik-core"
    port = free_port()
    env = dict(
        os.environ,
        ELASTIK_HOST="127.0.0.1",
        ELASTIK_PORT=str(port),
        ELASTIK_KEY=secrets.token_hex(32),
        ELASTIK_WRITE_TOKEN="bench-write-token",
        ELASTIK_DATA=str(work / "elastik"),
    )
    (work / "elastik").mkdir()
    with process([str(exe)], env, f"http://127.0.0.1:{port}/proc/version", work / "elastik.log"):
        url = f"http://127.0.0.1:{port}"
        auth = {"authorization": "Bearer bench-write-token"}
        yield System(
            "elastik",
            put=lambda k, body: ("PUT", f"{url}/home/bench/{k}", auth, body),
            get=lambda k, body: ("GET", f"{url}/home/bench/{k}", {}, None),
        )


@dataclass
class Row:
    """One line of the results: a system's Result for one object size and operation."""

    system: str
    size: int
    op: str
    result: Result


def measure(system: System, size: int, count: int, connections: int, processes: int) -> list[Row]:
    """PUT ``count`` distinct objects of ``size`` bytes into ``system``, then GET each once in a
    fixed shuffled order. Up to 50 untimed warm-up PUTs go first, with payloads of their own so a
    content-addressed system cannot skip the measured PUTs as duplicates."""
    make = unique_payloads(count, size, system.name.encode()[:8])
    bodies = [make(i) for i in range(count)]
    keys = [f"obj-{size}-{i}" for i in range(count)]
    # Warm up with other payloads: content-addressed peers would otherwise skip the real PUTs.
    warm_make = unique_payloads(count, size, b"warm-up!")
    warm = min(50, count)
    run(
        [system.put(f"warm-{i}", warm_make(i)) for i in range(warm)],
        connections=connections,
        processes=processes,
    )
    puts = run(
        [system.put(k, b) for k, b in zip(keys, bodies, strict=True)],
        connections=connections,
        processes=processes,
    )
    order = list(range(count))
    import random

    random.Random(1).shuffle(order)
    gets = run(
        [system.get(keys[i], bodies[i]) for i in order],
        connections=connections,
        processes=processes,
    )
    return [Row(system.name, size, "PUT", puts), Row(system.name, size, "GET", gets)]


def machine() -> str:
    """One line naming the CPU, cores, memory, OS, Python and the systems' versions, so a report
    says what it was measured on."""
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    versions = ", ".join(
        f"{p} {metadata.version(p)}" for p in ("xolo", "hashserver", "elastik", "aiohttp")
    )
    return (
        f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, "
        f"{platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}; {versions}"
    )


def fmt_size(size: int) -> str:
    """``size`` as the reports write it, in whole MiB or KiB."""
    return f"{size // MiB} MiB" if size >= MiB else f"{size // KiB} KiB"


def table(rows: list[Row]) -> str:
    """The rows as a Markdown table, in the order given: throughput, latency and errors each."""
    out = [
        "| object | op | system | ops/s | MB/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        res = r.result
        out.append(
            f"| {fmt_size(r.size)} | {r.op} | {r.system} | {res.ops_per_s:,.0f} "
            f"| {res.mb_per_s:,.1f} | "
            f"{res.p50_ms:.2f} | {res.p99_ms:.2f} | {res.errors} |"
        )
    return "\n".join(out)


def ratios(rows: list[Row]) -> str:
    """xolo's ops/s over hashserver's and Elastik's per object size and operation, as a Markdown
    table: xolo is matched whatever its worker count, and a peer missing or at zero gives n/a."""
    out = ["| object | op | xolo ÷ hashserver | xolo ÷ elastik |", "|---|---|---:|---:|"]
    index = {(r.system.split(" ")[0], r.size, r.op): r.result.ops_per_s for r in rows}
    for size in sorted({r.size for r in rows}):
        for op in ("PUT", "GET"):
            x = index.get(("xolo", size, op), 0.0)
            cells = []
            for peer in ("hashserver", "elastik"):
                p = index.get((peer, size, op), 0.0)
                cells.append(f"{x / p:.2f}x" if p else "n/a")
            out.append(f"| {fmt_size(size)} | {op} | {cells[0]} | {cells[1]} |")
    return "\n".join(out)


START, END = "<!-- results:start -->", "<!-- results:end -->"


def write_between_markers(path: Path, report: str, name: str = "results") -> None:
    """Replace the generated block of ``path``, keeping the hand-written analysis around it."""
    START, END = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    text = path.read_text() if path.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    if START not in text or END not in text:
        text += f"\n{START}\n{END}\n"
    head, rest = text.split(START, 1)
    _, tail = rest.split(END, 1)
    stamp = f"<!-- written by python -m benchmarks.compare on {time.strftime('%Y-%m-%d')} -->"
    path.write_text(f"{head}{START}\n{stamp}\n\n{report}\n{END}{tail}")


def main() -> None:
    """Measure xolo, hashserver and Elastik in turn on small and large objects and print the report;
    without ``--quick`` it is also written into the docs."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument(
        "--quick", action="store_true", help="a short smoke run; print, do not write docs"
    )
    ap.add_argument("--small-count", type=int, default=20000)
    ap.add_argument("--large-count", type=int, default=64)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--large-connections", type=int, default=8)
    ap.add_argument("--processes", type=int, default=2, help="load generator processes")
    ap.add_argument("--xolo-workers", type=int, default=1)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = ap.parse_args()
    if args.quick:
        args.small_count, args.large_count = 500, 8
    rows: list[Row] = []
    with tempfile.TemporaryDirectory(prefix="xolo-bench-") as tmp:
        work = Path(tmp)
        systems: list[Callable[[], AbstractContextManager[System]]] = [
            lambda: xolo_system(work, args.xolo_workers),
            lambda: hashserver_system(work),
            lambda: elastik_system(work),
        ]
        for start in systems:
            with start() as system:
                print(f"measuring {system.name} ...", flush=True)
                rows += measure(system, 4 * KiB, args.small_count, args.connections, args.processes)
                rows += measure(
                    system, 8 * MiB, args.large_count, args.large_connections, args.processes
                )
    rows.sort(key=lambda r: (r.size, r.op != "PUT", r.system))
    report = (
        f"Machine: {machine()}\n\nLoad: {args.small_count} x 4 KiB and {args.large_count} x 8 MiB "
        f"distinct objects per system, PUT then GET of each in shuffled order; "
        f"{args.connections} connections for 4 KiB and {args.large_connections} for 8 MiB, "
        f"from {args.processes} load generator processes on the same machine.\n\n"
        f"{table(rows)}\n\nThroughput ratios (ops/s):\n\n{ratios(rows)}\n"
    )
    print(report)
    if not args.quick:
        write_between_markers(args.out, report)
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
