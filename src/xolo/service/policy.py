"""The one access decision every surface asks (native API, S3, chunk API, admin API).

A caller is a ``Principal`` (a key, with grants) or anonymous (None). The rules:

* a key may do what its grants allow on a bucket (``read`` < ``write`` < ``admin``, per bucket
  or on ``*``); root may do anything;
* a bucket's canned ACL (``core/acl.py``) opens it further: ``public-read`` (or the
  ``public_read`` setting) lets anyone read, ``public-read-write`` lets anyone read and write,
  ``authenticated-read`` lets any valid key read; an object's own ACL may open that one
  version to readers the bucket turns away (``require_object_read``);
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

from xolo.core.acl import (
    PRIVATE,
    anonymous_reads,
    anonymous_writes,
    authenticated_reads,
    effective_bucket_acl,
)
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

    async def _acl(self, name: str) -> str:
        try:
            bucket = await self._bucket(name)
        except NoSuchBucket:
            return PRIVATE  # the same answer as a private bucket
        return effective_bucket_acl(bucket.config.acl, bucket.settings.public_read)

    @staticmethod
    def _acl_allows(acl: str, level: Level, *, signed: bool) -> bool:
        if level == "read":
            return authenticated_reads(acl) if signed else anonymous_reads(acl)
        return level == "write" and anonymous_writes(acl)

    async def require(self, principal: Principal | None, level: Level, bucket: str | None) -> None:
        """Raise unless ``principal`` may act at ``level`` on ``bucket`` (None: the service)."""
        if principal is not None and principal.can(level, bucket):
            return
        signed = principal is not None
        if (
            bucket
            and level != "admin"
            and self._acl_allows(await self._acl(bucket), level, signed=signed)
        ):
            return
        if principal is not None:
            raise AccessDenied(
                f"this key may not {level} {('bucket ' + bucket) if bucket else 'here'}"
            )
        raise Unauthenticated(
            "credentials are required (anonymous callers may only read public-read buckets)"
        )

    async def require_object_read(
        self,
        principal: Principal | None,
        bucket: str,
        object_acl: Callable[[], Awaitable[str | None]],
    ) -> None:
        """Like ``require(principal, "read", bucket)``, but an object whose own ACL lets this
        caller read (``object_acl`` looks it up: None when there is no such object) is
        readable even where the bucket says no. A refusal is the bucket's refusal, whether the
        object exists or not, so it reveals nothing."""
        try:
            await self.require(principal, "read", bucket)
        except (AccessDenied, Unauthenticated):
            acl = await object_acl()
            if acl is not None and self._acl_allows(acl, "read", signed=principal is not None):
                return
            raise

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
