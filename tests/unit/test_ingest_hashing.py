"""Ingest hashes each chunk once per algorithm, on parallel threads for large chunks; the
digests must equal a plain single pass over the same bytes whatever the chunking."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import zlib
from collections.abc import AsyncIterator

import pytest

from xolo.core.records import ChunkRef
from xolo.service.config import ServiceConfig
from xolo.service.ingest import PARALLEL_FROM, ingest


class RecordingSink:
    """Keeps what ingest stored, so chunk names can be checked against the chunk bytes."""

    def __init__(self) -> None:
        self.stored: dict[str, bytes] = {}

    async def store(self, sha256: str, data: bytes) -> None:
        self.stored[sha256] = data


async def pieces(data: bytes, size: int) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


@pytest.mark.parametrize(
    "chunk_size",
    [PARALLEL_FROM // 2, PARALLEL_FROM, 1024 * 1024],
    ids=["below-parallel", "at-parallel", "1MiB"],
)
def test_parallel_hash_lanes_give_single_pass_digests_and_chunk_names(chunk_size: int) -> None:
    data = os.urandom(3 * chunk_size + 12345)
    sink = RecordingSink()
    config = ServiceConfig(chunk_size=chunk_size, inline_threshold=1024)
    result = asyncio.run(
        ingest(
            pieces(data, 100_000),
            sink,  # type: ignore[arg-type]
            config,
            md5=True,
            checksums=frozenset({"crc32", "sha256"}),
        )
    )
    assert result.size == len(data)
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.md5 == hashlib.md5(data).hexdigest()
    assert (
        result.checksums["crc32"] == base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    )
    assert result.checksums["sha256"] == base64.b64encode(hashlib.sha256(data).digest()).decode()
    assert len(result.chunks) == 4
    assert b"".join(sink.stored[ref.sha256] for ref in result.chunks) == data
    for ref in result.chunks:
        assert isinstance(ref, ChunkRef)
        assert hashlib.sha256(sink.stored[ref.sha256]).hexdigest() == ref.sha256
