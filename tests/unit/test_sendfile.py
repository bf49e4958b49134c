"""The server's ``http.response.pathsend`` (cli/sendfile.py), through a real uvicorn process on
uvloop: the bytes arrive whole and exact, keep-alive goes on after them, many run at once, and a
file that does not match its Content-Length is never sent as if it did."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.cluster import wait_for
from xolo.cli.ports import free_port

APP = textwrap.dedent(
    """
    import socket, sys
    from pathlib import Path
    from starlette.applications import Starlette
    from starlette.responses import FileResponse, JSONResponse
    from starlette.routing import Route
    from xolo.cli.runner import run

    root = Path(sys.argv[2])

    async def file(request):
        return FileResponse(root / request.path_params["name"])

    async def offered(request):
        return JSONResponse(sorted(request.scope.get("extensions") or {}))

    app = Starlette(routes=[Route("/file/{name}", file, methods=["GET", "HEAD"]),
                            Route("/offered", offered)])
    async def entry(scope, receive, send):
        if scope["type"] != "http" or scope["path"] != "/lie":
            return await app(scope, receive, send)
        size = (root / "big").stat().st_size  # a Content-Length one byte more than the file
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(size + 1).encode())]})
        await send({"type": "http.response.pathsend", "path": str(root / "big")})

    sock = socket.socket(); sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", int(sys.argv[1]))); sock.listen(64)
    run(entry, sockets=[sock], log_level="warning")
    """
)

BIG = 9 * 1024 * 1024 + 17


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    root = tmp_path_factory.mktemp("files")
    (root / "big").write_bytes(os.urandom(BIG))
    (root / "empty").write_bytes(b"")
    (root / "small").write_bytes(b"hello")
    port = free_port()
    log = root.parent / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-c", APP, str(port), str(root)], stdout=out, stderr=out
        )
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        assert proc.poll() is None, log.read_text()
        try:
            httpx.get(f"{url}/offered", timeout=1)
        except httpx.TransportError:
            return False
        return True

    wait_for("the test server to answer", answering, timeout=20)
    yield url, root, log
    proc.terminate()
    proc.wait(10)


def test_plain_tcp_connections_are_offered_pathsend(server: tuple[str, Path, Path]) -> None:
    url, _, _ = server
    assert "http.response.pathsend" in httpx.get(f"{url}/offered").json()


def test_files_sent_by_pathsend_arrive_exact_and_keep_alive_continues(
    server: tuple[str, Path, Path],
) -> None:
    url, root, log = server
    with httpx.Client(base_url=url) as client:
        for name in ("big", "small", "empty", "big"):
            r = client.get(f"/file/{name}")
            assert r.status_code == 200
            assert r.content == (root / name).read_bytes()
        head = client.head("/file/big")
        assert head.headers["content-length"] == str(BIG) and head.content == b""
        ranged = client.get("/file/big", headers={"range": "bytes=5-9"})
        assert ranged.status_code == 206 and ranged.content == (root / "big").read_bytes()[5:10]
        assert client.get("/offered").status_code == 200  # the connection is still good
    assert "Exception" not in log.read_text()


def test_many_sends_at_once_each_get_their_own_bytes(server: tuple[str, Path, Path]) -> None:
    url, root, _ = server
    expected = (root / "big").read_bytes()

    def fetch(_: int) -> bytes:
        return httpx.get(f"{url}/file/big", timeout=30).content

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        bodies = list(pool.map(fetch, range(16)))
    assert all(body == expected for body in bodies)


def test_a_file_shorter_than_its_content_length_is_cut_off_not_padded(
    server: tuple[str, Path, Path],
) -> None:
    url, _, _ = server
    with pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{url}/lie", timeout=10)
    assert httpx.get(f"{url}/file/small").content == b"hello"


def test_a_client_that_leaves_mid_send_does_not_hurt_the_server(
    server: tuple[str, Path, Path],
) -> None:
    url, root, _ = server
    port = int(url.rsplit(":", 1)[1])
    for _ in range(4):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.sendall(b"GET /file/big HTTP/1.1\r\nhost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
    assert httpx.get(f"{url}/file/big", timeout=30).content == (root / "big").read_bytes()
