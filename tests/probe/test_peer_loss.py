"""Acceptance 1: 3 peers, R=2, two routers; one peer SIGKILLed during 30 s of mixed load
(1 KiB-16 MiB; PUT, GET, DELETE through both routers). No acknowledged write is lost, every read
of an acknowledged object is byte-identical, and repair restores R copies of every chunk, both
when the peer comes back and when it is declared down and never returns (checked on the peers'
disks)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.cluster import LocalCluster, wait_for
from tests.probe.load import GONE, Ledger, MixedLoad, verify_all
from xolo.core.placement import Candidate, owners

pytestmark = pytest.mark.slow

LOAD_SECONDS = 30
KILL_AT = 8


def cluster_options(down_after: float) -> dict[str, object]:
    return {
        "peers": 3,
        "routers": 2,
        "inline_threshold": "1KiB",
        "chunk_size": "1MiB",
        "heartbeat": 0.25,
        "suspect_after": 1.0,
        "down_after": down_after,
        "repair_rate": "1GiB",
    }


def run_load_and_kill(cluster: LocalCluster, victim: str) -> tuple[Ledger, list[str]]:
    with cluster.http() as http:
        assert http.put("/v1/buckets/load", json={"replication": 2}).status_code == 201
    ledger = Ledger()
    load = MixedLoad(
        clients=[lambda: cluster.http(0), lambda: cluster.http(1)], bucket="load", ledger=ledger
    )
    tally = load.run_for(LOAD_SECONDS, during=lambda: cluster.kill(victim), at=KILL_AT)
    assert tally.puts > 20 and tally.gets > 20, tally
    assert tally.bad_reads == [], tally.bad_reads[:10]
    assert tally.failed == [], tally.failed[:10]
    problems = []
    for router in (0, 1):
        with cluster.http(router) as http:
            problems += verify_all(http, "load", ledger)
    assert problems == []
    live = [k for k, v in ledger.certain().items() if v != GONE]
    assert live, "the load left no object to check"
    return ledger, live


def assert_r_copies_on_owners(cluster: LocalCluster, keys: list[str], peers: list[str]) -> None:
    """Every chunk of every object has an intact copy on each of its computed owners."""
    states = cluster.admin("GET", "/v1/admin/peers")["peers"]
    candidates = [
        Candidate(id=p["id"], zone=p["zone"], weight=float(p["capacity"]))
        for p in states
        if p["id"] in peers
    ]
    checked = 0
    for key in keys:
        for sha in set(cluster.chunks_of("load", key)):
            holders = set(cluster.holders(sha))
            wanted = {c.id for c in owners(candidates, sha, 2)}
            assert wanted <= holders, (key, sha, holders, wanted)
            checked += 1
    assert checked > 0


def test_a_killed_peer_that_returns_is_repaired_to_r_copies(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(**cluster_options(down_after=600))
    _, live = run_load_and_kill(cluster, "peer-2")
    cluster.start("peer-2")
    wait_for("peer-2 to be up", lambda: cluster.peer_states()["peer-2"] == "up")
    cluster.run_task("repair")
    assert_r_copies_on_owners(cluster, live, ["peer-1", "peer-2", "peer-3"])


def test_a_killed_peer_declared_down_is_replaced_by_new_copies(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(**cluster_options(down_after=3))
    _, live = run_load_and_kill(cluster, "peer-3")
    wait_for("peer-3 to be down", lambda: cluster.peer_states()["peer-3"] == "down")
    report = cluster.run_task("repair")
    assert report["counters"].get("lost", 0) == 0, report
    assert_r_copies_on_owners(cluster, live, ["peer-1", "peer-2"])
    for key in live:
        for sha in set(cluster.chunks_of("load", key)):
            assert set(cluster.holders(sha)) >= {"peer-1", "peer-2"}
