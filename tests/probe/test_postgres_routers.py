"""Acceptance 5 and 9: two routers over one PostgreSQL. Racing ``If-None-Match: *`` writes of
one key through both: exactly one wins, on every one of 200 tries; racing creations of one
bucket: exactly one creates it; a write through one router is visible through the other at once.
Fails (not skips) when XOLO_TEST_SERVICES is set and PostgreSQL is down."""

from __future__ import annotations

import secrets
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest

from tests.cluster import LocalCluster
from tests.contract.stores import PG_DSN
from tests.services import POSTGRES, require

pytestmark = pytest.mark.slow

TRIES = 200
RACERS = 8


@pytest.fixture
def pg_cluster(make_cluster: Callable[..., LocalCluster]) -> Iterator[LocalCluster]:
    require(POSTGRES)
    schema = f"xolo_probe_{secrets.token_hex(5)}"
    cluster = make_cluster(peers=1, routers=2, meta=f"{PG_DSN}?schema={schema}")
    yield cluster
    cluster.down()
    import asyncio

    import asyncpg

    async def drop() -> None:
        conn = await asyncpg.connect(PG_DSN)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(drop())


def test_create_only_writes_through_two_routers_have_exactly_one_winner(
    pg_cluster: LocalCluster,
) -> None:
    urls = pg_cluster.router_urls()
    assert pg_cluster.state.meta.startswith("postgresql://")
    with pg_cluster.http(0) as http:
        assert http.put("/v1/buckets/races").status_code == 201
    clients = [httpx.Client(base_url=urls[i % 2], auth=pg_cluster.auth) for i in range(RACERS)]
    barrier = threading.Barrier(RACERS)

    def race(args: tuple[int, int]) -> int:
        racer, attempt = args
        barrier.wait()
        return (
            clients[racer]
            .put(
                f"/v1/buckets/races/objects/k{attempt}",
                content=f"racer {racer}".encode(),
                headers={"if-none-match": "*"},
            )
            .status_code
        )

    try:
        with ThreadPoolExecutor(RACERS) as pool:
            for attempt in range(TRIES):
                codes = list(pool.map(race, [(r, attempt) for r in range(RACERS)]))
                assert sorted(codes) == [200] + [412] * (RACERS - 1), (attempt, codes)
    finally:
        for client in clients:
            client.close()
    with pg_cluster.http(1) as http:
        doc = http.get("/v1/buckets/races").json()
        assert doc["object_count"] == TRIES


def test_racing_bucket_creations_through_two_routers_create_it_once(
    pg_cluster: LocalCluster,
) -> None:
    urls = pg_cluster.router_urls()
    barrier = threading.Barrier(16)

    def create(i: int) -> int:
        with httpx.Client(base_url=urls[i % 2], auth=pg_cluster.auth) as http:
            barrier.wait()
            body = {"replication": 1 + i % 2, "public_read": i % 2 == 0}
            return http.put("/v1/buckets/one-name", json=body).status_code

    with ThreadPoolExecutor(16) as pool:
        codes = list(pool.map(create, range(16)))
    assert sorted(codes) == [200] * 15 + [201]


def test_a_write_through_one_router_is_visible_through_the_other_at_once(
    pg_cluster: LocalCluster,
) -> None:
    with pg_cluster.http(0) as first, pg_cluster.http(1) as second:
        first.put("/v1/buckets/shared")
        for i in range(50):
            body = f"version {i}".encode()
            assert first.put("/v1/buckets/shared/objects/k", content=body).status_code == 200
            assert second.get("/v1/buckets/shared/objects/k").content == body
        assert second.delete("/v1/buckets/shared/objects/k").status_code == 204
        assert first.get("/v1/buckets/shared/objects/k").status_code == 404


def test_an_event_written_through_one_router_reaches_a_listener_on_the_other_within_a_second(
    pg_cluster: LocalCluster,
) -> None:
    """PostgreSQL NOTIFY wakes the second router's feed (no polling interval to wait out)."""
    import json
    import time

    first, second = pg_cluster.router_urls()
    with pg_cluster.http(0) as http:
        http.put("/v1/buckets/notified")
    arrivals: dict[str, float] = {}
    ready = threading.Event()

    def listen() -> None:
        with httpx.stream(
            "GET",
            f"{second}/v1/events",
            params={"bucket": "notified", "start": "end"},
            auth=pg_cluster.auth,
            timeout=30,
        ) as r:
            assert r.status_code == 200
            for line in r.iter_lines():
                ready.set()
                if line.startswith("data: "):
                    arrivals[json.loads(line[6:])["key"]] = time.monotonic()
                    if len(arrivals) == 5:
                        return

    thread = threading.Thread(target=listen)
    thread.start()
    assert ready.wait(10)
    sent: dict[str, float] = {}
    with httpx.Client(base_url=first, auth=pg_cluster.auth) as http:
        for i in range(5):
            assert http.put(f"/v1/buckets/notified/objects/k{i}", content=b"x").status_code == 200
            sent[f"k{i}"] = time.monotonic()
            time.sleep(0.2)  # spacing the writes (not synchronisation): each is timed on its own
    thread.join(30)
    assert set(arrivals) == set(sent)
    latencies = sorted(arrivals[k] - sent[k] for k in sent)
    assert latencies[-1] < 1.0, latencies
    # woken by NOTIFY, not by the 0.5 s poll every reader falls back on
    assert latencies[len(latencies) // 2] < 0.2, latencies
