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


async def test_writes_racing_a_raise_of_replication_all_end_with_the_new_count(
    opener: Opener,
) -> None:
    """Each writer claimed its chunk with the old R (as a router whose bucket cache is a
    second old would); a raise committed on another instance amid the commits still reaches
    every chunk, whichever side of it each commit lands on."""
    stores = await prepared(opener)
    try:
        await stores[0].update_bucket("b", {"replication": 1})

        some_committed = asyncio.Event()

        async def write(store: MetaStore, i: int) -> None:
            await store.put_object(obj(f"k{i:02}", chunks=(chunk(i),)), NO_CONDITION)
            if i == WRITERS // 4:
                some_committed.set()

        async def raise_it() -> None:
            await some_committed.wait()  # amid the commits, not before them all
            await stores[-1].update_bucket("b", {"replication": 3})

        results = await asyncio.gather(race(stores, write), raise_it())
        assert not [r for r in results[0] if isinstance(r, BaseException)], results
        infos = await stores[1].chunk_infos([chunk(i) for i in range(WRITERS)])
        assert {info.replicas for info in infos.values()} == {3}
        assert all(info.refs == 1 for info in infos.values())
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


# -- PostgreSQL: a bucket deletion against the uploads it removes ------------------------------


async def _waiting_on_locks(conn: Any, table: str) -> int:
    """How many backends wait for a row lock in a statement on ``table``."""
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE $1",
            f"%{table}%",
        )
    )


async def _until(check: Callable[[], Awaitable[bool]], what: str) -> None:
    """Poll ``check`` until it holds (ten seconds at most)."""
    for _ in range(1000):
        if await check():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.parametrize("contender", ["abort", "put_part"])
async def test_postgres_bucket_deletion_racing_an_upload_moves_each_reference_once(
    tmp_path: Path, contender: str
) -> None:
    """The interleaving that gave references back twice: the deletion has read the bucket's
    parts and waits (here on a row another transaction holds) before subtracting them, while an
    abort of one upload commits, or a part is added to it. Each chunk must end with exactly the
    references the surviving objects hold, and the deleted bucket with no claim to any chunk."""
    import asyncpg

    from tests.contract.stores import LAST_PG_SCHEMA, META_BACKENDS, PG_DSN
    from xolo.core.errors import NoSuchUpload
    from xolo.core.records import MultipartUpload, Part

    first, shared, added = chunk(1), chunk(9), chunk(12)
    async with META_BACKENDS["postgres"](tmp_path) as open_one:
        stores = [await open_one(), await open_one()]
        settings = {"search_path": LAST_PG_SCHEMA[0]}
        holder = await asyncpg.connect(PG_DSN, server_settings=settings)
        # Another connection watches: pg_stat_activity is a snapshot within a transaction.
        watcher = await asyncpg.connect(PG_DSN, server_settings=settings)
        try:
            meta = stores[0]
            for name in ("keep", "gone"):
                await meta.create_bucket(name, BucketSettings(), owner=None, now=1.0)
            await meta.claim_chunks(
                [ChunkRef(sha256=n, size=3) for n in (first, shared, added)], replicas=1, now=1.0
            )
            kept = dataclasses.replace(obj("k", chunks=(shared,)), bucket="keep")
            await meta.put_object(kept, NO_CONDITION)
            for upload_id, name in (("u1", first), ("u2", shared)):
                await meta.create_multipart(
                    MultipartUpload(
                        upload_id=upload_id,
                        bucket="gone",
                        key=upload_id,
                        created=2.0,
                        content_type="application/octet-stream",
                    )
                )
                await meta.put_part(
                    Part(
                        upload_id=upload_id,
                        number=1,
                        size=3,
                        etag="e",
                        modified=2.0,
                        chunks=(ChunkRef(sha256=name, size=3),),
                    ),
                    now=2.0,
                )
            # Hold the row of the chunk the deletion subtracts first (names sort), so it stops
            # between reading the parts and giving their references back.
            tx = holder.transaction()
            await tx.start()
            await holder.execute("SELECT 1 FROM chunk_refs WHERE sha256 = $1 FOR UPDATE", first)
            deletion = asyncio.create_task(meta.delete_bucket("gone", now=3.0))
            await _until(
                lambda: _bool(_waiting_on_locks(watcher, "chunk_refs")), "the deletion to wait"
            )
            if contender == "abort":
                other = asyncio.create_task(stores[1].abort_multipart("u2", now=3.0))
            else:
                extra = Part(
                    upload_id="u2",
                    number=2,
                    size=3,
                    etag="f",
                    modified=3.0,
                    chunks=(ChunkRef(sha256=added, size=3),),
                )
                other = asyncio.create_task(stores[1].put_part(extra, now=3.0))
            await _until(
                lambda: _done_or(other, lambda: _waiting_on_locks(watcher, "multipart_uploads")),
                "the contender to finish or wait",
            )
            await tx.rollback()
            await deletion
            outcome = (await asyncio.gather(other, return_exceptions=True))[0]
            infos = await stores[1].chunk_infos([first, shared, added])
            assert {n: i.refs for n, i in infos.items()} == {first: 0, shared: 1, added: 0}
            assert await meta.bucket_chunks("gone", [first, shared, added]) == frozenset()
            assert await meta.bucket_chunks("keep", [shared]) == frozenset({shared})
            # The contender came second: it found no upload.
            assert outcome is False or isinstance(outcome, NoSuchUpload), outcome
        finally:
            await holder.close()
            await watcher.close()
            await close_all(stores)


async def _bool(count: Awaitable[int]) -> bool:
    return await count > 0


async def _done_or(task: asyncio.Task[Any], waiting: Callable[[], Awaitable[int]]) -> bool:
    return task.done() or await waiting() > 0
