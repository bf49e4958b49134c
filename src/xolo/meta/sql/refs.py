"""Moving chunk references inside a manifest's transaction, and keeping each chunk's wanted
copies (``replicas``) at the highest replication of the buckets that name it."""

from __future__ import annotations

import json
from collections import Counter

from xolo.core.errors import ChunkCollected
from xolo.core.records import BucketSettings
from xolo.meta.sql.dialect import Dialect
from xolo.meta.sql.tx import Tx

__all__ = ["apply_ref_delta", "recount_replicas"]


async def _replication(tx: Tx, dialect: Dialect, bucket: str) -> int:
    """The bucket's explicit replication (0: the default), its row share-locked so that a
    concurrent change of the setting waits for this write, or this write for it."""
    row = await tx.one(f"SELECT settings FROM buckets WHERE name = ?{dialect.for_share}", bucket)
    if row is None:
        return 0
    return BucketSettings.from_json(json.loads(row[0])).replication or 0


async def apply_ref_delta(
    tx: Tx, delta: Counter[str], now: float, *, bucket: str, dialect: Dialect
) -> None:
    """Apply ``delta`` in chunk-name order (so concurrent transactions lock rows in one order
    and never deadlock): first the cluster-wide counts GC reads, then ``bucket``'s own, which
    say what a direct-transfer plan may tell that bucket's writers it already holds. A gained
    reference needs the chunk's row, which the write's claim made: a missing row means GC
    collected the chunk meanwhile, and the write must not commit. A gained chunk's wanted
    copies rise to the bucket's replication as it is at commit, so a write that read the
    setting before it was raised still ends up with the new number of copies."""
    names = sorted(n for n in delta if delta[n])
    replicas = 0
    if any(delta[n] > 0 for n in names):
        replicas = await _replication(tx, dialect, bucket)
    for name in names:
        n = delta[name]
        if n > 0:
            changed = await tx.run(
                "UPDATE chunk_refs SET refs = refs + ?, zero_since = NULL, gc_round = NULL, "
                f"replicas = {dialect.greatest}(replicas, ?) WHERE sha256 = ?",
                n,
                replicas,
                name,
            )
            if changed != 1:
                raise ChunkCollected(f"chunk {name} was collected while this write was running")
        else:
            await tx.run(
                "UPDATE chunk_refs SET refs = refs - ?, "
                "zero_since = CASE WHEN refs - ? <= 0 THEN ? ELSE zero_since END "
                "WHERE sha256 = ?",
                -n,
                -n,
                now,
                name,
            )
    for name in names:
        await _move_bucket_ref(tx, bucket, name, delta[name])


async def _move_bucket_ref(tx: Tx, bucket: str, name: str, n: int) -> None:
    """One bucket's count of the manifests and parts naming a chunk; no row means none."""
    if n > 0:
        await tx.run(
            "INSERT INTO bucket_chunks (bucket, sha256, refs) VALUES (?, ?, ?) "
            "ON CONFLICT (bucket, sha256) DO UPDATE SET refs = bucket_chunks.refs + excluded.refs",
            bucket,
            name,
            n,
        )
        return
    await tx.run(
        "UPDATE bucket_chunks SET refs = refs - ? WHERE bucket = ? AND sha256 = ?", -n, bucket, name
    )
    await tx.run(
        "DELETE FROM bucket_chunks WHERE bucket = ? AND sha256 = ? AND refs <= 0", bucket, name
    )


async def recount_replicas(tx: Tx, dialect: Dialect, bucket: str) -> None:
    """After ``bucket``'s replication changed: every chunk it names wants the highest
    replication among the buckets that name it, so raising the setting gains copies of data
    already written and lowering it lets repair remove the extra ones (never below what
    another bucket sharing the chunk asks for). Chunk rows are locked in name order first,
    as writers lock them."""
    mine = await _replication(tx, dialect, bucket)
    names = [
        r[0]
        for r in await tx.all(
            "SELECT sha256 FROM chunk_refs WHERE sha256 IN "
            "(SELECT sha256 FROM bucket_chunks WHERE bucket = ?) "
            f"ORDER BY sha256{dialect.for_update}",
            bucket,
        )
    ]
    if not names:
        return
    await tx.run(
        "UPDATE chunk_refs SET replicas = ? WHERE sha256 IN "
        "(SELECT sha256 FROM bucket_chunks WHERE bucket = ?)",
        mine,
        bucket,
    )
    shared = await tx.all(
        "SELECT o.sha256, o.bucket FROM bucket_chunks c JOIN bucket_chunks o "
        "ON o.sha256 = c.sha256 AND o.bucket != c.bucket WHERE c.bucket = ? ORDER BY o.sha256",
        bucket,
    )
    others: dict[str, int] = {}
    for name, other in shared:
        if other not in others:
            others[other] = await _replication(tx, dialect, other)
        if others[other] > mine:
            await tx.run(
                f"UPDATE chunk_refs SET replicas = {dialect.greatest}(replicas, ?) "
                "WHERE sha256 = ?",
                others[other],
                name,
            )
