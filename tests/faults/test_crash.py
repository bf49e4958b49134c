"""Crash safety: SIGKILL the server while 8 writers upload 1-20 MiB objects.

After a restart every acknowledged object must read back byte-identical, and every listed
object must be complete (an unacknowledged PUT may have landed, but only whole).
"""

from __future__ import annotations

import hashlib
import random
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.server import XoloServer

MiB = 1024 * 1024
WRITERS = 8
BLOCK = random.Random(7).randbytes(MiB)


def body_for(seed: int) -> bytes:
    """1-20 MiB, unique per seed, cheap to make: a seeded header over a shared random block."""
    rng = random.Random(seed)
    size = rng.randint(1 * MiB, 20 * MiB)
    head = rng.randbytes(4096)
    rotated = BLOCK[seed % MiB :] + BLOCK[: seed % MiB]
    return (head + rotated * (size // MiB + 1))[:size]


@pytest.mark.slow
def test_sigkill_during_concurrent_writes(tmp_path: Path) -> None:
    srv = XoloServer(tmp_path / "data", extra_args=("--chunk-size", "1MiB")).start()
    with srv.client() as http:
        assert http.put("/v1/buckets/crash").status_code == 201
    acked: dict[str, str] = {}
    sent: dict[str, str] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def writer(n: int) -> None:
        with srv.client(timeout=30) as http:
            for i in range(1000):
                if stop.is_set():
                    return
                seed = n * 1000 + i
                key = f"w{n}/obj-{i}"
                data = body_for(seed)
                with lock:
                    sent[key] = hashlib.sha256(data).hexdigest()
                try:
                    r = http.put(f"/v1/buckets/crash/objects/{key}", content=data)
                except httpx.HTTPError:
                    return
                if r.status_code == 200:
                    assert r.json()["sha256"] == sent[key]
                    with lock:
                        acked[key] = sent[key]

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 60
    while len(acked) < 24 and time.monotonic() < deadline:
        time.sleep(0.05)
    srv.kill()
    stop.set()
    for t in threads:
        t.join(30)
    assert len(acked) >= 24, "the writers made too little progress before the kill"
    assert len(sent) > len(acked), "the kill should interrupt some uploads"

    srv.start()
    try:
        with srv.client() as http:
            listed: list[str] = []
            cursor = None
            while True:
                doc = http.get(
                    "/v1/buckets/crash/objects", params={"cursor": cursor} if cursor else {}
                ).json()
                listed += [o["key"] for o in doc["objects"]]
                cursor = doc["next_cursor"]
                if not cursor:
                    break
            for key, digest in acked.items():
                r = http.get(f"/v1/buckets/crash/objects/{key}")
                assert r.status_code == 200, f"acknowledged {key} was lost"
                assert hashlib.sha256(r.content).hexdigest() == digest, f"{key} differs"
            for key in listed:
                assert key in sent, f"{key} was never written"
                r = http.get(f"/v1/buckets/crash/objects/{key}")
                assert hashlib.sha256(r.content).hexdigest() == sent[key], f"{key} is half-written"
            assert set(acked) <= set(listed)
            stats = http.get("/v1/buckets/crash").json()
            assert stats["object_count"] == len(listed)
    finally:
        srv.stop()
