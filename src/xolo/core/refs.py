"""Chunk reference arithmetic: what a change of manifests does to each chunk's count, and how
the copies several buckets want of one chunk combine."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

from xolo.core.records import DEFAULT_REPLICATION


def ref_delta(gained: Iterable[frozenset[str]], lost: Iterable[frozenset[str]]) -> Counter[str]:
    """Per chunk, references gained minus lost: each manifest holds one reference to each
    distinct chunk it names. Chunks that balance out are left out (nothing to write)."""
    delta: Counter[str] = Counter()
    for names in gained:
        delta.update(names)
    for names in lost:
        delta.subtract(names)
    return Counter({name: n for name, n in delta.items() if n})


def combine_replicas(a: int, b: int) -> int:
    """The copies a chunk wants when two buckets name it, wanting ``a`` and ``b`` (0: the
    default, ``min(2, peers)``). The higher explicit count, except that the default wins over
    an explicit count below 2, which it may exceed: a plain maximum would let a bucket that
    set 1 take a default bucket's chunk down to one copy."""
    if a == 0 or b == 0:
        explicit = max(a, b)
        # The default, min(2, peers), is at least an explicit 1 and at most an explicit 2.
        return explicit if explicit >= DEFAULT_REPLICATION else 0
    return max(a, b)
