"""The one access decision every surface asks (native API, S3, chunk API, admin API).

A caller is a ``Principal`` (a key, with grants) or anonymous (None). The rules:

* a key may do what its grants allow on a bucket (``read`` < ``write`` < ``admin``, per bucket
  or on ``*``); root may do anything;
* an anonymous caller may only read a bucket whose settings say ``public_read``;
* a refusal never says whether the bucket exists: a key without the grant gets AccessDenied
  (403) for a bucket that exists and for one that does not, and an anonymous caller gets
  Unauthenticated (401; S3 answers it as AccessDenied) for both.

Creating a bucket is decided here too, because the answer to a second creator (who already
knows the bucket exists by holding a grant on it, or not) is policy, not HTTP.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from typing import Literal

from xolo.core.errors import AccessDenied, BucketAlreadyExists, NoSuchBucket, Unauthenticated
from xolo.core.records import Bucket
from xolo.service.auth import Principal

Level = Literal["read", "write", "admin"]


class Created(enum.Enum):
    """How a create-bucket request ended."""

    CREATED = "created"
    """This caller created it."""
    ALREADY_YOURS = "already-yours"
    """It existed, and this caller owns it (or administers it)."""


def require_service_admin(principal: Principal | None) -> Principal:
    """Cluster administration and raw chunks bypass buckets: they need admin on ``*`` (root
    has it)."""
    if principal is None:
        raise Unauthenticated("credentials are required")
    principal.require("admin", "*")
    return principal


class AccessPolicy:
    """Decides; never touches HTTP. ``bucket`` looks a bucket up (cached by the service)."""

    def __init__(self, *, bucket: Callable[[str], Awaitable[Bucket]]) -> None:
        self._bucket = bucket

    async def _public(self, name: str) -> bool:
        try:
            return (await self._bucket(name)).settings.public_read
        except NoSuchBucket:
            return False  # the same answer as a private bucket

    async def require(self, principal: Principal | None, level: Level, bucket: str | None) -> None:
        """Raise unless ``principal`` may act at ``level`` on ``bucket`` (None: the service)."""
        if principal is not None:
            if principal.can(level, bucket):
                return
            raise AccessDenied(
                f"this key may not {level} {('bucket ' + bucket) if bucket else 'here'}"
            )
        if level == "read" and bucket and await self._public(bucket):
            return
        raise Unauthenticated(
            "credentials are required (anonymous callers may only read public-read buckets)"
        )

    def visible(self, principal: Principal | None, buckets: Sequence[Bucket]) -> list[Bucket]:
        """The buckets a bucket listing shows this caller: those it may read."""
        if principal is None:
            raise Unauthenticated("credentials are required to list buckets")
        return [b for b in buckets if principal.can("read", b.name)]

    async def before_create(self, principal: Principal | None, name: str) -> Principal:
        """Check a create-bucket request before anything is created. A key that may read the
        bucket but not administer it already knows it exists, and is told so; every other
        caller without the admin grant is refused without learning anything."""
        knows = principal is not None and principal.can("read", name)
        if knows and principal is not None and not principal.can("admin", name):
            try:
                await self._bucket(name)
            except NoSuchBucket:
                pass
            else:
                raise BucketAlreadyExists("the requested bucket name is not available")
        await self.require(principal, "admin", name)
        assert principal is not None
        return principal

    @staticmethod
    def after_create(principal: Principal, bucket: Bucket, created: bool) -> Created:
        """What a create that found the bucket existing means for this caller."""
        if created:
            return Created.CREATED
        if bucket.owner in (None, principal.access_key):
            return Created.ALREADY_YOURS
        raise BucketAlreadyExists("the requested bucket name is not available")
