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
        """The native API's base URL (``https`` once a test serving TLS sets ``scheme``)."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def s3_url(self) -> str:
        """The S3 API's base URL."""
        return f"{self.scheme}://127.0.0.1:{self.s3_port}"

    @property
    def auth(self) -> tuple[str, str]:
        """The root credentials the server is given (unless started with ``root=False``), as an
        httpx auth pair."""
        return (ROOT_KEY, ROOT_SECRET)

    def start(self, timeout: float = 20.0) -> XoloServer:
        """Launch ``xolo serve`` and return once ``/health`` answers; RuntimeError quoting the log
        when it exits or stays unhealthy. The log is appended to, so a restart keeps one log;
        certificates are not verified, so a TLS server with a test certificate counts too."""
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
        """Everything the server has written so far (every run), for failure messages; empty before
        the first start."""
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def client(self, **kwargs: object) -> httpx.Client:
        """An HTTP client for the native API, as root; ``kwargs`` override the defaults (a timeout,
        ``verify``)."""
        options: dict[str, object] = {"timeout": 60, **kwargs}
        return httpx.Client(base_url=self.url, auth=self.auth, **options)  # type: ignore[arg-type]

    def kill(self) -> None:
        """SIGKILL: a crash with no draining or shutdown, for crash-safety tests; nothing when it is
        not running."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM, so the server drains and shuts down cleanly (SIGKILL after ``timeout``); its
        exit code, for tests that assert a clean exit."""
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
        """The peer's base URL, for a PeerVolume to reach it."""
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 20.0) -> PeerProcess:
        """Launch ``xolo peer`` and return once ``/health`` answers. By default it joins an address
        where nothing listens, heartbeating hourly, so it serves chunks with no router at all."""
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
        """SIGTERM, then SIGKILL after 30 s; nothing when it is not running."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
