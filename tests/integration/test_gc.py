"""`xolo gc` beside a running server: orphans from failed uploads go, every object stays."""

from __future__ import annotations

import asyncio
import hashlib
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.server import XoloServer
from xolo.meta.sqlite import SQLiteMetaStore


def chunk_files(data: Path) -> set[str]:
    return {
        p.name for p in (data / "chunks").rglob("*") if p.is_file() and not p.name.startswith(".")
    }


def test_gc_beside_a_running_server(tmp_path: Path) -> None:
    srv = XoloServer(
        tmp_path / "data", extra_args=("--inline-threshold", "1KiB", "--chunk-size", "64KiB")
    ).start()
    try:
        with srv.client() as http:
            http.put("/v1/buckets/gc-test")
            kept = os.urandom(200_000)
            assert http.put("/v1/buckets/gc-test/objects/kept", content=kept).status_code == 200
            before = chunk_files(srv.data)
            r = http.put(
                "/v1/buckets/gc-test/objects/failed",
                content=os.urandom(200_000),
                headers={"x-checksum-sha256": "0" * 64},
            )
            assert r.status_code == 400
            orphans = chunk_files(srv.data) - before
            assert len(orphans) == 4  # stored before the digest failed, named by nothing
            out = subprocess.run(
                [sys.executable, "-m", "xolo", "gc", "--data", str(srv.data), "--grace", "24h"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
            assert "deleted 0" in out and chunk_files(srv.data) == before | orphans
            out = subprocess.run(
                [sys.executable, "-m", "xolo", "gc", "--data", str(srv.data), "--grace", "0"],
                capture_output=True,
                text=True,
                timeout=60,
                check=True,
            ).stdout
            assert "deleted 4" in out
            assert chunk_files(srv.data) == before
            got = http.get("/v1/buckets/gc-test/objects/kept").content
            assert hashlib.sha256(got).digest() == hashlib.sha256(kept).digest()
    finally:
        srv.stop()


def test_gc_command_waits_for_a_running_collection_and_deletes_nothing_meanwhile(
    tmp_path: Path,
) -> None:
    """``xolo gc`` takes the lease the server's scheduled GC takes: while another holder has
    it, the command deletes nothing and says who holds it."""
    data = tmp_path / "data"
    data.mkdir()
    subprocess.run(
        [sys.executable, "-m", "xolo", "gc", "--data", str(data), "--grace", "0"],
        capture_output=True,
        timeout=60,
        check=True,
    )  # creates the data directory's metadata

    async def hold() -> bool:
        meta = SQLiteMetaStore(next(data.rglob("*.db")))
        try:
            return await meta.acquire_lease("gc", "server-7", now=time.time(), ttl=600)
        finally:
            await meta.close()

    assert asyncio.run(hold())
    r = subprocess.run(
        [sys.executable, "-m", "xolo", "gc", "--data", str(data), "--grace", "0", "--wait", "0"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode != 0
    assert "a collection by server-7 is still running" in r.stderr
