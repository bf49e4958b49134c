"""Where a chunk belongs: weighted rendezvous hashing over the peers, spread across zones.

Every peer gets a score for every chunk, ``weight / -ln(u)`` where ``u`` in (0, 1) comes from
hashing the peer id with the chunk name. The R best-scoring peers own the chunk. This is the
weighted form of highest-random-weight hashing: a peer with twice the capacity owns about twice
the chunks, and adding or removing one peer moves only the chunks it gains or loses, about
1/N of them, never a reshuffle of the rest. Owners are computed, never stored; any record of
where a chunk is can only be a cache.

When the peers span at least R zones the owners are in R distinct zones; with fewer zones every
zone gets one owner before any zone gets a second.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Candidate:
    """A peer as placement sees it: identity, failure domain, weight."""

    id: str
    zone: str
    weight: float


def score(peer: Candidate, sha256: str) -> float:
    """The peer's rendezvous score for the chunk (higher wins)."""
    digest = hashlib.sha256(f"{peer.id}\0{sha256}".encode()).digest()
    # 53 bits give a float in (0, 1) with every value distinct from 0 and 1.
    u = ((int.from_bytes(digest[:8], "big") >> 11) + 0.5) / float(1 << 53)
    return max(peer.weight, 1e-12) / -math.log(u)


def ranked(peers: Sequence[Candidate], sha256: str) -> list[Candidate]:
    """Every peer, best score first (ties broken by id, so the order is total)."""
    return sorted(peers, key=lambda p: (-score(p, sha256), p.id))


def owners(peers: Sequence[Candidate], sha256: str, replicas: int) -> list[Candidate]:
    """The ``replicas`` peers that own the chunk, in score order, spread over zones."""
    order = ranked(peers, sha256)
    chosen: list[Candidate] = []
    zones: dict[str, int] = {}
    # Round by round: in each round a zone may hold one more owner than in the last.
    per_zone = 1
    while len(chosen) < min(replicas, len(order)):
        for peer in order:
            if len(chosen) == replicas:
                break
            if peer in chosen or zones.get(peer.zone, 0) >= per_zone:
                continue
            chosen.append(peer)
            zones[peer.zone] = zones.get(peer.zone, 0) + 1
        per_zone += 1
    return sorted(chosen, key=order.index)


def preference(peers: Sequence[Candidate], sha256: str, replicas: int) -> list[Candidate]:
    """The owners first, then every other peer by score: where to read a chunk, and where a
    write hands a copy off to when an owner cannot take it."""
    first = owners(peers, sha256, replicas)
    return first + [p for p in ranked(peers, sha256) if p not in first]
