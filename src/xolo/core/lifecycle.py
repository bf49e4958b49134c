"""Lifecycle rules: which objects, versions and unfinished uploads a bucket lets go of, and when.

Pure logic. A rule is kept as the JSON document ``rule_json`` makes of it (in the bucket's
configuration, ``BucketConfig.lifecycle``); the S3 layer translates XML to and from it and the
lifecycle worker (``service/lifecycle.py``) applies it.

As in S3, a rule's days count from the object's creation (or, for a noncurrent version, from the
moment a newer version replaced it) and fall due at the next midnight UTC after that many days
have passed; a date falls due at its midnight UTC.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from xolo.core.errors import InvalidArgument, MalformedXML

DAY = 86_400.0
MAX_RULES = 1000
"""S3's limit on the rules of one bucket."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One lifecycle rule. Every action is optional; a rule must have at least one."""

    id: str
    enabled: bool = True
    prefix: str = ""
    tags: Mapping[str, str] = field(default_factory=dict)
    """Every one of these tags must be on an object for the rule to apply to it."""
    expiration_days: int | None = None
    expiration_date: float | None = None
    """A midnight UTC, as a timestamp."""
    noncurrent_days: int | None = None
    abort_days: int | None = None
    """Days after initiation an unfinished multipart upload is aborted (no tag filter)."""

    def applies(self, key: str, tags: Mapping[str, str]) -> bool:
        """Whether the rule is on and its filter takes this key with these tags."""
        if not self.enabled or not key.startswith(self.prefix):
            return False
        return all(tags.get(k) == v for k, v in self.tags.items())

    def expires(self, modified: float, now: float) -> bool:
        """Whether a current version written at ``modified`` is due to expire at ``now``."""
        if self.expiration_days is not None and now >= due(modified, self.expiration_days):
            return True
        return self.expiration_date is not None and now >= self.expiration_date

    def noncurrent_expires(self, noncurrent_since: float, now: float) -> bool:
        """Whether a version that stopped being current at ``noncurrent_since`` is due."""
        return self.noncurrent_days is not None and now >= due(
            noncurrent_since, self.noncurrent_days
        )

    def aborts(self, initiated: float, now: float) -> bool:
        """Whether a multipart upload initiated at ``initiated`` is due to be aborted at ``now``."""
        return self.abort_days is not None and now >= due(initiated, self.abort_days)


def due(start: float, days: int) -> float:
    """The midnight UTC at or after ``start`` plus ``days`` days (S3 rounds up to midnight)."""
    return math.ceil((start + days * DAY) / DAY) * DAY


def _days(doc: Mapping[str, Any], name: str) -> int | None:
    value = doc.get(name)
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise InvalidArgument(f"'{name}' must be a positive integer of days")
    return value


def _date(value: Any) -> float | None:
    if value is None:
        return None
    try:
        when = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise MalformedXML(
            f"the lifecycle date {str(value)[:40]!r} is not an ISO 8601 date"
        ) from None
    when = when if when.tzinfo else when.replace(tzinfo=UTC)
    if when.astimezone(UTC).time() != datetime.min.time():
        raise InvalidArgument("a lifecycle Date must be at midnight UTC")
    return when.timestamp()


def rule_from_json(doc: Mapping[str, Any]) -> Rule:
    """A rule from its JSON document, checked; InvalidArgument says which part is wrong."""
    known = {
        "id",
        "enabled",
        "prefix",
        "tags",
        "expiration_days",
        "expiration_date",
        "noncurrent_days",
        "abort_days",
    }
    unknown = set(doc) - known
    if unknown:
        raise InvalidArgument(f"unknown lifecycle rule fields: {sorted(unknown)}")
    rule_id = doc.get("id") or ""
    if not isinstance(rule_id, str) or len(rule_id) > 255:
        raise InvalidArgument("a rule ID may be at most 255 characters")
    tags = doc.get("tags") or {}
    if not isinstance(tags, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise InvalidArgument("a rule's tags must map strings to strings")
    date = doc.get("expiration_date")
    rule = Rule(
        id=rule_id,
        enabled=bool(doc.get("enabled", True)),
        prefix=str(doc.get("prefix") or ""),
        tags=dict(tags),
        expiration_days=_days(doc, "expiration_days"),
        expiration_date=float(date) if isinstance(date, int | float) else _date(date),
        noncurrent_days=_days(doc, "noncurrent_days"),
        abort_days=_days(doc, "abort_days"),
    )
    if rule.expiration_days is not None and rule.expiration_date is not None:
        raise MalformedXML("an Expiration names Days or Date, not both")
    actions = (rule.expiration_days, rule.expiration_date, rule.noncurrent_days, rule.abort_days)
    if all(a is None for a in actions):
        raise InvalidArgument("a lifecycle rule needs at least one action")
    if rule.abort_days is not None and rule.tags:
        raise InvalidArgument(
            "AbortIncompleteMultipartUpload cannot be specified with a tag-based filter"
        )
    return rule


def rule_json(rule: Rule) -> dict[str, Any]:
    """The stored form of a rule (what ``rule_from_json`` reads back)."""
    return {
        "id": rule.id,
        "enabled": rule.enabled,
        "prefix": rule.prefix,
        "tags": dict(rule.tags),
        "expiration_days": rule.expiration_days,
        "expiration_date": rule.expiration_date,
        "noncurrent_days": rule.noncurrent_days,
        "abort_days": rule.abort_days,
    }


def check_rules(docs: Sequence[Mapping[str, Any]]) -> list[Rule]:
    """A whole configuration: 1 to 1000 rules, with distinct IDs."""
    if not docs:
        raise MalformedXML("a lifecycle configuration needs at least one Rule")
    if len(docs) > MAX_RULES:
        raise InvalidArgument(f"at most {MAX_RULES} lifecycle rules are allowed")
    rules = [rule_from_json(d) for d in docs]
    ids = [r.id for r in rules if r.id]
    if len(ids) != len(set(ids)):
        raise InvalidArgument("lifecycle rule IDs must be unique")
    return rules
