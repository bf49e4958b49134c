"""Zero-copy file responses under uvicorn: the ASGI ``http.response.pathsend`` extension.

uvicorn sends every body from Python, so a 4 MiB chunk served from disk is copied twice in user
space (``pread`` into a fresh buffer, then the socket write) and pays the page faults of that
fresh buffer. This protocol adds the extension Granian implements natively: an app that sends
``{"type": "http.response.pathsend", "path": ...}`` after its headers has the file sent by the
kernel with ``os.sendfile``, page cache to socket, with no byte in Python. Starlette's
``FileResponse`` uses the extension whenever a server offers it.

How it sends: the socket is uvicorn's (uvloop's) non-blocking one; each ``sendfile`` call runs
on a worker thread (a file not in the page cache blocks on the disk there, not on the event
loop), and when the socket's buffer is full the task waits for it to drain through a duplicate
of its descriptor (uvloop refuses to watch a descriptor its transport owns). The extension is
offered only on plain TCP connections; TLS, and a response whose headers are still queued,
fall back to reading the file in pieces on a thread.

Coupling: this reaches into uvicorn's httptools protocol (``_start_asgi_task``) and its
request cycle (``expected_content_length``, ``flow``, ``disconnected``);
``tests/unit/test_sendfile.py`` serves real requests through it, so an upgrade that moves them
fails there first.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import os
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol, RequestResponseCycle

from xolo.api.http import PATHSEND

FALLBACK_PIECE = 4 * 1024 * 1024
"""The piece size of the fallback, which reads the file on a thread and sends it from Python."""


class PathsendProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol, offering ``http.response.pathsend`` on plain TCP."""

    def _start_asgi_task(self, cycle: RequestResponseCycle, app: Any) -> None:
        if self.transport.get_extra_info("sslcontext") is not None:
            super()._start_asgi_task(cycle, app)
            return
        super()._start_asgi_task(cycle, _offering_pathsend(cycle, app))


def _offering_pathsend(cycle: RequestResponseCycle, app: Any) -> Any:
    """``app``, told the extension exists, with pathsend messages sent by ``send_path``."""

    async def wrapped(scope: Any, receive: Any, send: Any) -> None:
        scope["extensions"] = {**(scope.get("extensions") or {}), PATHSEND: {}}

        async def send_or_sendfile(message: Any) -> None:
            if message["type"] == PATHSEND:
                await send_path(cycle, message["path"])
            else:
                await send(message)

        await app(scope, receive, send_or_sendfile)

    return wrapped


async def send_path(cycle: RequestResponseCycle, path: str) -> None:
    """Send the file at ``path`` as the whole body of ``cycle``'s response (its headers are
    already written and name its length), then complete the response as uvicorn's own body
    message would. A file whose size is not that length is never sent, and a socket that fails
    is closed: the client sees a short body, never a wrong one."""
    if cycle.disconnected:
        return
    if cycle.flow.write_paused:
        await cycle.flow.drain()
    transport = cycle.transport
    if cycle.scope["method"] == "HEAD":
        await cycle.send({"type": "http.response.body", "body": b"", "more_body": False})
        return
    if transport.get_write_buffer_size():  # headers still queued: keep the byte order
        await _send_read(cycle, path)
        return
    if transport.is_closing():  # a failed header write: the descriptor may be gone already
        return
    loop = asyncio.get_running_loop()
    length = cycle.expected_content_length
    cycle.flow.pause_reading()  # no pipelined request's answer (a 400) lands inside this body
    fds = _Descriptors(os.dup(transport.get_extra_info("socket").fileno()))
    offset = 0
    try:
        # One thread hop opens, checks the size and sends what the socket takes at once.
        source, sent = await fds.run(_open_and_send, path, fds.target, length)
        while source >= 0:
            if sent == 0:  # the file ended early, or the socket failed
                break
            if sent is not None:
                offset += sent
                if offset >= length:
                    break
            await _writable(loop, fds.target)  # a partial send: the socket's buffer is full
            sent = await fds.run(_send_some, fds.target, source, offset, length)
    finally:
        fds.close()
    if offset < length:
        transport.close()
        return
    cycle.expected_content_length = 0
    await cycle.send({"type": "http.response.body", "body": b"", "more_body": False})


