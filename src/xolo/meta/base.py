"""The MetaStore protocol. Every implementation passes ``tests/contract/test_metastore.py``.

Each mutating method is one atomic transaction: preconditions are checked inside it, so two
racing writers can never both win a conditional write.
"""

from __future__ import annotations

from typing import Protocol

from xolo.core.conditions import WriteCondition
from xolo.core.records import (
    AccessKey,
    Bucket,
    BucketSettings,
    MultipartUpload,
    ObjectInfo,
    ObjectRecord,
    Part,
    Upload,
)


class MetaStore(Protocol):
    async def put_bucket(
        self, name: str, settings: BucketSettings, now: float
    ) -> tuple[Bucket, bool]:
        """Create the bucket, or update its settings; the flag says whether it was created."""
        ...

    async def get_bucket(self, name: str) -> Bucket:
        """Raises NoSuchBucket."""
        ...

    async def list_buckets(self) -> list[Bucket]: ...

    async def delete_bucket(self, name: str) -> None:
        """Raises NoSuchBucket, or BucketNotEmpty while it holds objects."""
        ...

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        """Raises NoSuchBucket; None when the key is absent."""
        ...

    async def put_object(
        self, record: ObjectRecord, condition: WriteCondition, *, upload_id: str | None = None
    ) -> ObjectRecord | None:
        """Store ``record``, replacing the current object; returns the replaced one.

        With ``upload_id`` the upload is consumed in the same transaction (NoSuchUpload when it
        is expired or used). Raises NoSuchBucket and PreconditionFailed.
        """
        ...

    async def delete_object(
        self, bucket: str, key: str, condition: WriteCondition
    ) -> ObjectRecord | None:
        """Remove and return the object; None when absent. Raises NoSuchBucket."""
        ...

    async def scan_objects(
        self, bucket: str, prefix: bytes, start: bytes, limit: int
    ) -> list[ObjectInfo]:
        """Up to ``limit`` objects whose UTF-8 key starts with ``prefix`` and is ``>= start``,
        in byte order. The bucket is not checked."""
        ...

    async def create_upload(self, upload: Upload) -> None:
        """Raises NoSuchBucket."""
        ...

    async def get_upload(self, upload_id: str, now: float) -> Upload | None:
        """The upload if it is still open and unexpired."""
        ...

    async def create_multipart(self, upload: MultipartUpload) -> None:
        """Raises NoSuchBucket."""
        ...

    async def get_multipart(self, upload_id: str) -> MultipartUpload | None: ...

    async def put_part(self, part: Part) -> None:
        """Store or replace a part. Raises NoSuchUpload once the upload is completed or aborted."""
        ...

    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]:
        """Parts numbered above ``after``, in order."""
        ...

    async def list_multiparts(
        self, bucket: str, prefix: bytes, after: tuple[bytes, str] | None, limit: int
    ) -> list[MultipartUpload]:
        """Uploads in progress by (key bytes, upload id), after the given pair."""
        ...

    async def complete_multipart(
        self, upload_id: str, record: ObjectRecord, condition: WriteCondition
    ) -> ObjectRecord | None:
        """Atomically end the upload (NoSuchUpload if already ended) and store ``record``."""
        ...

    async def abort_multipart(self, upload_id: str) -> bool:
        """End the upload and forget its parts; whether it existed."""
        ...

    async def referenced_chunks(self) -> set[str]:
        """Every chunk named by an object or an uploaded part (for garbage collection)."""
        ...

    async def put_key(self, key: AccessKey) -> None: ...

    async def get_key(self, access_key: str) -> AccessKey | None: ...

    async def list_keys(self) -> list[AccessKey]: ...

    async def close(self) -> None: ...
