"""A local cluster as separate processes on free loopback ports: ``xolo cluster up/down/...``.

Everything lives under one directory::

    DIR/cluster.json     what runs where: meta, routers, peers (URLs, pids, command lines)
    DIR/master.key       the routers' shared master key (0600)
    DIR/cluster.secret   the cluster secret routers and peers share (0600)
    DIR/credentials.json the root key, when it was generated here (0600)
    DIR/meta.db          SQLite metadata, unless --meta names PostgreSQL
    DIR/peers/NAME/      each peer's data directory
    DIR/logs/NAME.log    each process's output

Secrets reach the children through their environment, never their command line.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from xolo.cli.ports import free_port
from xolo.core.credentials import new_access_key, new_secret
from xolo.service.datadir import key_file

STATE = "cluster.json"
START_TIMEOUT = 60.0


@dataclass(slots=True, kw_only=True)
class Process:
    """One process of the cluster, as cluster.json records it."""

    name: str
    role: str
    url: str
    args: list[str]
    pid: int | None = None
    s3_url: str | None = None
    data: str | None = None
    zone: str | None = None
    id: str | None = None


@dataclass(slots=True, kw_only=True)
class Cluster:
    """The whole of cluster.json."""

    dir: Path
    meta: str
    routers: list[Process] = field(default_factory=list)
    peers: list[Process] = field(default_factory=list)
    root_source: str = ""

    @classmethod
    def load(cls, directory: Path) -> Cluster:
        """Read the cluster.json in ``directory`` (FileNotFoundError when there is none)."""
        doc = json.loads((directory / STATE).read_text())
        return cls(
            dir=directory,
            meta=doc["meta"],
            routers=[Process(**r) for r in doc["routers"]],
            peers=[Process(**p) for p in doc["peers"]],
            root_source=doc.get("root_source", ""),
        )

    def save(self) -> None:
        """Write cluster.json by renaming a temporary file over it: a crash leaves no half file."""
        doc = {
            "meta": self.meta,
            "routers": [_public(p) for p in self.routers],
            "peers": [_public(p) for p in self.peers],
            "root_source": self.root_source,
        }
        temp = self.dir / f".{STATE}.tmp"
        temp.write_text(json.dumps(doc, indent=2) + "\n")
        temp.replace(self.dir / STATE)

    def processes(self) -> list[Process]:
        """Every process, routers first."""
        return [*self.routers, *self.peers]

    def find(self, name: str) -> Process:
        """The process a command names (by name or peer id); KeyError when none has it."""
        for proc in self.processes():
            if name in (proc.name, proc.id):
                return proc
        raise KeyError(name)


def _public(p: Process) -> dict[str, Any]:
    doc = asdict(p)
    if p.role == "router":
        for k in ("data", "zone", "id"):
            doc.pop(k)
    else:
        doc.pop("s3_url")
    return doc


def alive(pid: int | None) -> bool:
    """Whether ``pid`` is a running process. A zombie has exited, so it is not: a child of this
    one is reaped here; another's (a cluster's processes outlive the ``xolo cluster up`` that
    started them, so init reaps them, in its own time: a second or two here) is read from
    ``/proc`` where there is one."""
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie child of this process is not alive
        waited, _ = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        return not _zombie(pid)
    return waited == 0


def _zombie(pid: int) -> bool:
    """Whether ``/proc`` says ``pid`` has exited and waits to be reaped (False without /proc)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    # The state follows the command name, which is in parentheses and may hold spaces.
    return stat.rpartition(")")[2].split()[:1] == ["Z"]


def credentials(directory: Path) -> tuple[tuple[str, str], str]:
    """The root key (from the environment, or generated once into credentials.json) and a
    sentence saying where it came from."""
    key, secret = os.environ.get("XOLO_ROOT_ACCESS_KEY"), os.environ.get("XOLO_ROOT_SECRET_KEY")
    if key and secret:
        return (key, secret), "XOLO_ROOT_ACCESS_KEY / XOLO_ROOT_SECRET_KEY (from your environment)"
    path = directory / "credentials.json"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"access_key": new_access_key(), "secret_key": new_secret()}, f)
    doc = json.loads(path.read_text())
    return (doc["access_key"], doc["secret_key"]), f"{path} (generated; mode 0600)"


