from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    """Run every ``pytest.mark.anyio`` test on asyncio, the loop xolo itself runs on."""
    return "asyncio"