class _Descriptors:
    """The socket's duplicate and the file, closed only once no worker thread uses them: a
    cancelled task (graceful shutdown's deadline) does not stop a thread already in
    ``sendfile``, and closing its descriptors under it could let the number be reused by
    another file or socket that the thread would then write to."""

    def __init__(self, target: int) -> None:
        self.target = target
        self.source = -1
        self._busy: concurrent.futures.Future[Any] | None = None

    async def run(self, fn: Any, *args: Any) -> Any:
        """``fn(*args)`` on a worker thread; a file it opens (``_open_and_send``) is kept."""
        self._busy = _THREADS.submit(fn, *args)
        result = await asyncio.wrap_future(self._busy)
        if fn is _open_and_send:
            self.source = result[0]
        return result

    def close(self) -> None:
        """Close both now, or when the thread still using them returns (on that thread)."""
        busy = self._busy
        if busy is not None and not busy.done():
            busy.add_done_callback(self._close_after)
        else:
            self._close_after(busy)

    def _close_after(self, busy: concurrent.futures.Future[Any] | None) -> None:
        if busy is not None and not busy.cancelled() and busy.exception() is None:
            result = busy.result()
            if isinstance(result, tuple) and self.source < 0 and result[0] >= 0:
                self.source = result[0]  # opened by a thread whose task was cancelled
        os.close(self.target)
        if self.source >= 0:
            os.close(self.source)


_THREADS = concurrent.futures.ThreadPoolExecutor(max_workers=8, thread_name_prefix="xolo-send")
"""Threads for ``sendfile`` calls: each returns as soon as the socket's buffer is full (or the
disk has answered), so a few serve many connections; their own pool, so a slow disk here does
not queue the default executor's work."""


def _open_and_send(path: str, target: int, length: int) -> tuple[int, int | None]:
    """On a worker thread: the file opened if it is ``length`` bytes long (else -1), and the
    bytes of a first ``sendfile`` (as ``_send_some`` counts them)."""
    try:
        source = os.open(path, os.O_RDONLY)
    except OSError:
        return -1, 0
    if os.fstat(source).st_size != length:
        os.close(source)
        return -1, 0
    if length == 0:
        return source, 0
    return source, _send_some(target, source, 0, length)


def _send_some(target: int, source: int, offset: int, length: int) -> int | None:
    """One ``sendfile`` of what the socket's buffer takes: bytes sent, None when the buffer is
    full, 0 when the file ended early or the socket failed."""
    try:
        return os.sendfile(target, source, offset, length - offset)
    except BlockingIOError:
        return None
    except OSError:
        return 0


async def _send_read(cycle: RequestResponseCycle, path: str) -> None:
    """The fallback: the file read in pieces on a thread and sent as body messages."""
    loop = asyncio.get_running_loop()
    source = os.open(path, os.O_RDONLY)  # a local open, on the loop: nothing to leak if cancelled
    try:
        offset = 0
        while True:
            piece = await loop.run_in_executor(None, os.pread, source, FALLBACK_PIECE, offset)
            offset += len(piece)
            last = len(piece) < FALLBACK_PIECE
            await cycle.send({"type": "http.response.body", "body": piece, "more_body": not last})
            if last:
                return
    finally:
        os.close(source)


async def _writable(loop: asyncio.AbstractEventLoop, fd: int) -> None:
    """Wait until the socket behind ``fd`` can take more bytes (or has failed)."""
    ready = loop.create_future()

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    loop.add_writer(fd, wake)
    try:
        await ready
    finally:
        loop.remove_writer(fd)
