"""A router started with direct transfers off (``XOLO_DIRECT_TRANSFERS=false``, as for a
cluster shared by untrusted tenants): the direct routes answer 501 and change nothing, and the
client moves a large file through the router instead, byte-identical both ways."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import xolo
from tests.cluster import LocalCluster
from tests.server import ROOT_KEY, ROOT_SECRET


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    local = LocalCluster(tmp_path_factory.mktemp("direct-off") / "cluster", peers=2, routers=1)
    local.env["XOLO_DIRECT_TRANSFERS"] = "false"
    local.up()
    yield local
    local.down()


def test_direct_routes_answer_501_and_the_client_goes_through_the_router(
    cluster: LocalCluster, tmp_path: Path
) -> None:
    (router,) = cluster.router_urls()
    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(20 * 1024 * 1024))  # several chunks: direct by default
    with xolo.Client(url=router, access_key=ROOT_KEY, secret_key=ROOT_SECRET) as client:
        client.create_bucket("no-direct")
        plan = httpx.post(
            f"{router}/v1/buckets/no-direct/direct",
            json={"chunks": [["ab" * 32, 10]]},
            auth=(ROOT_KEY, ROOT_SECRET),
        )
        assert plan.status_code == 501, plan.text
        assert plan.json()["error"]["code"] == "NotImplemented"
        info = client.put_file("no-direct", "big.bin", src)
        assert info.size == src.stat().st_size
        read = httpx.get(
            f"{router}/v1/buckets/no-direct/direct/big.bin", auth=(ROOT_KEY, ROOT_SECRET)
        )
        assert read.status_code == 501
        back = tmp_path / "back.bin"
        client.get_to_file("no-direct", "big.bin", back)
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()
