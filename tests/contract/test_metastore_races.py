"""The concurrency rule of ``meta/base.py``, tested the way it is used: several independent store
instances (separate connections and pools; for SQLite also separate processes) racing on one
database, then counts, totals and references checked against what must hold."""

from __future__ import annotations

import asyncio
import dataclasses
import multiprocessing
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.contract.stores import Opener
from tests.contract.test_metastore import A, B, C, obj
from xolo.core.conditions import NO_CONDITION, WriteCondition
from xolo.core.errors import ConcurrentUpdate, PreconditionFailed
from xolo.core.records import BucketSettings, ChunkRef
from xolo.meta.base import MetaStore
from xolo.meta.sqlite import SQLiteMetaStore

pytestmark = pytest.mark.anyio

INSTANCES = 4
WRITERS = 20


async def instances(opener: Opener, n: int = INSTANCES) -> list[MetaStore]:
    return [await opener() for _ in range(n)]


async def close_all(stores: list[MetaStore]) -> None:
    for store in stores:
        await store.close()


async def prepared(opener: Opener) -> list[MetaStore]:
    stores = await instances(opener)
    await stores[0].create_bucket("b", BucketSettings(), owner=None, now=1.0)
    chunks = [ChunkRef(sha256=f"{i:064x}", size=3) for i in range(WRITERS)]
    await stores[0].claim_chunks(
        [*chunks, *(ChunkRef(sha256=n, size=3) for n in (A, B, C))], replicas=1, now=1.0
    )
    return stores


def chunk(i: int) -> str:
    return f"{i:064x}"


async def race(
    stores: list[MetaStore], op: Callable[[MetaStore, int], Awaitable[Any]]
) -> list[Any]:
    """Run op(store, i) for every writer, writer i on instance i % len(stores), all at once."""
    return await asyncio.gather(
        *(op(stores[i % len(stores)], i) for i in range(WRITERS)), return_exceptions=True
    )


async def test_exactly_one_create_only_write_wins(opener: Opener) -> None:
    stores = await prepared(opener)
    try:
        results = await race(
            stores,
            lambda s, i: s.put_object(
                obj("k", etag=f"e{i}", chunks=(chunk(i),)), WriteCondition(if_none_match="*")
            ),
        )
        winners = [i for i, r in enumerate(results) if not isinstance(r, BaseException)]
        assert len(winners) == 1, results
        assert all(
            isinstance(r, PreconditionFailed) for r in results if isinstance(r, BaseException)
        )
        current = await stores[1].get_object("b", "k")
        assert current is not None and current.etag == f"e{winners[0]}"
        bucket = await stores[2].get_bucket("b")
        assert (bucket.object_count, bucket.bytes_used) == (1, 3)
        infos = await stores[3].chunk_infos([chunk(i) for i in range(WRITERS)])
        assert sum(info.refs for info in infos.values()) == 1
    finally:
        await close_all(stores)


async def test_exactly_one_if_match_write_wins(opener: Opener) -> None:
    stores = await prepared(opener)
    try:
        await stores[0].put_object(obj("k", etag="e0", chunks=(A,)), NO_CONDITION)
        results = await race(
            stores,
            lambda s, i: s.put_object(
                obj("k", etag=f"n{i}", version=f"v{i}", chunks=(chunk(i),)),
                WriteCondition(if_match='"e0"'),
            ),
        )
        assert sum(not isinstance(r, BaseException) for r in results) == 1, results
        assert (await stores[1].get_bucket("b")).object_count == 1
        infos = await stores[2].chunk_infos([A, *(chunk(i) for i in range(WRITERS))])
        assert sum(info.refs for info in infos.values()) == 1 and infos[A].refs == 0
    finally:
        await close_all(stores)


async def append_with_retries(store: MetaStore, i: int) -> int:
    """An append as the service does it: read, extend the manifest, commit guarded by the
    version read; a lost race re-reads. Returns the number of tries it took."""
    for attempt in range(1, 200):
        current = await store.get_object("b", "log")
        names = tuple(c.sha256 for c in current.chunks) if current else ()
        record = obj(
            "log", 3 * (len(names) + 1), version=f"v{i}-{attempt}", chunks=(*names, chunk(i))
        )
        guard = WriteCondition(expect_version=current.version if current else "")
        try:
            await store.put_object(record, guard)
            return attempt
        except (ConcurrentUpdate, PreconditionFailed):
            await asyncio.sleep(0)
    raise AssertionError("an append never got through")


async def test_racing_appends_all_land_exactly_once(opener: Opener) -> None:
    stores = await prepared(opener)
    try:
        results = await race(stores, append_with_retries)
        assert not [r for r in results if isinstance(r, BaseException)], results
        final = await stores[0].get_object("b", "log")
        assert final is not None
        assert sorted(c.sha256 for c in final.chunks) == sorted(chunk(i) for i in range(WRITERS))
        bucket = await stores[1].get_bucket("b")
        assert (bucket.object_count, bucket.bytes_used) == (1, 3 * WRITERS)
        infos = await stores[2].chunk_infos([chunk(i) for i in range(WRITERS)])
        assert all(info.refs == 1 for info in infos.values())
    finally:
        await close_all(stores)


