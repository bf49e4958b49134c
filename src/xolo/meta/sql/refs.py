"""Moving chunk references inside a manifest's transaction, and keeping each chunk's wanted
copies (``replicas``) at the highest replication of the buckets that name it."""

from __future__ import annotations

import json
from collections import Counter

from xolo.core.errors import ChunkCollected
from xolo.core.records import DEFAULT_REPLICATION, BucketSettings
from xolo.meta.sql.dialect import Dialect
from xolo.meta.sql.tx import Tx

__all__ = ["apply_ref_delta", "combine_sql", "recount_replicas"]


def combine_sql(dialect: Dialect, column: str, replicas: int) -> str:
    """``core.refs.combine_replicas(column, replicas)`` as an SQL expression, the branch for
    ``replicas`` chosen here (it is an integer, written in as a literal)."""
    wanted, floor = int(replicas), DEFAULT_REPLICATION
    if wanted == 0:  # the default: an explicit count below it gives way to it
        return f"CASE WHEN {column} >= {floor} THEN {column} ELSE 0 END"
    if wanted >= floor:  # above the default, so the higher count whatever the other is
        return f"{dialect.greatest}({column}, {wanted})"
    return f"CASE WHEN {column} = 0 THEN 0 ELSE {dialect.greatest}({column}, {wanted}) END"


async def _replication(tx: Tx, bucket: str, lock: str = "") -> int:
    """The bucket's explicit replication (0: the default); ``lock`` is appended to the read
    (a writer share-locks its bucket, so that a concurrent change of the setting waits for
    the write, or the write for it)."""
    row = await tx.one(f"SELECT settings FROM buckets WHERE name = ?{lock}", bucket)
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
        replicas = await _replication(tx, bucket, dialect.for_share)
    for name in names:
        n = delta[name]
        if n > 0:
            changed = await tx.run(
                "UPDATE chunk_refs SET refs = refs + ?, zero_since = NULL, gc_round = NULL, "
                f"replicas = {combine_sql(dialect, 'replicas', replicas)} WHERE sha256 = ?",
                n,
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
    """After ``bucket``'s replication changed: every chunk it names wants what the buckets
    naming it combine to (``core.refs.combine_replicas``), so raising the setting gains copies
    of data already written and lowering it lets repair remove the extra ones (never below
    what another bucket sharing the chunk asks for). Chunk rows are locked in name order
    first, as writers lock them; the other buckets' settings are read unlocked (a lock there,
    taken while holding chunk rows, could close a cycle with a recount of that bucket, and
    the chunk rows already order two recounts: the second reads the first's setting)."""
    mine = await _replication(tx, bucket)
    if dialect.for_update:  # lock in name order, without bringing the names over
        await tx.one(
            "SELECT count(*) FROM (SELECT sha256 FROM chunk_refs WHERE sha256 IN "
            "(SELECT sha256 FROM bucket_chunks WHERE bucket = ?) "
            f"ORDER BY sha256{dialect.for_update}) AS locked",
            bucket,
        )
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
            others[other] = await _replication(tx, other)
        if others[other] != mine:
            combined = combine_sql(dialect, "replicas", others[other])
            await tx.run(f"UPDATE chunk_refs SET replicas = {combined} WHERE sha256 = ?", name)
