"""Which peers exist and what each may be used for, as every router agrees on it.

Peers are rows in the metadata store, written by their heartbeats (through any router), so all
routers read one list. A peer's state follows from its last heartbeat and the operator's choice:

    up        heard from within ``suspect_after``: placement, writes and reads
    suspect   silent longer than that: still an owner, but no new copies go to it
    down      silent longer than ``down_after``: no owner; its chunks are re-replicated
    draining  the operator is emptying it: no owner, still read from, copies move away
    drained   draining finished: it holds nothing the cluster needs

A failed request to a peer marks it suspect locally at once (until its next heartbeat), so a
router does not keep sending writes to a peer that has just died.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from xolo.chunks.base import ChunkVolume
from xolo.chunks.peer_http import PeerHTTP
from xolo.chunks.remote import PeerVolume
from xolo.chunks.replicated import Member
from xolo.core.errors import RequestTimeTooSkewed, StaleHeartbeat
from xolo.core.placement import Candidate
from xolo.core.records import PeerRecord
from xolo.meta.base import ClusterStore

log = logging.getLogger("xolo.cluster")

STATES = ("up", "suspect", "down", "draining", "drained")


HEARTBEAT_SKEW = 30.0
"""Seconds a heartbeat's ``sent`` time may differ from the receiving router's clock."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Timing:
    """How quickly silence changes a peer's state; every router of a cluster should agree."""

    heartbeat: float = 1.0
    """Seconds between a peer's heartbeats."""
    suspect_after: float = 5.0
    """Silence after which a peer takes no new copies."""
    down_after: float = 60.0
    """Silence after which a peer's chunks are re-replicated elsewhere."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerView:
    """A peer with its state, as the admin API shows it."""

    record: PeerRecord
    state: str


def state_of(peer: PeerRecord, *, now: float, timing: Timing, locally_suspect: bool) -> str:
    """The state a peer is in (see the module docstring)."""
    silence = now - peer.last_heartbeat
    if silence > timing.down_after:
        return "down"
    if peer.admin_state in ("draining", "drained"):
        return peer.admin_state
    if silence > timing.suspect_after or locally_suspect:
        return "suspect"
    return "up"


class Membership:
    """The router's view of the peers, refreshed from the metadata store."""

    def __init__(
        self,
        *,
        meta: ClusterStore,
        secret: str,
        http: PeerHTTP,
        timing: Timing = Timing(),
        clock: Callable[[], float] = time.time,
        volume_for: Callable[[PeerRecord], ChunkVolume] | None = None,
    ) -> None:
        self._meta = meta
        self._secret = secret
        self._http = http
        self.timing = timing
        self._clock = clock
        self._volume_for = volume_for or self._peer_volume
        self._peers: dict[str, PeerRecord] = {}
        self._volumes: dict[str, tuple[str, ChunkVolume]] = {}
        self._suspect_until: dict[str, float] = {}
        """Peer id → when a request to it last failed."""
        self._listeners: list[Callable[[str, str, str], None]] = []
        self._last_states: dict[str, str] = {}

    def _peer_volume(self, peer: PeerRecord) -> ChunkVolume:
        return PeerVolume(
            peer_id=peer.id, url=peer.url, secret=self._secret, http=self._http, clock=self._clock
        )

    def on_change(self, listener: Callable[[str, str, str], None]) -> None:
        """Call ``listener(peer_id, old_state, new_state)`` whenever a refresh sees a change."""
        self._listeners.append(listener)

    async def refresh(self) -> None:
        """Re-read the peers from the metadata store."""
        self._apply(await self._meta.list_peers())

    def _apply(self, peers: Sequence[PeerRecord]) -> None:
        self._peers = {p.id: p for p in peers}
        for peer in peers:
            known = self._volumes.get(peer.id)
            if known is None or known[0] != peer.url:
                self._volumes[peer.id] = (peer.url, self._volume_for(peer))
        for gone in set(self._volumes) - set(self._peers):
            del self._volumes[gone]
        states = {v.record.id: v.state for v in self.views()}
        for peer_id, state in states.items():
            old = self._last_states.get(peer_id, "new")
            if old != state:
                log.info("peer %s: %s -> %s", peer_id, old, state)
                for listener in self._listeners:
                    listener(peer_id, old, state)
        self._last_states = states

    async def heartbeat(self, peer: PeerRecord) -> PeerRecord:
        """Record a peer's heartbeat (received by this router, timed by its clock); a heartbeat
        no newer than the recorded one (by the peer's ``sent`` time) is StaleHeartbeat, so a
        captured heartbeat replayed to any router cannot keep a dead peer looking alive.

        ``sent`` must also be within ``HEARTBEAT_SKEW`` of this router's clock
        (RequestTimeTooSkewed otherwise): heartbeats held back and released later keep a dead
        peer up for at most that long, and a peer whose clock steps back is refused for at
        most that long, half the default ``down_after``."""
        now = self._clock()
        if abs(peer.sent - now) > HEARTBEAT_SKEW:
            raise RequestTimeTooSkewed(
                f"peer {peer.id}'s heartbeat was sent {peer.sent - now:+.1f} s from this "
                f"router's clock (at most {HEARTBEAT_SKEW:g} s allowed): check the clocks (NTP)"
            )
        stored = await self._meta.put_peer(
            PeerRecord(
                id=peer.id,
                url=peer.url,
                zone=peer.zone,
                capacity=peer.capacity,
                used_bytes=peer.used_bytes,
                chunks=peer.chunks,
                last_heartbeat=now,
                joined=now,
                sent=peer.sent,
            )
        )
        if stored is None:
            raise StaleHeartbeat(f"peer {peer.id} already reported a newer heartbeat")
        self._suspect_until.pop(peer.id, None)
        self._apply([*(p for p in self._peers.values() if p.id != peer.id), stored])
        return stored

    def suspect(self, peer_id: str) -> None:
        """A request to the peer failed: treat it as suspect until it is heard from again
        (a heartbeat newer than the failure), or until it is declared down anyway."""
        self._suspect_until[peer_id] = self._clock()

    def _locally_suspect(self, peer_id: str, now: float) -> bool:
        failed_at = self._suspect_until.get(peer_id)
        peer = self._peers.get(peer_id)
        if failed_at is None or peer is None:
            return False
        return peer.last_heartbeat <= failed_at + self.timing.heartbeat

    def views(self) -> list[PeerView]:
        """Every peer with its state, by id."""
        now = self._clock()
        return [
            PeerView(
                record=p,
                state=state_of(
                    p,
                    now=now,
                    timing=self.timing,
                    locally_suspect=self._locally_suspect(p.id, now),
                ),
            )
            for _, p in sorted(self._peers.items())
        ]

    def members(self) -> list[Member]:
        """Every peer as the Topology of ``chunks/replicated.py`` wants it: placement
        candidate weighted by capacity, its volume, and its state."""
        out = []
        for view in self.views():
            peer = view.record
            out.append(
                Member(
                    candidate=Candidate(id=peer.id, zone=peer.zone, weight=float(peer.capacity)),
                    volume=self._volumes[peer.id][1],
                    state=view.state,
                )
            )
        return out

    def volume(self, peer_id: str) -> ChunkVolume | None:
        """The volume of a peer in the current list; None for an unknown id."""
        found = self._volumes.get(peer_id)
        return found[1] if found else None

    async def run(self, interval: float = 0.5) -> None:
        """Refresh forever (until cancelled), so every router follows the same list."""
        while True:
            try:
                await self.refresh()
            except Exception as exc:  # the store is down: keep the last view, try again
                log.warning("refreshing the peer list failed: %s", exc)
            await asyncio.sleep(interval)
