"""Acceptance: peers on separate hosts. Each of 3 storage peers runs in its own Linux network
namespace (``ip netns``), joined to the default namespace by a veth pair on a bridge, so each
binds and advertises its own non-loopback address (all on the same port, as separate hosts
would); two routers in the default namespace reach them across that virtual network. One peer
is SIGKILLed during a mixed load: no acknowledged write is lost, every read of an acknowledged
object is byte-identical, and once the peer is back repair restores 2 intact copies of every
chunk (checked on the peers' disks).

Making namespaces needs root and iproute2; where they cannot be made the test skips with the
reason, unless ``XOLO_TEST_SERVICES`` is set, where it fails with it.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import secrets
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.cluster import wait_for
from tests.probe.load import GONE, Ledger, MixedLoad, verify_all
from tests.server import ROOT_KEY, ROOT_SECRET
from tests.services import ENV, services_required
from xolo.cli.ports import free_port
from xolo.core.placement import Candidate, owners

pytestmark = pytest.mark.slow

PEERS = 3
PEER_PORT = 9100
"""Every peer listens on the same port, each on its own host (namespace)."""
LOAD_SECONDS = 20
KILL_AT = 6
VICTIM = "peer-2"
AUTH = (ROOT_KEY, ROOT_SECRET)


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=30)
    if check and r.returncode != 0:
        raise RuntimeError(f"ip {' '.join(args)} failed ({r.returncode}): {r.stderr.strip()}")
    return r


def namespaces_unavailable() -> str | None:
    """Why network namespaces with veth pairs on a bridge cannot be made here (None: they can)."""
    if os.geteuid() != 0:
        return f"network namespaces need root (running as uid {os.geteuid()})"
    if shutil.which("ip") is None:
        return "no `ip` command (iproute2) on PATH to make network namespaces"
    tag = secrets.token_hex(3)
    ns, bridge, veth = f"xolo-probe-{tag}", f"xolo-pb{tag}", f"xp{tag}"
    try:
        for args in (
            ("netns", "add", ns),
            ("link", "add", bridge, "type", "bridge"),
            ("link", "add", veth, "type", "veth", "peer", "name", veth + "n"),
            ("link", "set", veth + "n", "netns", ns),
            ("link", "set", veth, "master", bridge),
        ):
            r = ip(*args, check=False)
            if r.returncode != 0:
                return f"cannot make network namespaces: `ip {' '.join(args)}`: {r.stderr.strip()}"
    finally:
        ip("link", "del", veth, check=False)
        ip("link", "del", bridge, check=False)
        ip("netns", "del", ns, check=False)
    return None


def free_subnet() -> ipaddress.IPv4Network:
    """A random 10.77.X.0/24 no interface of this host has an address in."""
    used = ip("-o", "-4", "addr", "show").stdout
    for _ in range(100):
        third = secrets.randbelow(256)
        if f"inet 10.77.{third}." not in used:
            return ipaddress.IPv4Network(f"10.77.{third}.0/24")
    raise RuntimeError("no free 10.77.X.0/24 subnet")


class VirtualNetwork:
    """A bridge in the default namespace (the routers' host) and one namespace per peer host,
    each joined to the bridge by a veth pair. Everything made is removed by ``destroy``."""

    def __init__(self) -> None:
        self.tag = secrets.token_hex(3)
        self.bridge = f"xolo-br{self.tag}"
        self.subnet = free_subnet()
        self.namespaces: list[str] = []
        self.links: list[str] = []

    def address(self, index: int) -> str:
        """The bridge's address for 0, host ``index``'s address otherwise."""
        return str(self.subnet.network_address + (1 if index == 0 else 10 + index))

    @property
    def gateway(self) -> str:
        return self.address(0)

    def create(self, hosts: int) -> VirtualNetwork:
        prefix = self.subnet.prefixlen
        ip("link", "add", self.bridge, "type", "bridge")
        self.links.append(self.bridge)
        ip("addr", "add", f"{self.gateway}/{prefix}", "dev", self.bridge)
        ip("link", "set", self.bridge, "up")
        for n in range(1, hosts + 1):
            ns, outer, inner = f"xolo-{self.tag}-p{n}", f"xv{self.tag}p{n}", f"xv{self.tag}n{n}"
            ip("netns", "add", ns)
            self.namespaces.append(ns)
            ip("link", "add", outer, "type", "veth", "peer", "name", inner)
            self.links.append(outer)
            ip("link", "set", inner, "netns", ns)
            ip("link", "set", outer, "master", self.bridge)
            ip("link", "set", outer, "up")
            ip("-n", ns, "addr", "add", f"{self.address(n)}/{prefix}", "dev", inner)
            ip("-n", ns, "link", "set", inner, "up")
            ip("-n", ns, "link", "set", "lo", "up")
        return self

    def namespace(self, index: int) -> str:
        return self.namespaces[index - 1]

    def destroy(self) -> list[str]:
        """Remove every link and namespace made (the processes in them must be gone); what is
        left. Links go first: deleting one end of a veth pair deletes both at once, whereas a
        deleted namespace takes its devices with it only later, in the background."""
        for link in reversed(self.links):  # the veths, then the bridge
            ip("link", "del", link, check=False)
        for ns in self.namespaces:
            ip("netns", "del", ns, check=False)
        names = ip("netns", "list").stdout.split()
        left = [f"namespace {ns}" for ns in self.namespaces if ns in names]
        left += [
            f"link {n}" for n in self.links if ip("link", "show", n, check=False).returncode == 0
        ]
        return left


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


class NetnsCluster:
    """Routers in the default namespace, each peer in its own: real processes, SIGKILLable."""

    def __init__(self, directory: Path, net: VirtualNetwork) -> None:
        self.dir = directory
        self.net = net
        self.env = dict(os.environ, XOLO_ROOT_ACCESS_KEY=ROOT_KEY, XOLO_ROOT_SECRET_KEY=ROOT_SECRET)
        for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            self.env.pop(name, None)  # the virtual network is reachable only directly
        self.meta = f"sqlite:///{(directory / 'meta.db').resolve()}"
        self.routers: list[str] = []
        self.procs: dict[str, subprocess.Popen[bytes]] = {}

    def _spawn(self, name: str, command: list[str]) -> subprocess.Popen[bytes]:
        with open(self.dir / f"{name}.log", "ab") as log:
            proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=self.env)
        self.procs[name] = proc
        return proc

    def log(self, name: str) -> str:
        path = self.dir / f"{name}.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def _healthy(self, name: str, url: str) -> bool:
        proc = self.procs[name]
        if proc.poll() is not None:
            raise AssertionError(f"{name} exited with {proc.returncode}:\n{self.log(name)}")
        try:
            return httpx.get(f"{url}/health", timeout=1, trust_env=False).status_code == 200
        except httpx.HTTPError:
            return False

    def start_router(self) -> str:
        name = f"router-{len(self.routers) + 1}"
        host = self.net.gateway
        port, s3_port = free_port(host), free_port(host)
        url = f"http://{host}:{port}"
        self._spawn(name, [
            sys.executable, "-m", "xolo", "router",
            "--host", host,
            "--port", str(port),
            "--s3-port", str(s3_port),
            "--meta", self.meta,
            "--master-key", str(self.dir / "master.key"),
            "--inline-threshold", "1KiB",
            "--chunk-size", "1MiB",
            "--heartbeat", "0.25",
            "--suspect-after", "1",
            "--down-after", "600",
            "--repair-rate", "1GiB",
            "--advertise", url,
            "--log-level", "warning",
        ])  # fmt: skip
        wait_for(f"{name} to answer on {url}", lambda: self._healthy(name, url), timeout=60)
        self.routers.append(url)
        return url

    def peer_url(self, n: int) -> str:
        return f"http://{self.net.address(n)}:{PEER_PORT}"

    def data(self, peer: str) -> Path:
        return self.dir / "peers" / peer

    def start_peer(self, n: int) -> None:
        name, url = f"peer-{n}", self.peer_url(n)
        self.data(name).mkdir(parents=True, exist_ok=True)
        proc = self._spawn(name, [
            "ip", "netns", "exec", self.net.namespace(n),
            sys.executable, "-m", "xolo", "peer",
            "--data", str(self.data(name)),
            "--host", self.net.address(n),
            "--port", str(PEER_PORT),
            "--advertise", url,
            "--join", ",".join(self.routers),
            "--zone", f"host-{n}",
            "--peer-id", name,
            "--heartbeat", "0.25",
            "--log-level", "warning",
        ])  # fmt: skip
        # The routers' namespace reaches the peer over its veth address.
        wait_for(f"{name} to answer on {url}", lambda: self._healthy(name, url), timeout=60)
        # `ip netns exec` execs the command: the handle's pid is the peer itself, in its host.
        cmdline = Path(f"/proc/{proc.pid}/cmdline").read_bytes().split(b"\0")
        assert b"xolo" in cmdline and b"peer" in cmdline, cmdline
        inode = os.stat(f"/run/netns/{self.net.namespace(n)}").st_ino
        assert os.readlink(f"/proc/{proc.pid}/ns/net") == f"net:[{inode}]"
        assert os.readlink(f"/proc/{proc.pid}/ns/net") != os.readlink("/proc/self/ns/net")

    def kill(self, name: str) -> None:
        """SIGKILL one process: no draining, no goodbye."""
        proc = self.procs[name]
        assert proc.poll() is None, f"{name} is not running"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(30)
        assert proc.returncode == -signal.SIGKILL, proc.returncode
        wait_for(f"{name} to die", lambda: not alive(proc.pid))

    def stop_all(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.kill()
        for proc in self.procs.values():
            proc.wait(30)

    # -- clients ---------------------------------------------------------------------------

    def http(self, router: int = 0) -> httpx.Client:
        return httpx.Client(base_url=self.routers[router], auth=AUTH, timeout=120, trust_env=False)

    def admin(self, method: str, path: str, router: int = 0) -> Any:
        with self.http(router) as http:
            r = http.request(method, path)
            r.raise_for_status()
            return r.json()

    def peers(self, router: int = 0) -> dict[str, dict[str, Any]]:
        return {p["id"]: p for p in self.admin("GET", "/v1/admin/peers", router)["peers"]}

    def all_up(self, names: list[str]) -> bool:
        for router in range(len(self.routers)):
            states = self.peers(router)
            if any(states.get(n, {}).get("state") != "up" for n in names):
                return False
        return True

    # -- looking at the peers' disks -------------------------------------------------------

    def holders(self, sha256: str) -> list[str]:
        """The peers whose disk holds an intact copy of the chunk."""
        found = []
        for n in range(1, PEERS + 1):
            peer = f"peer-{n}"
            path = self.data(peer) / "chunks" / sha256[:2] / sha256[2:4] / sha256
            if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256:
                found.append(peer)
        return found

    def chunks_of(self, bucket: str, key: str) -> list[str]:
        conn = sqlite3.connect(self.meta[len("sqlite:///") :])
        try:
            row = conn.execute(
                "SELECT chunks FROM objects WHERE bucket = ? AND key = ?", (bucket, key.encode())
            ).fetchone()
        finally:
            conn.close()
        assert row is not None, f"{bucket}/{key} is not stored"
        return [sha for sha, _ in json.loads(row[0])]


@pytest.fixture
def make_netns_cluster(tmp_path: Path) -> Iterator[Callable[[], NetnsCluster]]:
    """Start the cluster (from the test, so that "cannot" fails the test itself under
    XOLO_TEST_SERVICES); whatever was made is removed when the test ends."""
    made: list[NetnsCluster] = []

    def make() -> NetnsCluster:
        reason = namespaces_unavailable()
        if reason is not None:
            print(reason)
            if services_required():
                pytest.fail(f"{reason} ({ENV} is set, so this test may not skip)", pytrace=False)
            pytest.skip(reason)
        net = VirtualNetwork()
        cluster = NetnsCluster(tmp_path, net)
        made.append(cluster)
        net.create(PEERS)
        cluster.start_router()
        cluster.start_router()
        for n in range(1, PEERS + 1):
            cluster.start_peer(n)
        names = [f"peer-{n}" for n in range(1, PEERS + 1)]
        wait_for("every peer to be up on both routers", lambda: cluster.all_up(names))
        return cluster

    yield make
    leftovers = []
    for cluster in made:
        cluster.stop_all()
        leftovers += cluster.net.destroy()
    assert leftovers == [], leftovers


def test_peers_in_separate_namespaces_survive_a_killed_peer_and_are_repaired_to_2_copies(
    make_netns_cluster: Callable[[], NetnsCluster],
) -> None:
    cluster = make_netns_cluster()
    names = [f"peer-{n}" for n in range(1, PEERS + 1)]

    # The routers know each peer by its own host's address, not by a loopback one.
    for router in range(len(cluster.routers)):
        peers = cluster.peers(router)
        for n, name in enumerate(names, start=1):
            url = httpx.URL(peers[name]["url"])
            assert url == httpx.URL(cluster.peer_url(n)), peers[name]
            assert ipaddress.ip_address(url.host) in cluster.net.subnet, peers[name]

    with cluster.http() as http:
        assert http.put("/v1/buckets/load", json={"replication": 2}).status_code == 201
    ledger = Ledger()
    load = MixedLoad(
        clients=[lambda: cluster.http(0), lambda: cluster.http(1)], bucket="load", ledger=ledger
    )
    tally = load.run_for(LOAD_SECONDS, during=lambda: cluster.kill(VICTIM), at=KILL_AT)
    written = tally.bytes_written / 2**20
    print(f"puts {tally.puts}, gets {tally.gets}, deletes {tally.deletes}, {written:.0f} MiB")
    assert tally.puts > 20 and tally.gets > 20, tally
    assert tally.bad_reads == [], tally.bad_reads[:10]
    assert tally.failed == [], tally.failed[:10]
    assert cluster.peers()[VICTIM]["state"] != "up"

    problems = []
    for router in range(len(cluster.routers)):
        with cluster.http(router) as http:
            problems += verify_all(http, "load", ledger)
    assert problems == [], problems[:10]
    live = [k for k, v in ledger.certain().items() if v != GONE]
    assert live, "the load left no object to check"

    cluster.start_peer(int(VICTIM.split("-")[1]))
    wait_for(f"{VICTIM} to be up again", lambda: cluster.all_up([VICTIM]))
    report = cluster.admin("POST", "/v1/admin/tasks/repair/run")
    assert report["last_error"] is None, report

    states = cluster.peers()
    candidates = [
        Candidate(id=p["id"], zone=p["zone"], weight=float(p["capacity"])) for p in states.values()
    ]
    checked = 0
    for key in live:
        for sha in set(cluster.chunks_of("load", key)):
            holders = set(cluster.holders(sha))
            wanted = {c.id for c in owners(candidates, sha, 2)}
            assert len(holders) >= 2 and wanted <= holders, (key, sha, holders, wanted)
            checked += 1
    assert checked > 0
