from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from tests.server import ROOT_KEY, ROOT_SECRET, XoloServer

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XoloServer]:
    """A real ``xolo serve`` process with default settings, shared by a module's S3 compatibility
    tests."""
    data: Path = tmp_path_factory.mktemp("s3") / "data"
    srv = XoloServer(data).start()
    yield srv
    srv.stop()


def client(server: XoloServer, *, style: str = "path", **kwargs: Any) -> Any:
    """A boto3 S3 client for ``server``, as root; ``style`` picks path or virtual-host addressing,
    ``kwargs`` override any client parameter. One attempt only, so an error is seen rather than
    retried away."""
    params: dict[str, Any] = {
        "endpoint_url": server.s3_url,
        "aws_access_key_id": ROOT_KEY,
        "aws_secret_access_key": ROOT_SECRET,
        "region_name": "us-east-1",
        "config": Config(s3={"addressing_style": style}, retries={"max_attempts": 1}),
    }
    params.update(kwargs)
    return boto3.client("s3", **params)


@pytest.fixture
def s3(server: XoloServer) -> Any:
    """A path-style S3 client for the module's server, as root."""
    return client(server)


@pytest.fixture
def bucket(s3: Any, request: pytest.FixtureRequest) -> str:
    """A bucket of the test's own, named from its node id, so tests sharing a server never see each
    other's objects."""
    import hashlib

    name = "s3-" + hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]
    s3.create_bucket(Bucket=name)
    return name
