"""Starting real ``xolo serve`` processes on free loopback ports, for integration tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from xolo.cli.ports import free_port

__all__ = ["ROOT_KEY", "ROOT_SECRET", "PeerProcess", "XoloServer", "free_port"]

ROOT_KEY = "XOTESTROOTKEY0000001"
ROOT_SECRET = "test-secret-not-for-production-0000000000"


class XoloServer:
    """One ``xolo serve`` process over a data directory; restartable on the same directory."""

    def __init__(
        self,
        data: Path,
        *,
        extra_args: tuple[str, ...] = (),
        env: dict[str, str] | None = None,
        root: bool = True,
    ) -> None:
        self.data = data
        self.port = free_port()
        self.s3_port = free_port()
        self.extra_args = extra_args
        self.env = dict(os.environ)
        self.env.pop("XOLO_ROOT_ACCESS_KEY", None)
        self.env.pop("XOLO_ROOT_SECRET_KEY", None)
        if root:
            self.env.update(XOLO_ROOT_ACCESS_KEY=ROOT_KEY, XOLO_ROOT_SECRET_KEY=ROOT_SECRET)
        self.env.update(env or {})
        self.proc: subprocess.Popen[bytes] | None = None
        self.log_path = data.parent / f"{data.name}-server.log"
        self.scheme = "http"

    @property
    def url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def s3_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.s3_port}"

    @property
    def auth(self) -> tuple[str, str]:
        return (ROOT_KEY, ROOT_SECRET)

    def start(self, timeout: float = 20.0) -> XoloServer:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "xolo",
                    "serve",
                    "--data",
                    str(self.data),
                    "--port",
                    str(self.port),
                    "--s3-port",
                    str(self.s3_port),
                    *self.extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"xolo serve exited early:\n{self.log()}")
            try:
                if httpx.get(f"{self.url}/health", timeout=1, verify=False).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"xolo serve did not become healthy:\n{self.log()}")

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, **kwargs: object) -> httpx.Client:
        options: dict[str, object] = {"timeout": 60, **kwargs}
        return httpx.Client(base_url=self.url, auth=self.auth, **options)  # type: ignore[arg-type]

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 30) -> int:
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


class PeerProcess:
    """One ``xolo peer`` process on a free port (no router needed to serve chunks)."""

    def __init__(self, data: Path, *, secret: str, join: str = "http://127.0.0.1:9") -> None:
        self.data = data
        self.port = free_port()
        self.secret = secret
        self.join = join
        self.proc: subprocess.Popen[bytes] | None = None
        self.env = dict(os.environ, XOLO_ROOT_ACCESS_KEY=ROOT_KEY, XOLO_ROOT_SECRET_KEY=ROOT_SECRET)
        self.env["XOLO_CLUSTER_SECRET"] = secret

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> PeerProcess:
        self.data.mkdir(parents=True, exist_ok=True)
        log = open(self.data.parent / f"{self.data.name}.log", "ab")  # noqa: SIM115
        self.proc = subprocess.Popen(
            [
                sys.executable, "-m", "xolo", "peer",
                "--data", str(self.data),
                "--port", str(self.port),
                "--join", self.join,
                "--heartbeat", "3600",
                "--log-level", "warning",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=self.env,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("xolo peer exited early")
            try:
                if httpx.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError("xolo peer did not become healthy")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
