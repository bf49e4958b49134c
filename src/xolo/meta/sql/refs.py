"""Moving chunk references inside a manifest's transaction."""

from __future__ import annotations

from collections import Counter

from xolo.core.errors import ChunkCollected
from xolo.core.refs import ref_delta
from xolo.meta.sql.tx import Tx

__all__ = ["apply_ref_delta", "ref_delta"]


async def apply_ref_delta(tx: Tx, delta: Counter[str], now: float) -> None:
    """Apply ``delta`` in chunk-name order (so concurrent transactions lock rows in one order
    and never deadlock). A gained reference needs the chunk's row, which the write's claim made:
    a missing row means GC collected the chunk meanwhile, and the write must not commit."""
    for name in sorted(delta):
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
