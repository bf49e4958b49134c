"""Acceptance 4: a chunk file deleted on one peer and another corrupted on a second. Every read
returns correct bytes from another copy; scrub quarantines the bad copy and repair restores R
good ones (checked on the peers' disks). Two kinds of rot: one where the peer's recorded CRC-32C
catches it (the peer refuses to send it), one stored before CRCs were recorded, where the
router's SHA-256 of the transfer catches it."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest

from tests.cluster import LocalCluster
from xolo.chunks.disk import CRC_XATTR

pytestmark = pytest.mark.slow


def test_lost_and_rotten_copies_are_read_around_then_repaired(
    make_cluster: Callable[..., LocalCluster],
) -> None:
    cluster = make_cluster(peers=3, routers=1, inline_threshold="1KiB", chunk_size="256KiB")
    data = os.urandom(700_000)
    with cluster.http() as http:
        http.put("/v1/buckets/dmg", json={"replication": 2})
        assert http.put("/v1/buckets/dmg/objects/k", content=data).is_success
    lost, rotten, unrecorded = sorted(set(cluster.chunks_of("dmg", "k")))[:3]
    lost_on = cluster.holders(lost)[0]
    cluster.chunk_path(lost_on, lost).unlink()
    rotten_on = cluster.holders(rotten)[0]
    path = cluster.chunk_path(rotten_on, rotten)
    path.write_bytes(b"\0" * path.stat().st_size)
    unrecorded_on = cluster.holders(unrecorded)[0]
    other = cluster.chunk_path(unrecorded_on, unrecorded)
    os.removexattr(other, CRC_XATTR)
    other.write_bytes(b"\1" * other.stat().st_size)
    with cluster.http() as http:
        for _ in range(5):
            r = http.get("/v1/buckets/dmg/objects/k")
            assert r.status_code == 200 and r.content == data
    scrub = cluster.run_task("scrub")
    assert scrub["counters"].get("quarantined", 0) >= 0  # reads may have quarantined it first
    for sha, on in ((rotten, rotten_on), (unrecorded, unrecorded_on)):
        quarantine = cluster.chunk_path(on, sha).parents[2] / "quarantine"
        assert any(p.name.startswith(sha) for p in quarantine.iterdir())
    cluster.run_task("repair")
    for sha in (lost, rotten, unrecorded):
        assert len(cluster.holders(sha)) == 2, sha
    with cluster.http() as http:
        assert http.get("/v1/buckets/dmg/objects/k").content == data
