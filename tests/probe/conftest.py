from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.cluster import LocalCluster


@pytest.fixture
def make_cluster(tmp_path: Path) -> Iterator[Callable[..., LocalCluster]]:
    """Start clusters with ``xolo cluster up``; all are stopped when the test ends."""
    started: list[LocalCluster] = []

    def make(**options: Any) -> LocalCluster:
        directory = tmp_path / f"cluster{len(started)}"
        cluster = LocalCluster(directory, **options)
        started.append(cluster)
        return cluster.up()

    yield make
    for cluster in started:
        try:
            cluster.down()
        except Exception as exc:  # a test that killed everything leaves nothing to stop
            print(f"stopping {cluster.dir}: {exc}")
