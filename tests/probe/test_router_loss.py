"""Acceptance 2: a router SIGKILLed under load. A client given both routers retries on the other;
every acknowledged write is readable afterwards, through the router that survived."""

from __future__ import annotations

import hashlib
import os
import random
import threading
from collections.abc import Callable

import httpx
import pytest

from tests.cluster import LocalCluster
from tests.probe.load import KiB, MiB, size_between

pytestmark = pytest.mark.slow


class TwoRouterClient:
    """The smallest honest client for two routers: on a connection failure, the same request
    goes to the other router (PUTs of whole objects are idempotent, so a retry is safe)."""

    def __init__(self, urls: list[str], auth: tuple[str, str]) -> None:
        self._clients = [httpx.Client(base_url=u, auth=auth, timeout=60) for u in urls]
        self.failovers = 0

    def request(self, method: str, path: str, **kwargs: object) -> httpx.Response:
        last: Exception | None = None
        for client in self._clients:
            try:
                return client.request(method, path, **kwargs)  # type: ignore[arg-type]
            except httpx.TransportError as exc:
                last = exc
                self.failovers += 1
        raise AssertionError(f"both routers failed: {last}")

    def close(self) -> None:
        for client in self._clients:
            client.close()


def test_writes_acknowledged_around_a_router_kill_are_all_readable(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(peers=3, routers=2, inline_threshold="4KiB", chunk_size="1MiB")
    urls = cluster.router_urls()
    with cluster.http(1) as http:
        assert http.put("/v1/buckets/router-kill").status_code == 201
    acknowledged: dict[str, str] = {}
    lock = threading.Lock()
    stop = threading.Event()
    failovers: list[int] = []

    def writer(index: int) -> None:
        rng = random.Random(index)
        client = TwoRouterClient(urls if index % 2 == 0 else urls[::-1], cluster.auth)
        n = 0
        while not stop.is_set():
            data = os.urandom(size_between(rng, KiB, 4 * MiB))
            key = f"t{index}/{n}"
            n += 1
            r = client.request("PUT", f"/v1/buckets/router-kill/objects/{key}", content=data)
            assert r.status_code == 200, r.text
            with lock:
                acknowledged[key] = hashlib.sha256(data).hexdigest()
        failovers.append(client.failovers)
        client.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    stop.wait(4)
    cluster.kill("router-1")
    stop.wait(4)
    stop.set()
    for t in threads:
        t.join(120)
    assert len(acknowledged) > 20
    assert sum(failovers) >= 1, "no request ever reached the dead router"
    with cluster.http(1) as http:
        for key, digest in acknowledged.items():
            r = http.get(f"/v1/buckets/router-kill/objects/{key}")
            assert r.status_code == 200, (key, r.text)
            assert hashlib.sha256(r.content).hexdigest() == digest, key
