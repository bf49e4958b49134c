"""Versioning operations of ObjectService: a bucket's versioning status and listings of every
version and delete marker. What writes and deletes do to versions is ``core/versions.py``,
applied by the stores; reads and deletes by version id are in ``service/objects.py``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from xolo.core.audit import Change
from xolo.core.listing import check_page_size, common_prefix, prefix_end
from xolo.core.names import check_bucket_name, check_key
from xolo.core.records import Bucket, VersionInfo, VersionPage
from xolo.core.versions import check_mode, check_version_id, seq_of
from xolo.meta.base import MetaStore
from xolo.service.context import actor

_BEYOND = 2**62
"""A place above every version's: resuming at (key, _BEYOND) includes all of key's versions."""


class VersionsMixin:
    """Versioning operations of ObjectService (which provides these attributes)."""

    _meta: MetaStore
    _clock: Callable[[], float]
    _bucket_cache: dict[str, Any]

    def _changed(self, bucket: str) -> None:
        raise NotImplementedError

    async def set_versioning(self, bucket: str, status: str) -> Bucket:
        """Enable or suspend versioning (a bucket never goes back to unversioned, as in S3).
        Takes effect for the next write in the same transaction that reads it."""
        check_bucket_name(bucket)
        check_mode(status)
        self._bucket_cache.pop(bucket, None)
        change = Change(op="bucket.versioning", bucket=bucket, time=self._clock(), actor=actor())
        updated = await self._meta.set_versioning(bucket, status, change=change)
        self._changed(bucket)
        return updated

    async def list_versions(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        key_marker: str = "",
        version_id_marker: str = "",
        limit: int | None = None,
    ) -> VersionPage:
        """One page of versions and delete markers, by key in UTF-8 byte order and newest
        first within a key, as S3's ListObjectVersions pages them; keys under a common prefix
        (with ``delimiter``) are folded into it."""
        limit = check_page_size(limit)
        await self._meta.get_bucket(bucket)
        raw_prefix, raw_delim = prefix.encode(), delimiter.encode()
        position = await self._resume(bucket, raw_prefix, raw_delim, key_marker, version_id_marker)
        found: list[VersionInfo] = []
        prefixes: list[str] = []
        last: tuple[str, str | None] | None = None
        while True:
            want = limit - len(found) - len(prefixes) + 1
            batch = await self._meta.scan_versions(bucket, raw_prefix, position, want)
            restarted = False
            for info in batch:
                raw = info.key.encode()
                if len(found) + len(prefixes) == limit:
                    assert last is not None
                    return VersionPage(
                        versions=found,
                        prefixes=prefixes,
                        next_key_marker=last[0],
                        next_version_id_marker=last[1],
                    )
                folded = common_prefix(raw, raw_prefix, raw_delim)
                if folded is None:
                    found.append(info)
                    last = (info.key, info.version_id)
                    position = (raw, info.seq)
                    continue
                prefixes.append(folded.decode())
                last = (folded.decode(), None)
                end = prefix_end(folded)
                if end is None:
                    return VersionPage(
                        versions=found,
                        prefixes=prefixes,
                        next_key_marker=None,
                        next_version_id_marker=None,
                    )
                position, restarted = (end, _BEYOND), True
                break
            if not restarted and len(batch) < want:
                return VersionPage(
                    versions=found,
                    prefixes=prefixes,
                    next_key_marker=None,
                    next_version_id_marker=None,
                )

    async def _resume(
        self, bucket: str, prefix: bytes, delimiter: bytes, key_marker: str, version_marker: str
    ) -> tuple[bytes, int] | None:
        """Where a listing resumes: after the marked version of ``key_marker``, after all of
        ``key_marker``'s versions, or after everything under it when it is a common prefix."""
        if not key_marker:
            return None
        raw = key_marker.encode()
        if delimiter and common_prefix(raw, prefix, delimiter) == raw:
            end = prefix_end(raw)
            return (end, _BEYOND) if end is not None else (raw, 0)
        if not version_marker:
            return raw, 0
        check_key(key_marker)
        check_version_id(version_marker)
        # A version id holds its place, so a listing resumes after a version that has been
        # deleted since (emptying a bucket page by page does exactly that).
        seq = seq_of(version_marker)
        if seq is None:
            seq = await self._meta.version_seq(bucket, key_marker, version_marker)
        return raw, seq if seq is not None else 0
