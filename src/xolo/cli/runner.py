"""Running ASGI apps under uvicorn, the same way for every role (serve, router, peer): sockets
bound before the server starts, one port per surface, and SIGTERM that drains and exits 0."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import AbstractAsyncContextManager
from types import FrameType
from typing import Any

import click
import uvicorn
from starlette.types import ASGIApp, Receive, Scope, Send
from uvicorn.supervisors import Multiprocess

from xolo.cli import logs
from xolo.service.events import DRAINING


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
        DRAINING.set()
        super().handle_exit(sig, frame)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
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
    )
    logs.install()
    if isinstance(app, str):
        config = uvicorn.Config(app, factory=True, workers=workers, **options)
    else:
        config = uvicorn.Config(app, **options)
    if workers > 1:
        Multiprocess(config, sockets=list(sockets)).run()
    else:
        DrainingServer(config).run(sockets=list(sockets))


@contextlib.asynccontextmanager
async def nothing() -> AsyncIterator[None]:
    yield
