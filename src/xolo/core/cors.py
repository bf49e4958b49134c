"""CORS rules: which web origins may call a bucket from a browser, with which methods and headers.

Pure logic, S3's semantics. A rule is kept as the JSON document ``rule_json`` makes (in the
bucket's configuration, ``BucketConfig.cors``). The first rule that matches a request decides;
an origin or header pattern may hold one ``*`` wildcard. A rule whose origin is ``*`` answers
``Access-Control-Allow-Origin: *`` (and allows no credentials); any other echoes the origin.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from xolo.core.errors import InvalidArgument, MalformedXML

METHODS = ("GET", "PUT", "POST", "DELETE", "HEAD")
MAX_RULES = 100
"""S3's limit on one bucket's CORS rules."""


@dataclass(frozen=True, slots=True, kw_only=True)
class CorsRule:
    """One CORS rule."""

    id: str = ""
    allowed_origins: tuple[str, ...]
    allowed_methods: tuple[str, ...]
    allowed_headers: tuple[str, ...] = ()
    expose_headers: tuple[str, ...] = ()
    max_age: int | None = None

    def takes(self, origin: str, method: str) -> bool:
        """Whether this rule covers requests from ``origin`` with ``method``."""
        return method in self.allowed_methods and any(
            wildcard_match(p, origin) for p in self.allowed_origins
        )

    def allows_headers(self, headers: Sequence[str]) -> bool:
        """Whether every header a preflight asks for matches one of the rule's allowed headers."""
        return all(
            any(wildcard_match(p.lower(), h.lower()) for p in self.allowed_headers) for h in headers
        )


def wildcard_match(pattern: str, value: str) -> bool:
    """``pattern`` with at most one ``*`` standing for any run of characters."""
    if "*" not in pattern:
        return pattern == value
    head, _, tail = pattern.partition("*")
    return len(value) >= len(head) + len(tail) and value.startswith(head) and value.endswith(tail)


def _strings(doc: Mapping[str, Any], name: str, *, required: bool = False) -> tuple[str, ...]:
    values = doc.get(name) or []
    if not isinstance(values, list | tuple) or not all(isinstance(v, str) for v in values):
        raise InvalidArgument(f"'{name}' must be a list of strings")
    if required and not values:
        raise MalformedXML(f"each CORS rule needs at least one {name}")
    return tuple(values)


def rule_from_json(doc: Mapping[str, Any]) -> CorsRule:
    """A rule from its JSON document, checked against S3's rules."""
    unknown = set(doc) - {
        "id",
        "allowed_origins",
        "allowed_methods",
        "allowed_headers",
        "expose_headers",
        "max_age",
    }
    if unknown:
        raise InvalidArgument(f"unknown CORS rule fields: {sorted(unknown)}")
    methods = _strings(doc, "allowed_methods", required=True)
    bad = [m for m in methods if m not in METHODS]
    if bad:
        raise InvalidArgument(f"Found unsupported HTTP method in CORS config: {bad[0]}")
    origins = _strings(doc, "allowed_origins", required=True)
    headers = _strings(doc, "allowed_headers")
    for pattern in (*origins, *headers):
        if pattern.count("*") > 1:
            raise InvalidArgument(f"a CORS pattern may hold one wildcard: {pattern!r}")
    max_age = doc.get("max_age")
    if max_age is not None and (
        not isinstance(max_age, int) or isinstance(max_age, bool) or max_age < 0
    ):
        raise InvalidArgument("MaxAgeSeconds must be a non-negative integer")
    return CorsRule(
        id=str(doc.get("id") or ""),
        allowed_origins=origins,
        allowed_methods=methods,
        allowed_headers=headers,
        expose_headers=_strings(doc, "expose_headers"),
        max_age=max_age,
    )


def rule_json(rule: CorsRule) -> dict[str, Any]:
    """A rule as the JSON document the bucket's configuration keeps."""
    return {
        "id": rule.id,
        "allowed_origins": list(rule.allowed_origins),
        "allowed_methods": list(rule.allowed_methods),
        "allowed_headers": list(rule.allowed_headers),
        "expose_headers": list(rule.expose_headers),
        "max_age": rule.max_age,
    }


def check_rules(docs: Sequence[Mapping[str, Any]]) -> list[CorsRule]:
    """A whole CORS configuration, checked rule by rule and against S3's limit on rules."""
    if not docs:
        raise MalformedXML("a CORS configuration needs at least one CORSRule")
    if len(docs) > MAX_RULES:
        raise InvalidArgument(f"at most {MAX_RULES} CORS rules are allowed")
    return [rule_from_json(d) for d in docs]


def requested_headers(value: str | None) -> list[str]:
    """The header names of an ``Access-Control-Request-Headers`` value."""
    return [h.strip() for h in (value or "").split(",") if h.strip()]


def first_match(
    rules: Sequence[CorsRule], origin: str, method: str, headers: Sequence[str] = ()
) -> CorsRule | None:
    """The rule that decides a request from ``origin`` (a preflight names its method and
    headers), or None when no rule allows it."""
    for rule in rules:
        if rule.takes(origin, method) and rule.allows_headers(headers):
            return rule
    return None


def response_headers(
    rule: CorsRule, origin: str, *, preflight_headers: Sequence[str] | None = None
) -> dict[str, str]:
    """The ``Access-Control-*`` headers a matching rule gives; a preflight also gets the
    methods, the headers it asked for, and the max age."""
    wildcard = "*" in rule.allowed_origins
    out = {"access-control-allow-origin": "*" if wildcard else origin, "vary": "Origin"}
    if not wildcard:
        out["access-control-allow-credentials"] = "true"
    if rule.expose_headers:
        out["access-control-expose-headers"] = ", ".join(rule.expose_headers)
    if preflight_headers is not None:
        out["access-control-allow-methods"] = ", ".join(rule.allowed_methods)
        if preflight_headers:
            out["access-control-allow-headers"] = ", ".join(preflight_headers)
        if rule.max_age is not None:
            out["access-control-max-age"] = str(rule.max_age)
    return out
