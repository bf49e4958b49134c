"""What S3 lets a caller change or ask of an object besides its bytes: its tags and its parts.

A mixin of ObjectService. Tags amend one version in place (S3 gives them no version of
their own): the bytes, ETag and version token stay, and the change is audited.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from xolo.core.audit import Change
from xolo.core.errors import MethodNotAllowed, NoSuchKey
from xolo.core.names import check_tags
from xolo.core.records import ObjectRecord, PartLayout
from xolo.meta.base import MetaStore
from xolo.service.context import actor

MAX_PARTS_PAGE = 1000
"""Parts GetObjectAttributes lists at most per page, as S3."""


class AttributesMixin:
    """Tagging and part listings of ObjectService (which provides these)."""

    _meta: MetaStore
    _clock: Callable[[], float]

    async def head_object(
        self, bucket: str, key: str, *, version_id: str | None = None
    ) -> ObjectRecord:
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
            bucket, key, record.version_id, tags=tags, change=change
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
        return await self._amend("tag", bucket, key, version_id, tags={})

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
