"""Transfers side by side, one run, one cluster: the xolo client against boto3 and rclone.

    python -m benchmarks.transfercompare            # full run; writes docs/benchmarks.md
    python -m benchmarks.transfercompare --quick    # a short smoke run, prints only

One ``xolo cluster up`` (3 peers, one router, SQLite metadata, replication 2) serves every
client. Rows: one large file up and down, and a bulk upload of many small files:

* xolo, direct: ``Client.put_file`` (chunks straight to the peers) and ``get_to_file``;
  ``upload_tree`` for the small files;
* xolo, via router: the same with ``direct=False`` (the bytes stream through the router);
* boto3: ``upload_file``/``download_file`` (s3transfer, 8 MiB parts, 10 threads) and, for the
  small files, a thread pool of ``upload_file`` calls, against the router's S3 endpoint;
* rclone: ``copyto``/``copy`` to the router's S3 endpoint (``--transfers 8``).

Each system uploads its own bytes (a different seed), so no client gains from chunks another
one already stored. Ratios are xolo direct / the best of boto3 and rclone.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

import xolo
from benchmarks.clustercompare import cluster_up_command
from benchmarks.compare import ROOT, installed, machine, write_between_markers

KEY = "XOBENCHTRANSFER00001"
SECRET = "bench-transfer-secret-not-for-production-0000"
MiB = 1024 * 1024


@dataclass(frozen=True)
class Row:
    """One timed transfer of one system."""

    row: str
    system: str
    seconds: float
    bytes: int

    @property
    def mb_per_s(self) -> float:
        """Throughput in MB/s (10^6 bytes)."""
        return self.bytes / 1e6 / self.seconds


def make_file(path: Path, size: int, seed: int) -> None:
    """One random MiB repeated, each copy starting with ``seed`` and its index, so no two
    chunks are alike within the file or across systems."""
    block = os.urandom(MiB)
    with path.open("wb") as out:
        for i in range(size // MiB):
            out.write(seed.to_bytes(4, "big") + i.to_bytes(4, "big") + block[8:])


def make_tree(root: Path, count: int, size: int, seed: int) -> None:
    """``count`` files of ``size`` bytes over up to 20 directories, each starting with ``seed``
    and its index, so no two systems upload the same bytes."""
    for i in range(count):
        path = root / f"d{i % 20:02d}" / f"f{i:05d}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(seed.to_bytes(4, "big") + i.to_bytes(4, "big") + os.urandom(size - 8))


@contextmanager
def cluster(work: Path) -> Iterator[dict[str, str]]:
    """A ``xolo cluster up`` of three peers for the length of the context; yields the
    router's URLs and takes the cluster down afterwards."""
    directory = work / "cluster"
    env = dict(os.environ, XOLO_ROOT_ACCESS_KEY=KEY, XOLO_ROOT_SECRET_KEY=SECRET)
    cmd = cluster_up_command(directory, peers=3, inline_threshold="64KiB", router_workers=1)
    up = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
    if up.returncode != 0:
        raise RuntimeError(f"xolo cluster up failed:\n{up.stdout}{up.stderr}")
    try:
        state = json.loads((directory / "cluster.json").read_text())
        yield {"url": state["routers"][0]["url"], "s3_url": state["routers"][0]["s3_url"]}
    finally:
        subprocess.run(
            [sys.executable, "-m", "xolo", "cluster", "down", "--dir", str(directory)],
            env=env,
            capture_output=True,
            timeout=120,
        )


def timed(fn: Callable[[], object]) -> float:
    """Seconds ``fn`` takes, started with nothing left to write back: every step begins after
    ``sync``, so no row pays for the page cache the previous step (its own PUT, another
    system's files) left dirty."""
    os.sync()
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def rclone_env(s3_url: str) -> dict[str, str]:
    """An environment that defines the rclone remote ``x:`` on the router's S3 endpoint."""
    return dict(
        os.environ,
        RCLONE_CONFIG="/dev/null",
        RCLONE_CONFIG_X_TYPE="s3",
        RCLONE_CONFIG_X_PROVIDER="Other",
        RCLONE_CONFIG_X_ACCESS_KEY_ID=KEY,
        RCLONE_CONFIG_X_SECRET_ACCESS_KEY=SECRET,
        RCLONE_CONFIG_X_ENDPOINT=s3_url,
        RCLONE_CONFIG_X_REGION="us-east-1",
        RCLONE_CONFIG_X_FORCE_PATH_STYLE="true",
    )


def rclone(exe: str, env: dict[str, str], *args: str) -> None:
    """Run rclone; RuntimeError with the end of its stderr when it fails."""
    r = subprocess.run([exe, *args], env=env, capture_output=True, text=True, timeout=1800)
    if r.returncode != 0:
        raise RuntimeError(f"rclone {' '.join(args)}: {r.stderr[-2000:]}")


