from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.contract.stores import META_BACKENDS, Opener
from xolo.meta.base import MetaStore


@pytest.fixture(params=sorted(META_BACKENDS))
async def opener(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Opener]:
    """Opens independent instances of one backing store (see stores.py)."""
    async with META_BACKENDS[request.param](tmp_path) as open_one:
        yield open_one


@pytest.fixture
async def meta(opener: Opener) -> AsyncIterator[MetaStore]:
    """One instance of the store under test, closed after the test (for tests that need no second
    instance)."""
    store = await opener()
    yield store
    await store.close()
