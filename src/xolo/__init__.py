"""xolo: a distributed, content-addressed, audited object store.

Embedded use, without HTTP::

    import asyncio, xolo

    async def main():
        async with xolo.open_memory() as store:
            await store.put_bucket("photos")
            await store.put_bytes("photos", "cat.jpg", b"...")
            print(await store.get_bytes("photos", "cat.jpg"))

    asyncio.run(main())
"""

from __future__ import annotations

import secrets
from pathlib import Path

from xolo.chunks.disk import DiskChunkStore
from xolo.chunks.memory import MemoryChunkStore
from xolo.client import AsyncClient, Client
from xolo.client.events import Event, every, on, run
from xolo.core.audit import chain_key
from xolo.core.conditions import WriteCondition
from xolo.core.errors import XoloError
from xolo.core.records import Bucket, BucketSettings, ListPage, ObjectInfo, ObjectRecord
from xolo.meta.memory import MemoryMetaStore
from xolo.meta.sqlite import SQLiteMetaStore
from xolo.service.config import ServiceConfig
from xolo.service.datadir import DataDir
from xolo.service.objects import ObjectReader, ObjectService

__version__ = "0.1.0"

__all__ = [
    "AsyncClient",
    "Bucket",
    "BucketSettings",
    "Client",
    "Event",
    "ListPage",
    "ObjectInfo",
    "ObjectReader",
    "ObjectRecord",
    "ObjectService",
    "ServiceConfig",
    "WriteCondition",
    "XoloError",
    "__version__",
    "every",
    "on",
    "open",
    "open_memory",
    "run",
]


def open(path: str | Path, *, config: ServiceConfig | None = None) -> ObjectService:
    """The object service over a data directory (the same layout ``xolo serve`` uses).

    Safe beside a running server on the same directory: SQLite and the chunk layout are
    built for several processes.
    """
    data = DataDir.create(path)
    key = chain_key(data.master_key())
    return ObjectService(
        meta=SQLiteMetaStore(data.meta_path, chain_key=key),
        chunks=DiskChunkStore(data.chunks_path),
        config=config,
        chain_key=key,
    )


def open_memory(*, config: ServiceConfig | None = None) -> ObjectService:
    """The object service over in-memory stores: nothing touches the disk."""
    key = secrets.token_bytes(32)
    return ObjectService(
        meta=MemoryMetaStore(chain_key=key), chunks=MemoryChunkStore(), config=config, chain_key=key
    )
