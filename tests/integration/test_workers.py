"""Several worker processes share one data directory (SQLite WAL, one chunk tree)."""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

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
