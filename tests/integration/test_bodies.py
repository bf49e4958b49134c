"""Bodies that lie about their length, sent over raw sockets (HTTP clients refuse to)."""

from __future__ import annotations

import base64
import hashlib
import socket
import time

import httpx

from tests.integration.snapshot import snapshot
from tests.server import ROOT_KEY, ROOT_SECRET, XoloServer

AUTH = base64.b64encode(f"{ROOT_KEY}:{ROOT_SECRET}".encode()).decode()


def raw_request(server: XoloServer, head: str, body: bytes, *, half_close: bool) -> bytes:
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as s:
        s.sendall(head.encode() + b"\r\n" + body)
        if half_close:
            s.shutdown(socket.SHUT_WR)
        chunks = []
        try:
            while data := s.recv(65536):
                chunks.append(data)
        except (ConnectionResetError, TimeoutError):
            pass
        return b"".join(chunks)


def put_head(bucket: str, key: str, length: int, extra: str = "") -> str:
    return (
        f"PUT /v1/buckets/{bucket}/objects/{key} HTTP/1.1\r\nHost: x\r\n"
        f"Authorization: Basic {AUTH}\r\nContent-Length: {length}\r\n{extra}"
    )


def test_body_shorter_than_content_length(
    server: XoloServer, http: httpx.Client, bucket: str
) -> None:
    http.put(f"/v1/buckets/{bucket}/objects/keep", content=b"kept")
    before = snapshot(http, bucket)
    for size in (100, 300_000):  # inline and chunked paths
        raw_request(server, put_head(bucket, "short", size), b"x" * (size // 2), half_close=True)
        raw_request(server, put_head(bucket, "keep", size), b"x" * (size // 2), half_close=True)
    time.sleep(0.3)
    assert snapshot(http, bucket) == before
    assert http.get(f"/v1/buckets/{bucket}/objects/short").status_code == 404


def test_body_longer_than_content_length(
    server: XoloServer, http: httpx.Client, bucket: str
) -> None:
    """HTTP/1.1 frames a body by Content-Length: surplus bytes are a second, malformed request,
    which is refused with 400. A checksum header catches the truncation itself."""
    before = snapshot(http, bucket)
    body = b"0123456789" * 2
    digest = hashlib.sha256(body).hexdigest()
    reply = raw_request(
        server,
        put_head(bucket, "long", 10, f"X-Checksum-Sha256: {digest}\r\n"),
        body,
        half_close=True,
    )
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]
    assert snapshot(http, bucket) == before
    reply = raw_request(server, put_head(bucket, "long2", 10), body, half_close=True)
    assert b"400 Bad Request" in reply  # the surplus, parsed as a request, is refused


def test_declared_size_mismatch_on_plain_put_is_refused(http: httpx.Client, bucket: str) -> None:
    """Chunked transfer encoding has no Content-Length: the object is exactly what was sent."""

    def gen():  # type: ignore[no-untyped-def]
        yield b"a" * 1000
        yield b"b" * 300_000

    r = http.put(f"/v1/buckets/{bucket}/objects/streamed", content=gen())
    assert r.status_code == 200 and r.json()["size"] == 301_000
