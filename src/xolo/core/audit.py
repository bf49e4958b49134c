"""The audit chain: every change, MACed onto the one before it, per bucket.

Entry n of a chain carries ``mac_n = HMAC-SHA256(chain key, mac_{n-1} + "\\n" + canonical(e_n))``
where ``canonical`` is the entry's fields (sequence, time, actor, op, bucket, key, size, sha256,
etag, version) as compact JSON with sorted keys, and ``mac_0`` is 64 zeros. Changing, removing,
inserting or reordering any entry breaks every MAC from there on, and no one without the chain
key (derived from the master key, which never enters the metadata database) can forge new ones.
Key and grant changes go to the system chain, named ``""``.

This module is pure: the metadata store appends entries inside the transaction of the change
they record, and ``verify`` replays a chain read back from it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from xolo.core.records import ObjectRecord

GENESIS = "0" * 64
SYSTEM = ""
"""The name of the system chain (keys and grants)."""

EVENT_TYPES = {
    "put": "object.created",
    "complete": "object.created",
    "upload": "object.created",
    "append": "object.appended",
    "copy": "object.copied",
    "delete": "object.deleted",
    "tag": "object.tagged",
    "expire": "object.expired",
    "bucket.create": "bucket.created",
    "bucket.delete": "bucket.deleted",
    "bucket.update": "bucket.updated",
}
"""The change-feed type of each audited operation (key operations have none: they are not
published)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Change:
    """What a mutation records: who did what to which object. The store adds the sequence,
    the time and the MACs when it appends the entry."""

    op: str
    bucket: str
    time: float
    actor: str | None = None
    key: str | None = None
    size: int | None = None
    sha256: str | None = None
    etag: str | None = None
    version: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One link of a chain, as stored."""

    bucket: str
    sequence: int
    time: float
    actor: str | None
    op: str
    key: str | None
    size: int | None
    sha256: str | None
    etag: str | None
    version: str | None
    prev: str
    mac: str

    def canonical(self) -> bytes:
        """The bytes this entry's MAC covers."""
        return canonical(self.fields())

    def fields(self) -> dict[str, Any]:
        """The fields the MAC covers: all but ``prev`` and ``mac``."""
        return {
            "sequence": self.sequence,
            "time": self.time,
            "actor": self.actor,
            "op": self.op,
            "bucket": self.bucket,
            "key": self.key,
            "size": self.size,
            "sha256": self.sha256,
            "etag": self.etag,
            "version": self.version,
        }

    @property
    def event_type(self) -> str | None:
        """The change-feed type of this entry, or None for an unpublished one (key operations)."""
        return EVENT_TYPES.get(self.op)


def deleted_change(change: Change, removed: ObjectRecord) -> Change:
    """``change`` (a delete) completed with what it removed, or the delete marker it added."""
    return dataclasses.replace(
        change, size=removed.size, etag=removed.etag or None, version=removed.version
    )


def canonical(fields: dict[str, Any]) -> bytes:
    """Compact sorted-key JSON, so the same fields always give the same bytes to MAC."""
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def chain_key(master_key: bytes) -> bytes:
    """The chain's MAC key, derived from the master key (never stored beside the chain)."""
    return hmac.new(master_key, b"xolo audit chain v1", hashlib.sha256).digest()


def mac(key: bytes, prev: str, body: bytes) -> str:
    """One link's MAC: it binds the entry to the MAC before it, so no entry can move."""
    return hmac.new(key, prev.encode() + b"\n" + body, hashlib.sha256).hexdigest()


def link(key: bytes, change: Change, *, sequence: int, time: float, prev: str) -> Entry:
    """The entry that records ``change`` after the entry whose MAC is ``prev``."""
    draft = Entry(
        bucket=change.bucket,
        sequence=sequence,
        time=time,
        actor=change.actor,
        op=change.op,
        key=change.key,
        size=change.size,
        sha256=change.sha256,
        etag=change.etag,
        version=change.version,
        prev=prev,
        mac="",
    )
    return dataclasses.replace(draft, mac=mac(key, prev, draft.canonical()))


@dataclass(frozen=True, slots=True, kw_only=True)
class Verdict:
    """The outcome of replaying a chain."""

    valid: bool
    entries: int
    first_broken: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        """The verdict as the API reports it."""
        return {"valid": self.valid, "entries": self.entries, "first_broken": self.first_broken}


class ChainCheck:
    """Replays a chain entry by entry (so a long chain needs no memory), in sequence order, and
    names the first entry that does not hold: a MAC that does not match its content and
    predecessor, a sequence number that is missing or out of place, or an end that is not the
    head the store recorded."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._prev = GENESIS
        self._next = 1
        self.entries = 0
        self.broken: dict[str, Any] | None = None

    @property
    def last(self) -> int:
        """The sequence of the last entry checked."""
        return self._next - 1

    def feed(self, entry: Entry) -> bool:
        """Check one more entry; False once the chain is broken (stop feeding)."""
        if self.broken is not None:
            return False
        if entry.sequence != self._next:
            self.broken = {
                "sequence": self._next,
                "expected": entry.prev if entry.sequence > self._next else self._prev,
                "actual": None,
                "reason": f"entry {self._next} is missing (found {entry.sequence})",
            }
            return False
        want = mac(self._key, self._prev, entry.canonical())
        if not hmac.compare_digest(want, entry.mac):
            self.broken = {
                "sequence": entry.sequence,
                "expected": want,
                "actual": entry.mac,
                "reason": "the MAC does not match the entry and the one before it",
            }
            return False
        self.entries += 1
        self._prev, self._next = entry.mac, self._next + 1
        return True

    def finish(self, head: tuple[int, str] | None) -> Verdict:
        """The verdict, given the head the store recorded (None: no head, an empty chain)."""
        last = (self._next - 1, self._prev)
        if self.broken is None and head is not None and head != last:
            seq, head_mac = head
            if seq >= self._next:  # entries at the end are missing
                where, expected, actual = self._next, head_mac, None
            elif seq == last[0]:  # the head names another last entry
                where, expected, actual = seq, head_mac, self._prev
            else:  # entries after the head: no legitimate write puts them there
                where, expected, actual = seq + 1, None, "an entry after the head"
            self.broken = {
                "sequence": where,
                "expected": expected,
                "actual": actual,
                "reason": f"the chain ends at entry {self._next - 1}, its head says {seq}",
            }
        return Verdict(valid=self.broken is None, entries=self.entries, first_broken=self.broken)


def verify(key: bytes, entries: Iterable[Entry], *, head: tuple[int, str] | None) -> Verdict:
    """Replay a whole chain (see ChainCheck)."""
    check = ChainCheck(key)
    for entry in entries:
        if not check.feed(entry):
            break
    return check.finish(head)
