"""CORS: a bucket's rules (``core/cors.py``) kept in its configuration, and the answers to
browsers' preflight and actual cross-origin requests.

A mixin of ObjectService, so every surface answers browsers alike. Preflights carry no
credentials: a bucket without rules and a bucket that does not exist get the same 403, so a
preflight reveals nothing. Rules are read through the service's short bucket cache (a change
is seen by other routers within that cache's lifetime).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from xolo.core.audit import Change
from xolo.core.cors import (
    CorsRule,
    check_rules,
    first_match,
    requested_headers,
    response_headers,
    rule_from_json,
    rule_json,
)
from xolo.core.errors import BadRequest, CORSForbidden, NoSuchBucket, NoSuchCORSConfiguration
from xolo.core.records import Bucket
from xolo.meta.base import MetaStore
from xolo.service.context import actor


class CorsMixin:
    """CORS configuration and decisions, for ObjectService."""

    _meta: MetaStore
    _clock: Callable[[], float]
    _bucket_cache: dict[str, Any]

    async def _cached_bucket(self, name: str) -> Bucket:
        raise NotImplementedError

    async def set_cors(self, bucket: str, rules: Sequence[Mapping[str, Any]]) -> Bucket:
        """Replace the bucket's CORS rules (checked whole: one bad rule changes nothing)."""
        checked = [rule_json(r) for r in check_rules(rules)]
        change = Change(op="bucket.update", bucket=bucket, time=self._clock(), actor=actor())
        updated = await self._meta.set_bucket_config(bucket, "cors", checked, change=change)
        self._bucket_cache.pop(bucket, None)
        return updated

    async def get_cors(self, bucket: str) -> list[CorsRule]:
        """The bucket's rules, read from the store (not the cache); NoSuchCORSConfiguration when it
        has none."""
        found = (await self._meta.get_bucket(bucket)).config.cors
        if not found:
            raise NoSuchCORSConfiguration("The CORS configuration does not exist")
        return [rule_from_json(r) for r in found]

    async def delete_cors(self, bucket: str) -> None:
        """Remove the bucket's rules, so browsers are refused again (by other routers once their
        bucket cache expires)."""
        change = Change(op="bucket.update", bucket=bucket, time=self._clock(), actor=actor())
        await self._meta.set_bucket_config(bucket, "cors", [], change=change)
        self._bucket_cache.pop(bucket, None)

    async def _rules(self, bucket: str) -> list[CorsRule]:
        try:
            found = (await self._cached_bucket(bucket)).config.cors
        except NoSuchBucket:
            return []
        return [rule_from_json(r) for r in found]

    async def cors_preflight(
        self, bucket: str, *, origin: str | None, method: str | None, headers: str | None
    ) -> dict[str, str]:
        """The headers that allow a preflight (``OPTIONS``), or CORSForbidden."""
        if not origin:
            raise BadRequest("Insufficient information. Origin request header needed.")
        if not method:
            raise BadRequest("Invalid Access-Control-Request-Method: none was given")
        rules = await self._rules(bucket)
        if not rules:
            raise CORSForbidden("CORSResponse: CORS is not enabled for this bucket.")
        wanted = requested_headers(headers)
        rule = first_match(rules, origin, method.upper(), wanted)
        if rule is None:
            raise CORSForbidden(
                "CORSResponse: This CORS request is not allowed: no rule allows its origin, "
                "method and headers."
            )
        return response_headers(rule, origin, preflight_headers=wanted)

    async def cors_headers(self, bucket: str, *, origin: str, method: str) -> dict[str, str]:
        """The ``Access-Control-*`` headers of an actual request from ``origin``; none when no
        rule allows it (the browser then keeps the response from the page)."""
        rule = first_match(await self._rules(bucket), origin, method.upper())
        return response_headers(rule, origin) if rule else {}
