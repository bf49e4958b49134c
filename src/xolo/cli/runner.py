"""Running ASGI apps under uvicorn, the same way for every role (serve, router, peer): sockets
bound before the server starts, one port per surface, and SIGTERM that drains and exits 0."""

from __future__ import annotations

import contextlib
import logging
import socket
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from types import FrameType
from typing import Any

import click
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.config import STARTUP_FAILURE
from uvicorn.supervisors import Multiprocess
from uvicorn.supervisors.multiprocess import Process

from xolo.cli import logs
from xolo.cli.sendfile import PathsendProtocol
from xolo.service.events import DRAINING

log = logging.getLogger("uvicorn.error")
"""The supervisor's messages go where uvicorn's own go (its configured server log)."""


def bind(host: str, port: int) -> socket.socket:
    """A listening socket, bound now so a taken port is a clear error before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise click.ClickException(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    sock.set_inheritable(True)
    return sock


def _reuse_port_socket(address: tuple[Any, ...], family: int) -> socket.socket:
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(address)
    sock.set_inheritable(True)
    return sock


BALANCES_REUSE_PORT = sys.platform.startswith("linux") and hasattr(socket, "SO_REUSEPORT")
"""Linux spreads the connections of one port over every socket bound to it with SO_REUSEPORT
(by a hash of each connection's addresses); other systems may hand them all to one socket."""


class BalancedMultiprocess(Multiprocess):
    """uvicorn's worker supervisor, but each worker listens on sockets of its own.

    With one shared listening socket, whichever worker is awake accepts every pending
    connection: a load generator's (or a proxy's) 16 keep-alive connections measured all on one
    of two workers, which left a core idle. Here each worker binds the same addresses with
    SO_REUSEPORT and the kernel spreads new connections across them. The parent first bound
    each address without it (``bind``), so a port another server holds is still a clear error;
    it then lets go, and closes its copy of every worker's sockets once the worker has them,
    so the sockets of a worker that dies close with it (no connection waits on a socket nobody
    accepts on)."""

    def __init__(self, config: uvicorn.Config, sockets: Sequence[socket.socket]) -> None:
        super().__init__(config, sockets=[])
        self._addresses = [(s.getsockname(), s.family) for s in sockets]
        for sock in sockets:
            sock.close()

    def _spawn(self) -> Process | None:
        """A started worker with sockets of its own; None (logged) when they cannot be bound,
        so a failed respawn waits for the next health check instead of ending the parent."""
        try:
            own = [_reuse_port_socket(address, family) for address, family in self._addresses]
        except OSError as exc:
            where = ", ".join(f"{a[0]}:{a[1]}" for a, _ in self._addresses)
            log.error("cannot listen on %s for a new worker: %s", where, exc.strerror)
            return None
        process = Process(self.config, own)
        try:
            process.start()
        finally:
            for sock in own:
                sock.close()
        return process

    def init_processes(self) -> None:
        """Start every worker, each with its own sockets; a worker that cannot listen at
        startup stops the others and ends the command with that error."""
        for _ in range(self.processes_num):
            process = self._spawn()
            if process is None:
                self.terminate_all()
                self.join_all()
                raise click.ClickException("a worker could not listen on its address")
            self.processes.append(process)

    def keep_subprocess_alive(self) -> None:
        """As uvicorn's: replace a worker that died or hangs, unless it failed at startup. A
        replacement that cannot bind is tried again at the next check."""
        if self.should_exit.is_set():
            return
        for idx, process in enumerate(self.processes):
            if process.is_alive(timeout=self.config.timeout_worker_healthcheck):
                continue
            process.kill()
            process.join()
            if process.exitcode == STARTUP_FAILURE:
                log.error("worker [%s] failed to start, stopping the parent process", process.pid)
                self.should_exit.set()
                return
            if self.should_exit.is_set():
                return
            log.info("worker [%s] died; starting another", process.pid)
            self.processes[idx] = self._spawn() or process

    def restart_all(self) -> None:
        """SIGHUP: replace each worker in turn, the new one serving before the old one stops."""
        for idx, old in enumerate(self.processes):
            if self.should_exit.is_set():
                return
            new = self._spawn()
            if new is None:
                return
            if not new.wait_until_ready(self.config.timeout_worker_healthcheck, self.should_exit):
                new.kill()
                new.join()
                log.error("a new worker was not ready in time; keeping worker [%s]", old.pid)
                return
            old.terminate()
            old.join()
            self.processes[idx] = new

    def handle_ttin(self) -> None:
        """SIGTTIN: one more worker, with sockets of its own (uvicorn's would get the parent's
        list of sockets, which is empty here, and listen on its default address instead)."""
        log.info("received SIGTTIN, adding a worker")
        process = self._spawn()
        if process is not None:
            self.processes_num += 1
            self.processes.append(process)


class Deferred:
    """An app built at lifespan startup, inside the server's event loop (asyncpg pools and
    background tasks must live on that loop), and torn down at shutdown."""

    def __init__(self, build: Callable[[], AbstractAsyncContextManager[ASGIApp]]) -> None:
        self._build = build
        self._app: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            assert self._app is not None, "the app is used before its lifespan started"
            await self._app(scope, receive, send)
            return
        stack = contextlib.AsyncExitStack()
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    self._app = await stack.enter_async_context(self._build())
                except Exception as exc:
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    raise
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await stack.aclose()
                await send({"type": "lifespan.shutdown.complete"})
                return


class DrainingServer(uvicorn.Server):
    """uvicorn re-raises SIGTERM after draining, so the exit status reads "killed by a signal".
    A drained shutdown is a clean one: exit 0, as service managers expect. Long-lived
    responses (the change feed) are told to end as soon as the drain begins."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        """Tell long-lived responses to end (``DRAINING``), then drain as uvicorn does."""
        DRAINING.set()
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """As uvicorn's, but forget the signals caught, so uvicorn does not re-raise them and a
        drained server exits 0."""
        with super().capture_signals():
            try:
                yield
            finally:
                captured = getattr(self, "_captured_signals", None)
                if isinstance(captured, list):
                    captured.clear()


def run(
    app: ASGIApp | str,
    *,
    sockets: Sequence[socket.socket],
    workers: int = 1,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    log_level: str = "info",
    access_log: bool = False,
    graceful_timeout: int = 30,
) -> None:
    """Serve ``app`` (an app, or an import string of a factory for several workers)."""
    options: dict[str, Any] = dict(
        ssl_certfile=tls_cert,
        ssl_keyfile=tls_key,
        log_level=log_level,
        access_log=access_log,
        timeout_graceful_shutdown=graceful_timeout,
        server_header=False,
        proxy_headers=False,
        lifespan="on",
        http=PathsendProtocol,
    )
    logs.install()
    if isinstance(app, str):
        config = uvicorn.Config(app, factory=True, workers=workers, **options)
    else:
        config = uvicorn.Config(app, **options)
    if workers > 1:
        supervisor = BalancedMultiprocess if BALANCES_REUSE_PORT else Multiprocess
        supervisor(config, sockets=list(sockets)).run()
    else:
        DrainingServer(config).run(sockets=list(sockets))
