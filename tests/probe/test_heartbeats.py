"""A heartbeat a stranger captured cannot keep a peer looking alive: routers sharing one
metadata store record a peer's heartbeat only when it is newer (by the peer's own ``sent``
time, covered by the signature) than the one recorded, so a replay to another router, inside
the signature's five minutes, is refused and changes nothing."""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import httpx
import pytest

from tests.cluster import LocalCluster
from xolo.cli.launcher import cluster_secret
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

    def signed(sent: float, capacity: int) -> tuple[bytes, dict[str, str]]:
        body = json.dumps({**report, "capacity": capacity, "sent": sent}).encode()
        header = sign_request(secret, "POST", PATH, "", now=time.time(), body=body)
        return body, {HEADER: header, "content-type": "application/json"}

    first, second = cluster.router_urls()
    captured = signed(time.time(), capacity=peer["capacity"])
    r = httpx.post(first + PATH, content=captured[0], headers=captured[1])
    assert r.status_code == 200, r.text
    # The same signed request, which router two has never seen: its signature is fresh and
    # its nonce unused there, but the store holds a heartbeat at least as new.
    r = httpx.post(second + PATH, content=captured[0], headers=captured[1])
    assert r.status_code == 409 and "StaleHeartbeat" in r.text
    assert httpx.post(first + PATH, content=captured[0], headers=captured[1]).status_code == 401
    # A heartbeat older than the recorded one changes nothing, even freshly signed.
    old = signed(time.time() - 30, capacity=12345)
    for router in (first, second):
        r = httpx.post(router + PATH, content=old[0], headers=old[1])
        assert r.status_code == 409
    assert {p["capacity"] for p in cluster.admin("GET", "/v1/admin/peers")["peers"]} == {
        peer["capacity"]
    }
    # A newer one is recorded.
    new = signed(time.time() + 1, capacity=peer["capacity"])
    assert httpx.post(second + PATH, content=new[0], headers=new[1]).status_code == 200
