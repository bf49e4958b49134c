"""A heartbeat a stranger captured cannot keep a dead peer looking alive: routers sharing one
metadata store record a peer's heartbeat only when it is newer (by the peer's own ``sent``
time, covered by the signature) than the one recorded, and only when ``sent`` is near the
router's clock, so a replay to another router inside the signature's five minutes is refused
and changes nothing."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable

import httpx
import pytest

from tests.cluster import LocalCluster
from xolo.cli.launcher import cluster_secret
from xolo.cluster.membership import HEARTBEAT_SKEW
from xolo.core.cluster_auth import HEADER, sign_request

pytestmark = pytest.mark.slow

PATH = "/v1/cluster/heartbeat"


def test_a_heartbeat_replayed_to_another_router_is_refused(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(peers=1, routers=2)
    secret = cluster_secret(cluster.dir)
    (peer,) = cluster.admin("GET", "/v1/admin/peers")["peers"]
    report = {k: peer[k] for k in ("id", "url", "zone", "capacity", "used_bytes", "chunks")}
    cluster.kill(cluster.state.peers[0].name)  # its own heartbeats no longer race these
    meta = cluster.state.meta.removeprefix("sqlite:///")

    def recorded() -> tuple[int, float]:
        db = sqlite3.connect(meta)
        try:
            row = db.execute("SELECT capacity, sent FROM peers").fetchone()
        finally:
            db.close()
        return int(row[0]), float(row[1])

    def signed(sent: float, capacity: int) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({**report, "capacity": capacity, "sent": sent}).encode()
        header = sign_request(secret, "POST", PATH, "", now=time.time(), body=body)
        return body, {HEADER: header, "content-type": "application/json"}

    first, second = cluster.router_urls()
    sent = time.time()
    captured = signed(sent, capacity=111)
    r = httpx.post(first + PATH, content=captured[0], headers=captured[1])
    assert r.status_code == 200, r.text
    assert recorded() == (111, sent)
    # The same signed request, which router two has never seen: its signature is fresh and
    # its nonce unused there, but the store holds a heartbeat at least as new.
    r = httpx.post(second + PATH, content=captured[0], headers=captured[1])
    assert r.status_code == 409 and "StaleHeartbeat" in r.text
    assert httpx.post(first + PATH, content=captured[0], headers=captured[1]).status_code == 401
    # An older heartbeat changes nothing, even freshly signed; so does one whose time is far
    # from the routers' clocks (either way).
    for router in (first, second):
        older = signed(sent - 1, capacity=222)
        assert httpx.post(router + PATH, content=older[0], headers=older[1]).status_code == 409
        for off in (-HEARTBEAT_SKEW - 5, HEARTBEAT_SKEW + 5):
            skewed = signed(time.time() + off, capacity=333)
            r = httpx.post(router + PATH, content=skewed[0], headers=skewed[1])
            assert r.status_code == 403 and "RequestTimeTooSkewed" in r.text
    assert recorded() == (111, sent)
    newer = signed(time.time() + 1, capacity=444)
    assert httpx.post(second + PATH, content=newer[0], headers=newer[1]).status_code == 200
    assert recorded()[0] == 444
