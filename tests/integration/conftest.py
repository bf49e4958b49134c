from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.server import XoloServer


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XoloServer]:
    """A real ``xolo serve`` process, shared by a module's tests; small inline/chunk sizes so
    that modest bodies exercise the chunked path."""
    data: Path = tmp_path_factory.mktemp("xolo") / "data"
    srv = XoloServer(data, extra_args=("--inline-threshold", "1KiB", "--chunk-size", "64KiB"))
    srv.start()
    yield srv
    srv.stop()


@pytest.fixture
def http(server: XoloServer) -> Iterator[httpx.Client]:
    """An HTTP client for the module's server, as root, closed after the test."""
    with server.client() as client:
        yield client


@pytest.fixture
def bucket(http: httpx.Client, request: pytest.FixtureRequest) -> str:
    """A bucket of the test's own, named from its node id, so tests sharing a server never see each
    other's objects."""
    name = "t-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]
    r = http.put(f"/v1/buckets/{name}")
    assert r.status_code in (200, 201), r.text
    return name