def cluster_secret(directory: Path) -> str:
    """The secret routers and peers share: XOLO_CLUSTER_SECRET, or one generated once into
    cluster.secret (mode 0600)."""
    env = os.environ.get("XOLO_CLUSTER_SECRET")
    if env:
        return env
    path = directory / "cluster.secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    return path.read_text().strip()


def child_env(directory: Path) -> dict[str, str]:
    """This environment plus the root key and the cluster secret, which children get here, never
    as arguments."""
    (key, secret), _ = credentials(directory)
    env = dict(os.environ)
    env.update(
        XOLO_ROOT_ACCESS_KEY=key,
        XOLO_ROOT_SECRET_KEY=secret,
        XOLO_CLUSTER_SECRET=cluster_secret(directory),
    )
    return env


def spawn(cluster: Cluster, proc: Process) -> None:
    """Start (or restart) one process from its recorded command line; wait until healthy."""
    logs = cluster.dir / "logs"
    logs.mkdir(exist_ok=True)
    log = logs / f"{proc.name}.log"
    with open(log, "ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "xolo", *proc.args],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=child_env(cluster.dir),
            start_new_session=True,
        )
    proc.pid = child.pid
    wait_healthy(proc, log)


def wait_healthy(proc: Process, log: Path, timeout: float = START_TIMEOUT) -> None:
    """Poll until the process answers ``/health``; RuntimeError when it exits first (quoting the
    end of its log) or ``timeout`` passes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not alive(proc.pid):
            tail = log.read_text(errors="replace")[-3000:]
            raise RuntimeError(f"{proc.name} exited while starting; its log ends:\n{tail}")
        try:
            if httpx.get(f"{proc.url}/health", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)  # polling a process that is starting
    raise RuntimeError(f"{proc.name} did not answer /health within {timeout:.0f} s (see {log})")


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """Settings handed to every router (and the peers' heartbeat)."""

    inline_threshold: str = "64KiB"
    chunk_size: str = "8MiB"
    heartbeat: float = 1.0
    suspect_after: float = 5.0
    down_after: float = 60.0
    repair_rate: str = "64MiB"
    capacity: str | None = None
    router_workers: int = 1
    log_level: str = "warning"


def router_process(cluster: Cluster, index: int, opts: Options) -> Process:
    """Router number ``index`` on two free loopback ports (native and S3); recorded, not started."""
    port, s3_port = free_port(), free_port()
    name = f"router-{index + 1}"
    args = [
        "router",
        "--host", "127.0.0.1",
        "--port", str(port),
        "--s3-port", str(s3_port),
        "--meta", cluster.meta,
        "--master-key", str(cluster.dir / "master.key"),
        "--inline-threshold", opts.inline_threshold,
        "--chunk-size", opts.chunk_size,
        "--heartbeat", str(opts.heartbeat),
        "--suspect-after", str(opts.suspect_after),
        "--down-after", str(opts.down_after),
        "--repair-rate", opts.repair_rate,
        "--workers", str(opts.router_workers),
        "--log-level", opts.log_level,
    ]  # fmt: skip
    return Process(
        name=name,
        role="router",
        url=f"http://127.0.0.1:{port}",
        s3_url=f"http://127.0.0.1:{s3_port}",
        args=args,
    )


def peer_process(cluster: Cluster, index: int, zone: str, opts: Options) -> Process:
    """Peer number ``index`` on a free loopback port, its data under DIR/peers/, joining every
    router; recorded, not started."""
    port = free_port()
    name = f"peer-{index + 1}"
    data = cluster.dir / "peers" / name
    args = [
        "peer",
        "--data", str(data),
        "--host", "127.0.0.1",
        "--port", str(port),
        "--join", ",".join(r.url for r in cluster.routers),
        "--zone", zone,
        "--peer-id", name,
        "--heartbeat", str(opts.heartbeat),
        "--log-level", opts.log_level,
    ]  # fmt: skip
    if opts.capacity:
        args += ["--capacity", opts.capacity]
    return Process(
        name=name,
        role="peer",
        id=name,
        url=f"http://127.0.0.1:{port}",
        data=str(data),
        zone=zone,
        args=args,
    )


def up(
    directory: Path, *, peers: int, routers: int, meta: str | None, zones: int, opts: Options
) -> Cluster:
    """Start a whole cluster; returns it once every peer is up on the first router."""
    directory = directory.resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if (directory / STATE).exists() and any(
        alive(p.pid) for p in Cluster.load(directory).processes()
    ):
        raise RuntimeError(f"a cluster is already running in {directory}")
    key_file(directory / "master.key")
    _, source = credentials(directory)
    cluster = Cluster(dir=directory, meta=meta or f"sqlite:///{directory / 'meta.db'}")
    cluster.root_source = source
    try:
        for i in range(routers):
            cluster.routers.append(router_process(cluster, i, opts))
            spawn(cluster, cluster.routers[-1])
        for i in range(peers):
            cluster.peers.append(peer_process(cluster, i, f"zone-{i % zones + 1}", opts))
            spawn(cluster, cluster.peers[-1])
        cluster.save()
        wait_peers_up(cluster, [p.id for p in cluster.peers if p.id])
    except BaseException:
        cluster.save()
        down(cluster)
        raise
    return cluster


def add_peer(cluster: Cluster, *, zone: str | None, opts: Options) -> Process:
    """Start one more peer, joining every router."""
    index = len(cluster.peers)
    proc = peer_process(cluster, index, zone or f"zone-{index + 1}", opts)
    cluster.peers.append(proc)
    spawn(cluster, proc)
    cluster.save()
    wait_peers_up(cluster, [proc.id or proc.name])
    return proc


def wait_peers_up(cluster: Cluster, ids: list[str], timeout: float = START_TIMEOUT) -> None:
    """Until the first router lists every named peer as up."""
    (key, secret), _ = credentials(cluster.dir)
    deadline = time.monotonic() + timeout
    states: dict[str, str] = {}
    while time.monotonic() < deadline:
        try:
            r = httpx.get(f"{cluster.routers[0].url}/v1/admin/peers", auth=(key, secret), timeout=2)
            states = {p["id"]: p["state"] for p in r.json()["peers"]}
            if all(states.get(i) == "up" for i in ids):
                return
        except (httpx.HTTPError, KeyError, ValueError):
            pass
        time.sleep(0.1)  # polling for heartbeats to arrive
    raise RuntimeError(f"peers did not all come up: {states}")


def stop_all(procs: Sequence[Process], *, timeout: float = 30.0) -> None:
    """SIGTERM every one at once (each drains on its own), wait for all, then SIGKILL any
    still running after ``timeout``."""
    running = [p.pid for p in procs if p.pid and alive(p.pid)]
    for pid in running:
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(alive(pid) for pid in running) and time.monotonic() < deadline:
        time.sleep(0.05)  # polling: these processes are not ours to wait for
    for pid in running:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)
    for proc in procs:
        proc.pid = None


