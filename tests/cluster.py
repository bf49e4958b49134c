"""Real clusters for tests: started with ``xolo cluster up`` (as users start them), processes
killed with SIGKILL, restarted with ``xolo cluster start``, peers inspected on their disks."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import httpx
from botocore.config import Config

from tests.server import ROOT_KEY, ROOT_SECRET
from xolo.cli.launcher import Cluster, alive


def xolo(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> str:
    """Run the ``xolo`` CLI in a child process, as a user would; its stdout, or RuntimeError with
    both outputs when it fails."""
    r = subprocess.run(
        [sys.executable, "-m", "xolo", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )
    if r.returncode != 0:
        raise RuntimeError(f"xolo {' '.join(args)} failed:\n{r.stdout}\n{r.stderr}")
    return r.stdout


def wait_for(what: str, check: Callable[[], bool], timeout: float = 60) -> None:
    """Poll ``check`` until true (a condition, never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


class LocalCluster:
    """A cluster under ``directory``, driven through the ``xolo cluster`` commands."""

    def __init__(self, directory: Path, **options: Any) -> None:
        self.dir = directory
        self.options = options
        self.env = dict(os.environ, XOLO_ROOT_ACCESS_KEY=ROOT_KEY, XOLO_ROOT_SECRET_KEY=ROOT_SECRET)
        self.auth = (ROOT_KEY, ROOT_SECRET)

    def up(self) -> LocalCluster:
        """``xolo cluster up`` with this cluster's options as flags (``peers=3`` is ``--peers 3``);
        keeps the command's output and returns the cluster, to chain."""
        args = ["cluster", "up", "--dir", str(self.dir)]
        for name, value in self.options.items():
            args += [f"--{name.replace('_', '-')}", str(value)]
        self.output = xolo(*args, env=self.env)
        return self

    @property
    def state(self) -> Cluster:
        """cluster.json, read afresh each time, so pids are current after a kill or a restart."""
        return Cluster.load(self.dir)

    def down(self) -> None:
        """``xolo cluster down``: stop every process cleanly (the data stays)."""
        xolo("cluster", "down", "--dir", str(self.dir), env=self.env)

    def kill(self, name: str) -> None:
        """SIGKILL one process: no draining, no goodbye."""
        pid = self.state.find(name).pid
        assert pid is not None and alive(pid), f"{name} is not running"
        os.kill(pid, signal.SIGKILL)
        wait_for(f"{name} to die", lambda: not alive(pid))

    def start(self, name: str) -> None:
        """``xolo cluster start``: start a stopped or killed process again on the same ports and
        data; returns once it answers ``/health``."""
        xolo("cluster", "start", "--dir", str(self.dir), name, env=self.env)

    def add_peer(self, **options: str) -> str:
        """``xolo cluster add-peer`` with ``options`` as flags; the new peer's name, read from the
        command's output."""
        args = ["cluster", "add-peer", "--dir", str(self.dir)]
        for name, value in options.items():
            args += [f"--{name}", value]
        return xolo(*args, env=self.env).split(":")[0].split()[-1]

    # -- clients ---------------------------------------------------------------------------

    def router_urls(self) -> list[str]:
        """Each router's native API URL, in cluster.json's order."""
        return [r.url for r in self.state.routers]

    def http(self, router: int = 0, **kwargs: Any) -> httpx.Client:
        """An HTTP client for one router's native API, as root; the long timeout lets large objects
        cross a degraded cluster."""
        return httpx.Client(
            base_url=self.router_urls()[router], auth=self.auth, timeout=120, **kwargs
        )

    def s3(self, router: int = 0) -> Any:
        """A boto3 client for one router's S3 port, as root; one attempt only, so a failure is seen
        rather than retried away."""
        return boto3.client(
            "s3",
            endpoint_url=self.state.routers[router].s3_url,
            aws_access_key_id=ROOT_KEY,
            aws_secret_access_key=ROOT_SECRET,
            region_name="us-east-1",
            config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
        )

    def admin(self, method: str, path: str, router: int = 0) -> Any:
        """One admin API call as root; the JSON answer, raising on an error status."""
        with self.http(router) as http:
            r = http.request(method, path)
            r.raise_for_status()
            return r.json()

    def peer_states(self, router: int = 0) -> dict[str, str]:
        """Each peer id's state (up, suspect, down) as one router sees it: the condition most waits
        poll."""
        return {p["id"]: p["state"] for p in self.admin("GET", "/v1/admin/peers", router)["peers"]}

    def run_task(self, name: str, router: int = 0) -> dict[str, Any]:
        """Run a background task (repair, scrub, ...) now instead of waiting for its schedule;
        asserts it ended without error and returns its report."""
        doc: dict[str, Any] = self.admin("POST", f"/v1/admin/tasks/{name}/run", router)
        assert doc["last_error"] is None, doc
        return doc

    # -- looking at the peers' disks -------------------------------------------------------

    def chunk_path(self, peer: str, sha256: str) -> Path:
        """Where a peer's disk keeps a chunk (the content-addressed layout), for tests that damage
        or check copies directly."""
        data = self.state.find(peer).data
        assert data is not None
        return Path(data) / "chunks" / sha256[:2] / sha256[2:4] / sha256

    def holders(self, sha256: str) -> list[str]:
        """The peers whose disk holds an intact copy of the chunk."""
        found = []
        for peer in self.state.peers:
            path = self.chunk_path(peer.name, sha256)
            if path.exists() and hashlib.sha256(path.read_bytes()).hexdigest() == sha256:
                found.append(peer.name)
        return found

    def chunks_of(self, bucket: str, key: str) -> list[str]:
        """The chunk names of an object's manifest (from the metadata store)."""
        import sqlite3

        meta = self.state.meta
        assert meta.startswith("sqlite:///"), "chunks_of reads a SQLite metadata file"
        conn = sqlite3.connect(meta[len("sqlite:///") :])
        try:
            row = conn.execute(
                "SELECT chunks FROM objects WHERE bucket = ? AND key = ?", (bucket, key.encode())
            ).fetchone()
        finally:
            conn.close()
        assert row is not None, f"{bucket}/{key} is not stored"
        return [sha for sha, _ in json.loads(row[0])]