async def test_exactly_one_racing_delete_returns_the_object(opener: Opener) -> None:
    stores = await prepared(opener)
    try:
        await stores[0].put_object(obj("k", chunks=(A,)), NO_CONDITION)
        results = await race(stores, lambda s, i: s.delete_object("b", "k", NO_CONDITION, now=2.0))
        assert sum(r is not None and not isinstance(r, BaseException) for r in results) == 1
        assert all(r is None for r in results if not dataclasses.is_dataclass(r))
        bucket = await stores[1].get_bucket("b")
        assert (bucket.object_count, bucket.bytes_used) == (0, 0)
        assert (await stores[2].chunk_infos([A]))[A].refs == 0
    finally:
        await close_all(stores)


async def test_exactly_one_racing_bucket_creation_creates_it(opener: Opener) -> None:
    stores = await instances(opener)
    try:
        results = await race(
            stores,
            lambda s, i: s.create_bucket(
                "new",
                BucketSettings(replication=1 + i % 3, public_read=i % 2 == 0),
                owner=f"K{i}",
                now=float(i),
            ),
        )
        created = [i for i, r in enumerate(results) if r[1]]
        assert len(created) == 1, results
        winner = created[0]
        final = await stores[0].get_bucket("new")
        assert final.owner == f"K{winner}"
        assert final.settings == BucketSettings(
            replication=1 + winner % 3, public_read=winner % 2 == 0
        )
        assert all(r[0].owner == f"K{winner}" for r in results)
    finally:
        await close_all(stores)


async def test_concurrent_writes_of_distinct_and_same_keys_keep_exact_totals(
    opener: Opener,
) -> None:
    stores = await prepared(opener)
    try:
        await asyncio.gather(
            *(
                stores[i % INSTANCES].put_object(obj(f"k{i:03}", 4, chunks=()), NO_CONDITION)
                for i in range(200)
            )
        )
        # and everyone replaces one key, each with its own chunk
        await race(
            stores,
            lambda s, i: s.put_object(
                obj("same", 3, version=f"v{i}", chunks=(chunk(i),)), NO_CONDITION
            ),
        )
        bucket = await stores[0].get_bucket("b")
        assert (bucket.object_count, bucket.bytes_used) == (201, 803)
        final = await stores[1].get_object("b", "same")
        assert final is not None
        infos = await stores[2].chunk_infos([chunk(i) for i in range(WRITERS)])
        referenced = [n for n, info in infos.items() if info.refs]
        assert referenced == [final.chunks[0].sha256]
        assert all(info.refs in (0, 1) for info in infos.values())
    finally:
        await close_all(stores)


# -- SQLite across processes ------------------------------------------------------------------


def _process_worker(path: str, task: str, index: int, barrier: Any, results: Any) -> None:
    async def run() -> object:
        store = SQLiteMetaStore(path)
        try:
            barrier.wait()
            if task == "create_only":
                await store.put_object(
                    obj("k", etag=f"e{index}", chunks=(chunk(index),)),
                    WriteCondition(if_none_match="*"),
                )
                return "won"
            if task == "bucket":
                _, created = await store.create_bucket(
                    "new", BucketSettings(replication=1 + index % 3), owner=f"K{index}", now=1.0
                )
                return "won" if created else "lost"
            if task == "append":
                return await append_with_retries(store, index)
            raise AssertionError(task)
        except PreconditionFailed:
            return "lost"
        finally:
            await store.close()

    results.put((index, asyncio.run(run())))


def run_processes(path: Path, task: str, n: int = 6) -> dict[int, object]:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(n), ctx.Queue()
    procs = [
        ctx.Process(target=_process_worker, args=(str(path), task, i, barrier, results))
        for i in range(n)
    ]
    for p in procs:
        p.start()
    out = dict(results.get(timeout=120) for _ in procs)
    for p in procs:
        p.join(30)
        assert p.exitcode == 0
    return out


async def sqlite_prepared(tmp_path: Path) -> Path:
    path = tmp_path / "meta.db"
    store = SQLiteMetaStore(path)
    await store.create_bucket("b", BucketSettings(), owner=None, now=1.0)
    await store.claim_chunks(
        [ChunkRef(sha256=chunk(i), size=3) for i in range(WRITERS)], replicas=1, now=1.0
    )
    await store.close()
    return path


async def test_sqlite_processes_create_only_has_one_winner(tmp_path: Path) -> None:
    path = await sqlite_prepared(tmp_path)
    out = await asyncio.to_thread(run_processes, path, "create_only")
    assert sorted(out.values()).count("won") == 1, out
    store = SQLiteMetaStore(path)
    try:
        assert (await store.get_bucket("b")).object_count == 1
    finally:
        await store.close()


async def test_sqlite_processes_bucket_creation_has_one_creator(tmp_path: Path) -> None:
    path = await sqlite_prepared(tmp_path)
    out = await asyncio.to_thread(run_processes, path, "bucket")
    winners = [i for i, v in out.items() if v == "won"]
    assert len(winners) == 1, out
    store = SQLiteMetaStore(path)
    try:
        bucket = await store.get_bucket("new")
        assert bucket.owner == f"K{winners[0]}"
        assert bucket.settings.replication == 1 + winners[0] % 3
    finally:
        await store.close()


async def test_sqlite_processes_appends_all_land(tmp_path: Path) -> None:
    path = await sqlite_prepared(tmp_path)
    out = await asyncio.to_thread(run_processes, path, "append")
    assert all(isinstance(v, int) for v in out.values()), out
    store = SQLiteMetaStore(path)
    try:
        final = await store.get_object("b", "log")
        assert final is not None
        assert sorted(c.sha256 for c in final.chunks) == sorted(chunk(i) for i in out)
        assert (await store.get_bucket("b")).bytes_used == 3 * len(out)
    finally:
        await store.close()
