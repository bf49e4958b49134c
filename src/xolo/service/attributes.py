"""What S3 lets a caller change or ask of an object besides its bytes: tags, canned ACLs, parts.

A mixin of ObjectService. Tags and ACLs amend one version in place (S3 gives them no version of
their own): the bytes, ETag and version token stay, and the change is audited.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from xolo.core.acl import check_bucket_acl, check_object_acl, effective_bucket_acl
from xolo.core.audit import Change
from xolo.core.errors import MethodNotAllowed, NoSuchKey, XoloError
from xolo.core.names import check_tags
from xolo.core.records import Bucket, ObjectRecord, PartLayout
from xolo.meta.base import MetaStore
from xolo.service.context import actor

MAX_PARTS_PAGE = 1000
"""Parts GetObjectAttributes lists at most per page, as S3."""


class AttributesMixin:
    """Tagging, ACLs and part listings of ObjectService (which provides these)."""

    _meta: MetaStore
    _clock: Callable[[], float]
    _bucket_cache: dict[str, Any]

    async def head_object(
        self, bucket: str, key: str, *, version_id: str | None = None
    ) -> ObjectRecord:
        """Provided by ObjectService; declared here so the mixin type-checks."""
        raise NotImplementedError

    def _changed(self, bucket: str) -> None:
        raise NotImplementedError

    async def _amend(
        self,
        op: str,
        bucket: str,
        key: str,
        version_id: str | None,
        *,
        tags: Mapping[str, str] | None = None,
        acl: str | None = None,
    ) -> ObjectRecord:
        # head_object raises what S3 answers for a missing key, version or a delete marker.
        record = await self.head_object(bucket, key, version_id=version_id)
        change = Change(
            op=op,
            bucket=bucket,
            key=key,
            size=record.size,
            etag=record.etag,
            version=record.version,
            time=self._clock(),
            actor=actor(),
        )
        amended = await self._meta.amend_object(
            bucket,
            key,
            record.version_id,
            tags=tags,
            acl=acl,
            expect_version=record.version,
            change=change,
        )
        if amended is None:  # deleted between the two steps
            raise NoSuchKey(f"no object {key!r} in bucket {bucket!r}")
        if amended.delete_marker:
            raise MethodNotAllowed("the specified version is a delete marker")
        self._changed(bucket)
        return amended

    async def get_tags(
        self, bucket: str, key: str, *, version_id: str | None = None
    ) -> ObjectRecord:
        """The version whose ``tags`` the caller asked for (the current one by default)."""
        return await self.head_object(bucket, key, version_id=version_id)

    async def put_tags(
        self, bucket: str, key: str, tags: Mapping[str, str], *, version_id: str | None = None
    ) -> ObjectRecord:
        """Replace the tags of one version, checked against S3's limits; returns it."""
        return await self._amend("tag", bucket, key, version_id, tags=check_tags(tags))

    async def delete_tags(
        self, bucket: str, key: str, *, version_id: str | None = None
    ) -> ObjectRecord:
        """Remove every tag of one version (the current one by default); returns it."""
        return await self._amend("tag", bucket, key, version_id, tags={})

    async def set_object_acl(
        self, bucket: str, key: str, acl: str, *, version_id: str | None = None
    ) -> ObjectRecord:
        """Give one version a canned ACL (``core/acl.py``); ``public-read`` makes it readable
        by anyone even in a private bucket."""
        return await self._amend("acl", bucket, key, version_id, acl=check_object_acl(acl))

    async def object_acl(
        self, bucket: str, key: str, *, version_id: str | None = None
    ) -> str | None:
        """The version's canned ACL for the access decision: None when there is no such
        version (or it is a delete marker), so a refusal looks the same either way."""
        try:
            record = await self.head_object(bucket, key, version_id=version_id)
        except XoloError:
            return None
        return record.acl

    async def set_bucket_acl(self, bucket: str, acl: str) -> Bucket:
        """Give the bucket a canned ACL; ``public_read`` follows it in the same transaction."""
        change = Change(op="bucket.update", bucket=bucket, time=self._clock(), actor=actor())
        updated = await self._meta.set_bucket_config(
            bucket, "acl", check_bucket_acl(acl), change=change
        )
        self._bucket_cache.pop(bucket, None)
        return updated

    async def bucket_acl(self, bucket: str) -> str:
        """The canned ACL the bucket behaves by (its ACL and ``public_read`` together)."""
        found = await self._meta.get_bucket(bucket)
        return effective_bucket_acl(found.config.acl, found.settings.public_read)

    async def object_parts(
        self,
        bucket: str,
        key: str,
        *,
        version_id: str | None = None,
        after: int = 0,
        limit: int = MAX_PARTS_PAGE,
    ) -> tuple[ObjectRecord, list[PartLayout], bool]:
        """The version, a page of its parts after part number ``after``, and whether more
        follow (GetObjectAttributes). An object written in one piece has no parts."""
        record = await self.head_object(bucket, key, version_id=version_id)
        rest = [p for p in record.parts if p.number > after]
        return record, rest[:limit], len(rest) > limit
