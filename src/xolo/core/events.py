"""Change events: what the feed publishes of an audit entry, and which subscriptions want it.

The feed is the audit chain read forward: every published event is an audit entry (same
sequence, same MAC), so the feed and the audit trail can never disagree. Events are ordered per
bucket by their sequence, which is gap-free, so a consumer resumes exactly where it stopped.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from xolo.core.audit import Entry
from xolo.core.errors import InvalidArgument

TYPES = (
    "object.created",
    "object.appended",
    "object.copied",
    "object.deleted",
    "object.tagged",
    "object.expired",
    "bucket.created",
    "bucket.deleted",
)
"""The event types the feed publishes (settings and key changes stay in the audit chain)."""


def check_types(types: Collection[str] | None) -> frozenset[str]:
    """A subscription's types: all when none are named; unknown ones are an error."""
    if not types:
        return frozenset(TYPES)
    unknown = set(types) - set(TYPES)
    if unknown:
        raise InvalidArgument(f"unknown event types {sorted(unknown)}; known: {', '.join(TYPES)}")
    return frozenset(types)


def wanted(entry: Entry, *, prefix: str, types: frozenset[str]) -> bool:
    """Whether a subscription with ``prefix`` and ``types`` receives this entry."""
    kind = entry.event_type
    if kind not in types:
        return False
    return not prefix or (entry.key or "").startswith(prefix)


def event_json(entry: Entry) -> dict[str, Any]:
    """The published form of an entry."""
    return {
        "type": entry.event_type,
        "bucket": entry.bucket,
        "key": entry.key,
        "size": entry.size,
        "etag": entry.etag,
        "sha256": entry.sha256,
        "version": entry.version,
        "actor": entry.actor,
        "sequence": entry.sequence,
        "time": entry.time,
        "mac": entry.mac,
    }
