"""The audit chain in every metadata store: each change is appended in its own transaction (a
refused change appends nothing), chains of different buckets are independent, racing writers
of one bucket produce one unbroken chain, and tampering with PostgreSQL rows is pinpointed."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.contract.stores import CHAIN_KEY, LAST_PG_SCHEMA, META_BACKENDS, PG_DSN, Opener
from tests.contract.test_metastore import A, bucket, obj
from xolo.core.audit import Change
from xolo.core.conditions import NO_CONDITION, WriteCondition
from xolo.core.errors import PreconditionFailed
from xolo.meta.base import MetaStore
from xolo.service.audit import AuditLog

pytestmark = pytest.mark.anyio


def put_change(key: str, etag: str, bucket_name: str = "b") -> Change:
    return Change(op="put", bucket=bucket_name, key=key, etag=etag, time=100.0, actor="K1")


async def test_changes_are_appended_with_their_writes_and_refusals_append_nothing(
    meta: MetaStore,
) -> None:
    await bucket(meta)
    log = AuditLog(meta=meta, chain_key=CHAIN_KEY)
    await meta.put_object(obj("k", etag="e1"), NO_CONDITION, change=put_change("k", "e1"))
    with pytest.raises(PreconditionFailed):
        await meta.put_object(
            obj("k", etag="e2"), WriteCondition(if_none_match="*"), change=put_change("k", "e2")
        )
    await meta.delete_object(
        "b", "k", NO_CONDITION, now=5.0, change=Change(op="delete", bucket="b", key="k", time=5.0)
    )
    assert (
        await meta.delete_object(
            "b",
            "k",
            NO_CONDITION,
            now=6.0,
            change=Change(op="delete", bucket="b", key="k", time=6.0),
        )
        is None
    )  # nothing was deleted, nothing is recorded
    entries = await log.page("b")
    assert [(e.sequence, e.op, e.etag) for e in entries] == [(1, "put", "e1"), (2, "delete", "e1")]
    assert entries[1].size == 3  # the delete records what it removed
    verdict = await log.verify("b")
    assert verdict.valid and verdict.entries == 2


async def test_racing_writers_of_one_bucket_make_one_unbroken_chain(opener: Opener) -> None:
    stores = [await opener() for _ in range(4)]
    try:
        await bucket(stores[0])
        await asyncio.gather(
            *(
                stores[i % 4].put_object(
                    obj(f"k{i}", etag=f"e{i}", chunks=(A,)),
                    NO_CONDITION,
                    change=put_change(f"k{i}", f"e{i}"),
                )
                for i in range(40)
            )
        )
        log = AuditLog(meta=stores[1], chain_key=CHAIN_KEY)
        entries = await log.page("b")
        assert [e.sequence for e in entries] == list(range(1, 41))
        assert sorted(e.key or "" for e in entries) == sorted(f"k{i}" for i in range(40))
        assert (await log.verify("b")).valid
        assert await stores[2].audit_head("other") is None
    finally:
        for store in stores:
            await store.close()


async def test_a_wrong_chain_key_verifies_nothing(meta: MetaStore) -> None:
    await bucket(meta)
    await meta.put_object(obj("k"), NO_CONDITION, change=put_change("k", "e1"))
    verdict = await AuditLog(meta=meta, chain_key=b"some other key").verify("b")
    assert not verdict.valid and verdict.first_broken is not None
    assert verdict.first_broken["sequence"] == 1


@pytest.mark.parametrize("damage", ["alter", "delete", "insert", "reorder"])
async def test_tampering_with_postgres_rows_is_pinpointed(tmp_path: Path, damage: str) -> None:
    import asyncpg

    async with META_BACKENDS["postgres"](tmp_path) as open_one:
        meta = await open_one()
        try:
            await bucket(meta)
            for i in range(1, 6):
                await meta.put_object(
                    obj(f"k{i}"), NO_CONDITION, change=put_change(f"k{i}", f"e{i}")
                )
            log = AuditLog(meta=meta, chain_key=CHAIN_KEY)
            assert (await log.verify("b")).valid
            conn = await asyncpg.connect(PG_DSN, server_settings={"search_path": LAST_PG_SCHEMA[0]})
            try:
                if damage == "alter":
                    await conn.execute("UPDATE audit SET actor = 'someone else' WHERE seq = 3")
                    expected = 3
                elif damage == "delete":
                    await conn.execute("DELETE FROM audit WHERE seq = 2")
                    expected = 2
                elif damage == "insert":
                    await conn.execute(
                        "INSERT INTO audit SELECT bucket, 6, time, actor, op, key, size, sha256, "
                        "etag, version, mac, repeat('f', 64) FROM audit WHERE seq = 5"
                    )
                    expected = 6
                else:
                    for sql in (
                        "UPDATE audit SET seq = -1 WHERE seq = 4",
                        "UPDATE audit SET seq = 4 WHERE seq = 5",
                        "UPDATE audit SET seq = 5 WHERE seq = -1",
                    ):
                        await conn.execute(sql)
                    expected = 4
            finally:
                await conn.close()
            verdict = await log.verify("b")
            assert not verdict.valid
            assert verdict.first_broken is not None and verdict.first_broken["sequence"] == expected
        finally:
            await meta.close()
