"""Chunk reference arithmetic: what a change of manifests does to each chunk's count."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable


def ref_delta(gained: Iterable[frozenset[str]], lost: Iterable[frozenset[str]]) -> Counter[str]:
    """Per chunk, references gained minus lost: each manifest holds one reference to each
    distinct chunk it names. Chunks that balance out are left out (nothing to write)."""
    delta: Counter[str] = Counter()
    for names in gained:
        delta.update(names)
    for names in lost:
        delta.subtract(names)
    return Counter({name: n for name, n in delta.items() if n})
