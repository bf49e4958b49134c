"""Bulk tree transfers for ``AsyncClient``, resumable like the blocking ones.

The same tracker, selection globs and skip rules as ``client/bulk.py`` (whose docstring says
what a rerun re-sends); here each file is a task, at most ``concurrency`` of them started at
once, so what is in flight when the process dies stays bounded. Tracker writes are one small
committed SQLite transaction each and run on the event loop.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import (
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterable,
    Sequence,
)
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from xolo.client.bulk import (
    BulkStats,
    Tracker,
    count_outcome,
    download_job,
    local_files,
    local_target,
    selected,
    upload_job,
)
from xolo.client.digests import file_sha256
from xolo.core.errors import NoSuchKey

if TYPE_CHECKING:
    from xolo.client.aio import AsyncClient

Job = tuple[str, Callable[[], Awaitable[int]]]


async def _each(jobs: Iterable[Job]) -> AsyncIterator[Job]:
    for job in jobs:
        yield job


async def run_tracked(
    jobs: AsyncIterable[Job], concurrency: int, track: Tracker | None
) -> BulkStats:
    """Run ``(name, coroutine function)`` jobs, at most ``concurrency`` at once, and time them;
    the tracker is closed at the end, whatever happens."""
    stats = BulkStats()
    started = time.monotonic()
    running: dict[asyncio.Task[int], str] = {}
    try:
        async for name, job in jobs:
            if len(running) >= concurrency:
                finished, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in finished:
                    count_outcome(task, running.pop(task), stats)
            running[asyncio.ensure_future(job())] = name
        if running:
            await asyncio.wait(running)
        for task in list(running):
            count_outcome(task, running.pop(task), stats)
    finally:
        for task in running:
            task.cancel()
        await asyncio.gather(*running, return_exceptions=True)  # nothing runs past the tracker
        if track:
            track.close()
    stats.seconds = time.monotonic() - started
    return stats


async def upload_tree(
    client: AsyncClient,
    root: str | os.PathLike[str],
    bucket: str,
    prefix: str = "",
    *,
    tracker: str | os.PathLike[str] | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    verify: bool = False,
    concurrency: int = 8,
    only: Collection[str] | None = None,
) -> BulkStats:
    """The asyncio form of ``bulk.upload_tree``."""
    base = Path(root)
    track = Tracker(tracker) if tracker else None
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    async def job(path: Path, key: str) -> int:
        file = upload_job(path, bucket, key)
        if file.done(track):
            return -1
        if verify and await _same_remote(client, bucket, key, path, file.size):
            file.record(track)
            return -1
        await client.put_file(bucket, key, path)
        file.record(track)
        return file.size

    jobs = (
        (str(p), partial(job, p, prefix + p.relative_to(base).as_posix()))
        for p in local_files(base, include, exclude, only)
    )
    return await run_tracked(_each(jobs), concurrency, track)


async def download_tree(
    client: AsyncClient,
    bucket: str,
    prefix: str,
    root: str | os.PathLike[str],
    *,
    tracker: str | os.PathLike[str] | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    verify: bool = False,
    concurrency: int = 8,
    only: Collection[str] | None = None,
) -> BulkStats:
    """The asyncio form of ``bulk.download_tree``."""
    base = Path(root)
    track = Tracker(tracker) if tracker else None

    async def job(key: str, size: int, etag: str) -> int:
        target = local_target(base, key, prefix)
        file = download_job(target, bucket, key, size, etag)
        if file.done(track):
            return -1
        if verify and file.present and await _same_remote(client, bucket, key, target, size):
            return -1
        target.parent.mkdir(parents=True, exist_ok=True)
        await client.get_to_file(bucket, key, target)
        file.record(track)
        return size

    async def jobs() -> AsyncIterator[Job]:
        async for e in client.list(bucket, prefix=prefix):
            if selected(e.key[len(prefix) :].lstrip("/"), include, exclude, only):
                yield e.key, partial(job, e.key, e.size, e.etag or "")

    return await run_tracked(jobs(), concurrency, track)


async def _same_remote(client: AsyncClient, bucket: str, key: str, path: Path, size: int) -> bool:
    try:
        info = await client.head(bucket, key)
    except NoSuchKey:
        return False
    return info.size == size and info.sha256 == await asyncio.to_thread(file_sha256, path)