def down(cluster: Cluster) -> None:
    """Stop every process: the peers together, then the routers together."""
    stop_all(cluster.peers)
    stop_all(cluster.routers)
    cluster.save()


def start(cluster: Cluster, name: str) -> Process:
    """Start a stopped process again with its recorded command line (same ports and data)."""
    proc = cluster.find(name)
    if alive(proc.pid):
        raise RuntimeError(f"{proc.name} is already running (pid {proc.pid})")
    spawn(cluster, proc)
    cluster.save()
    return proc


def status(cluster: Cluster) -> list[dict[str, Any]]:
    """Each process: alive, healthy, and (peers) the state the first live router reports."""
    (key, secret), _ = credentials(cluster.dir)
    states: dict[str, str] = {}
    for router in cluster.routers:
        if not alive(router.pid):
            continue
        try:
            r = httpx.get(f"{router.url}/v1/admin/peers", auth=(key, secret), timeout=2)
            states = {p["id"]: p["state"] for p in r.json()["peers"]}
            break
        except (httpx.HTTPError, KeyError, ValueError):
            continue
    rows = []
    for proc in cluster.processes():
        healthy = False
        if alive(proc.pid):
            try:
                healthy = httpx.get(f"{proc.url}/health", timeout=2).status_code == 200
            except httpx.HTTPError:
                healthy = False
        rows.append(
            {
                "name": proc.name,
                "role": proc.role,
                "url": proc.url,
                "pid": proc.pid if alive(proc.pid) else None,
                "healthy": healthy,
                "state": states.get(proc.id or "", "-") if proc.role == "peer" else "-",
            }
        )
    return rows
