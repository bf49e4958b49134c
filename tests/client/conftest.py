"""A real cluster (3 peers, 2 routers, ``xolo cluster up``) for a test module of the client."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.cluster import LocalCluster


@dataclass(frozen=True)
class Routers:
    """Where a module's cluster answers: ``hosts`` is ``host:port,host:port`` for a URI."""

    cluster: LocalCluster

    @property
    def hosts(self) -> str:
        """The routers' addresses joined for a ``xolo://`` URI, so clients can fail over between
        them."""
        return ",".join(u.removeprefix("http://") for u in self.cluster.router_urls())


@pytest.fixture(scope="module")
def routers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Routers]:
    """A cluster of 3 peers and 2 routers, shared by a module's client tests and stopped after
    them."""
    cluster = LocalCluster(tmp_path_factory.mktemp("routers") / "cluster", peers=3, routers=2)
    cluster.up()
    yield Routers(cluster)
    cluster.down()
