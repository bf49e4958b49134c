"""Expiry of uploads nobody finished: declared two-step uploads past their deadline, and
multipart uploads older than a maximum age (their parts hold chunk references until then)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from xolo.meta.base import MultipartStore, UploadStore

MULTIPART_MAX_AGE = 7 * 24 * 3600.0
"""A multipart upload untouched for a week is abandoned (S3's lifecycle rules default to
AbortIncompleteMultipartUpload after days, too)."""

BATCH = 1000


class ExpiryStore(UploadStore, MultipartStore, Protocol):
    """What expiry needs of the metadata store."""


class UploadExpiry:
    """The ``expire-uploads`` background task."""

    name = "expire-uploads"

    def __init__(
        self,
        *,
        meta: ExpiryStore,
        schedule: str = "*/15 * * * *",
        multipart_max_age: float = MULTIPART_MAX_AGE,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._meta = meta
        self.schedule = schedule
        self.multipart_max_age = multipart_max_age
        self._clock = clock

    async def run_once(self) -> dict[str, int]:
        """Expire declared uploads past their deadline, then abort multipart uploads older than
        ``multipart_max_age``, in batches until none is left."""
        now = self._clock()
        uploads = 0
        while True:
            n = await self._meta.expire_uploads(now, BATCH)
            uploads += n
            if n < BATCH:
                break
        aborted = 0
        while True:
            stale = await self._meta.stale_multiparts(now - self.multipart_max_age, BATCH)
            for upload in stale:
                aborted += await self._meta.abort_multipart(upload.upload_id, now=now)
            if len(stale) < BATCH:
                break
        return {"uploads_expired": uploads, "multiparts_aborted": aborted}
