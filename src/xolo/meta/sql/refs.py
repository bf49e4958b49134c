"""Moving chunk references inside a manifest's transaction."""

from __future__ import annotations

from collections import Counter

from xolo.core.errors import ChunkCollected
from xolo.core.refs import ref_delta
from xolo.meta.sql.tx import Tx

__all__ = ["apply_ref_delta", "ref_delta"]


async def apply_ref_delta(tx: Tx, delta: Counter[str], now: float, *, bucket: str) -> None:
    """Apply ``delta`` in chunk-name order (so concurrent transactions lock rows in one order
    and never deadlock): first the cluster-wide counts GC reads, then ``bucket``'s own, which
    say what a direct-transfer plan may tell that bucket's writers it already holds. A gained
    reference needs the chunk's row, which the write's claim made: a missing row means GC
    collected the chunk meanwhile, and the write must not commit."""
    names = sorted(n for n in delta if delta[n])
    for name in names:
        n = delta[name]
        if n > 0:
            changed = await tx.run(
                "UPDATE chunk_refs SET refs = refs + ?, zero_since = NULL, gc_round = NULL "
                "WHERE sha256 = ?",
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
