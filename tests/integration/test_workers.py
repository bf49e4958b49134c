"""Several worker processes share one data directory (SQLite WAL, one chunk tree)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.cluster import wait_for
from tests.server import XoloServer


def test_two_workers_share_one_data_directory(tmp_path: Path) -> None:
    srv = XoloServer(
        tmp_path / "data",
        extra_args=("--workers", "2", "--inline-threshold", "1KiB", "--chunk-size", "64KiB"),
    ).start()
    try:
        with srv.client() as http:
            assert http.put("/v1/buckets/shared").status_code == 201
        bodies = {f"k{i}": os.urandom(1000 if i % 2 else 150_000) for i in range(60)}

        def put(item: tuple[str, bytes]) -> str:
            with srv.client() as http:  # a new connection: lands on either worker
                r = http.put(f"/v1/buckets/shared/objects/{item[0]}", content=item[1])
                assert r.status_code == 200, r.text
                return str(r.json()["sha256"])

        with ThreadPoolExecutor(8) as pool:
            digests = list(pool.map(put, bodies.items()))
        assert digests == [hashlib.sha256(b).hexdigest() for b in bodies.values()]
        for key, data in bodies.items():
            with srv.client() as http:
                assert http.get(f"/v1/buckets/shared/objects/{key}").content == data
        with srv.client() as http:
            doc = http.get("/v1/buckets/shared").json()
            assert (doc["object_count"], doc["bytes"]) == (60, sum(map(len, bodies.values())))
    finally:
        srv.stop()


def test_appends_across_workers_all_land(tmp_path: Path) -> None:
    """Appends racing in two processes are replayed onto each other, not refused with 409."""
    srv = XoloServer(tmp_path / "data", extra_args=("--workers", "2")).start()
    try:
        with srv.client() as http:
            assert http.put("/v1/buckets/logs").status_code == 201

        def append(i: int) -> int:
            with srv.client() as http:
                r = http.post(
                    "/v1/buckets/logs/objects/journal", content=f"line {i:03d}\n".encode()
                )
                return r.status_code

        with ThreadPoolExecutor(8) as pool:
            statuses = list(pool.map(append, range(80)))
        assert statuses == [200] * 80
        with srv.client() as http:
            r = http.get("/v1/buckets/logs/objects/journal")
        lines = r.content.decode().splitlines()
        assert sorted(lines) == [f"line {i:03d}" for i in range(80)]
        assert r.headers["x-checksum-sha256"] == hashlib.sha256(r.content).hexdigest()
    finally:
        srv.stop()


def _tcp_inodes(port: int, state: str) -> set[str]:
    """Inodes of this machine's IPv4 TCP sockets on local ``port`` in ``state`` (hex, as the
    kernel writes /proc/net/tcp: 0A listening, 01 established)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].split(":")[1], 16) == port and fields[3] == state:
            found.add(fields[9])
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = os.readlink(fd)
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    return inodes


def _children(pid: int) -> list[int]:
    kids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                kids.append(int(stat.parent.name))
    return kids


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="SO_REUSEPORT spreads on Linux")
def test_connections_opened_at_once_spread_over_both_workers(tmp_path: Path) -> None:
    """Each worker listens on its own socket, so the kernel spreads a burst of connections
    across them (with one shared socket, one awake worker accepted them all)."""
    srv = XoloServer(tmp_path / "data", extra_args=("--workers", "2")).start()
    conns: list[socket.socket] = []
    try:
        workers = [p for p in _children(srv.proc.pid) if _socket_inodes(p)] if srv.proc else []
        wait_for("both workers to listen", lambda: len(_tcp_inodes(srv.port, "0A")) >= 2, 30)
        for _ in range(32):
            conn = socket.create_connection(("127.0.0.1", srv.port))
            conn.sendall(b"GET /health HTTP/1.1\r\nhost: x\r\n\r\n")
            conns.append(conn)
        for conn in conns:  # every connection was accepted and answered
            assert conn.recv(1024).startswith(b"HTTP/1.1 200")
        established = _tcp_inodes(srv.port, "01")
        per_worker = sorted(len(_socket_inodes(p) & established) for p in workers)
        assert sum(per_worker) == 32 and per_worker[0] >= 4, per_worker
    finally:
        for conn in conns:
            conn.close()
        srv.stop()
