"""Object versioning as pure decisions: what a write or a delete does to a key's history.

A key has at most one *current* version (what a plain GET reads) and a *history* of older
versions and delete markers, newest first. The stores keep the current version in the objects
table and the history beside it; they ask this module what to do and apply the answer inside
one transaction, so the rules are written once for every store.

The invariant every plan keeps: the newest version of a key is either its current version or a
delete marker; a current version is never older than anything in the history. So a key whose
newest version is a delete marker has no current version (a plain GET answers 404), and
removing the newest delete marker brings the version beneath it back as current.

A bucket's versioning is ``None`` (never enabled), ``Enabled`` or ``Suspended``, as S3 has it;
once enabled it can only be suspended. In a bucket that was never versioned every object is the
``null`` version and nothing is kept, exactly as before versioning existed. With versioning
suspended, new writes and delete markers are the ``null`` version and replace an earlier
``null`` version, wherever it is in the history; other versions are kept.
"""

from __future__ import annotations

import dataclasses
import os
import time
from dataclasses import dataclass

from xolo.core.errors import InvalidArgument
from xolo.core.records import ObjectRecord

ENABLED = "Enabled"
SUSPENDED = "Suspended"
MODES = (ENABLED, SUSPENDED)
NULL = "null"
"""The version id of every object written while versioning was off or suspended."""


def check_mode(mode: str) -> str:
    """A versioning status a bucket may be set to (never back to "off")."""
    if mode not in MODES:
        raise InvalidArgument(f"versioning status must be {ENABLED} or {SUSPENDED}, not {mode!r}")
    return mode


def new_version_id() -> str:
    """A candidate version id: 32 hex digits, random but for a time prefix. The store that
    commits the version replaces the first ``SEQ_DIGITS`` with its place (``placed``)."""
    return f"{time.time_ns():016x}{os.urandom(8).hex()}"


def check_version_id(version_id: str) -> str:
    """Reject a version id this store cannot have made (400, as S3 answers)."""
    if version_id == NULL:
        return version_id
    if len(version_id) != 32 or not all(c in "0123456789abcdef" for c in version_id):
        raise InvalidArgument("Invalid version id specified")
    return version_id


def marker(*, bucket: str, key: str, version_id: str, now: float) -> ObjectRecord:
    """A delete marker: a version that says the key was deleted; it has no bytes."""
    return ObjectRecord(
        bucket=bucket,
        key=key,
        size=0,
        etag="",
        sha256=None,
        modified=now,
        version=version_id,
        version_id=version_id,
        delete_marker=True,
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class Plan:
    """What to do to one key's versions.

    ``current`` is the new current version (None: the key has none afterwards); ``to_history``
    are versions to add to the history, oldest first (the replaced current, a new delete
    marker); ``drop_current`` says the replaced current is gone for good (its chunk references
    are released); ``drop_null`` says to remove a ``null`` version from the history (releasing
    its references) before adding anything.
    """

    current: ObjectRecord | None
    to_history: tuple[ObjectRecord, ...] = ()
    drop_current: bool = False
    drop_null: bool = False


def stored(mode: str | None, record: ObjectRecord) -> ObjectRecord:
    """``record`` with the version id it is stored under: its own (fresh) id when versioning is
    enabled, ``null`` otherwise."""
    if mode == ENABLED:
        return record
    return dataclasses.replace(record, version_id=NULL)


def _keeps(mode: str | None, current: ObjectRecord) -> bool:
    """Whether a replaced current version stays in the history."""
    if mode is None:
        return False
    return not (mode == SUSPENDED and current.version_id == NULL)


def plan_put(mode: str | None, current: ObjectRecord | None, record: ObjectRecord) -> Plan:
    """A write (PUT, copy, completed multipart upload, append) of ``record``."""
    keep = current is not None and _keeps(mode, current)
    return Plan(
        current=stored(mode, record),
        to_history=(current,) if keep and current is not None else (),
        drop_current=current is not None and not keep,
        drop_null=mode == SUSPENDED,
    )


def plan_delete(
    mode: str | None, current: ObjectRecord | None, *, bucket: str, key: str, now: float
) -> Plan:
    """A delete without a version id: in a versioned bucket it adds a delete marker (even when
    the key has no current version, as S3 does); otherwise it removes the current version."""
    if mode is None:
        return Plan(current=None, drop_current=current is not None)
    keep = current is not None and _keeps(mode, current)
    version_id = new_version_id() if mode == ENABLED else NULL
    added = marker(bucket=bucket, key=key, version_id=version_id, now=now)
    history = ((current,) if keep and current is not None else ()) + (added,)
    return Plan(
        current=None,
        to_history=history,
        drop_current=current is not None and not keep,
        drop_null=mode == SUSPENDED,
    )


def promotes(top: ObjectRecord | None) -> bool:
    """After a version is removed by id and the key is left with no current version: whether
    the newest version left in the history becomes current (it does unless it is a delete
    marker, which then stays the newest version and keeps the key deleted)."""
    return top is not None and not top.delete_marker


SEQ_DIGITS = 12
"""Leading hex digits of a version id that hold its place among the key's versions."""


def placed(record: ObjectRecord, seq: int) -> ObjectRecord:
    """``record`` with its place written into its version id (not into ``null``), so a listing
    resumes after a version even once that version has been deleted, as S3's do."""
    if record.version_id == NULL:
        return record
    return dataclasses.replace(
        record, version_id=f"{seq:0{SEQ_DIGITS}x}{record.version_id[SEQ_DIGITS:]}"
    )


def seq_of(version_id: str) -> int | None:
    """The place a version id records (None for ``null``, whose place must be looked up)."""
    if version_id == NULL:
        return None
    return int(version_id[:SEQ_DIGITS], 16)