def run_rows(work: Path, *, size: int, files: int, file_size: int) -> list[Row]:
    """Every row for every system available, on one cluster."""
    rows: list[Row] = []
    with cluster(work) as c:
        client = xolo.Client(url=c["url"], access_key=KEY, secret_key=SECRET, cache_bytes=0)
        s3 = boto3.client(
            "s3",
            endpoint_url=c["s3_url"],
            aws_access_key_id=KEY,
            aws_secret_access_key=SECRET,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, max_pool_connections=16),
        )
        client.create_bucket("transfer")
        exe = installed("rclone")
        renv = rclone_env(c["s3_url"])
        big = f"{size // MiB} MiB file"
        bulk = f"{files} x {file_size // 1024} KiB files"
        seeds = iter(range(1, 100))

        def upload(system: str, fn: Callable[[Path], object]) -> None:
            src = work / f"{system}.bin"
            make_file(src, size, next(seeds))
            rows.append(Row(f"{big} PUT", system, timed(lambda: fn(src)), size))
            back = work / f"{system}.back"
            rows.append(Row(f"{big} GET", system, timed(lambda: download[system](back)), size))
            back.unlink(missing_ok=True)
            src.unlink()

        download: dict[str, Callable[[Path], object]] = {
            "xolo direct": lambda p: client.get_to_file("transfer", "direct.bin", p),
            "xolo via router": lambda p: client.get_to_file(
                "transfer", "router.bin", p, direct=False
            ),
            "boto3": lambda p: s3.download_file("transfer", "boto3.bin", str(p)),
            "rclone": lambda p: rclone(
                exe or "rclone", renv, "copyto", "x:transfer/rclone.bin", str(p)
            ),
        }
        upload("xolo direct", lambda p: client.put_file("transfer", "direct.bin", p, direct=True))
        upload(
            "xolo via router",
            lambda p: client.put_file("transfer", "router.bin", p, direct=False),
        )
        config = TransferConfig(multipart_chunksize=8 * MiB, max_concurrency=10)
        upload("boto3", lambda p: s3.upload_file(str(p), "transfer", "boto3.bin", Config=config))
        if exe:
            upload("rclone", lambda p: rclone(exe, renv, "copyto", str(p), "x:transfer/rclone.bin"))

        def tree(system: str, fn: Callable[[Path], object]) -> None:
            root = work / f"tree-{system}"
            make_tree(root, files, file_size, next(seeds))
            rows.append(Row(f"{bulk} PUT", system, timed(lambda: fn(root)), files * file_size))
            shutil.rmtree(root)

        tree("xolo direct", lambda r: client.upload_tree(r, "transfer", "t-xolo", concurrency=16))
        tree(
            "boto3",
            lambda r: _boto3_tree(s3, r, "t-boto3"),
        )
        if exe:
            tree(
                "rclone",
                lambda r: rclone(
                    exe, renv, "copy", str(r), "x:transfer/t-rclone", "--transfers", "16"
                ),
            )
        client.close()
    return rows


def _boto3_tree(s3: object, root: Path, prefix: str) -> None:
    paths = [p for p in root.rglob("*") if p.is_file()]

    def one(p: Path) -> None:
        s3.upload_file(str(p), "transfer", f"{prefix}/{p.relative_to(root).as_posix()}")  # type: ignore[attr-defined]

    with ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(one, paths))


def report(rows: list[Row], *, size: int, files: int, file_size: int) -> str:
    """The rows as Markdown tables: times and MB/s, then xolo direct over the best other."""
    lines = [
        f"<!-- written by python -m benchmarks.transfercompare on {time.strftime('%Y-%m-%d')} -->",
        "",
        f"Machine: {machine()}",
        "",
        "One cluster (`xolo cluster up --peers 3 --routers 1`, SQLite, replication 2) serves "
        f"every client; each uploads its own bytes. {size // MiB} MiB file up and down; "
        f"{files} files of {file_size // 1024} KiB up.",
        "",
        "| row | system | seconds | MB/s |",
        "|---|---|---:|---:|",
    ]
    for r in rows:
        lines.append(f"| {r.row} | {r.system} | {r.seconds:.2f} | {r.mb_per_s:,.1f} |")
    lines += ["", "| row | xolo direct / best of boto3 and rclone |", "|---|---:|"]
    for row in dict.fromkeys(r.row for r in rows):
        ours = [r for r in rows if r.row == row and r.system == "xolo direct"]
        theirs = [r for r in rows if r.row == row and r.system in ("boto3", "rclone")]
        if ours and theirs:
            best = max(t.mb_per_s for t in theirs)
            lines.append(f"| {row} | {ours[0].mb_per_s / best:.2f}x |")
    return "\n".join(lines) + "\n"


def main() -> None:
    """Run, print the report, and unless ``--quick`` write it into ``docs/benchmarks.md``."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="small sizes; print only")
    args = ap.parse_args()
    size, files, file_size = (
        (128 * MiB, 300, 64 * 1024) if args.quick else (1024 * MiB, 2000, 64 * 1024)
    )
    with tempfile.TemporaryDirectory(prefix="xolo-transfer-") as tmp:
        rows = run_rows(Path(tmp), size=size, files=files, file_size=file_size)
    text = report(rows, size=size, files=files, file_size=file_size)
    print(text)
    if not args.quick:
        write_between_markers(ROOT / "docs" / "benchmarks.md", text, name="transfer-results")


if __name__ == "__main__":
    main()
