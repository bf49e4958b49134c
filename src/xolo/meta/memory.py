"""An in-memory MetaStore: for unit tests and ``xolo.open_memory()``.

Methods never await inside a critical section, so each is atomic on one event loop.
"""

from __future__ import annotations

import bisect
import dataclasses

from xolo.core.conditions import WriteCondition
from xolo.core.errors import BucketNotEmpty, NoSuchBucket, NoSuchUpload
from xolo.core.listing import prefix_end
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


class _BucketState:
    __slots__ = ("bucket", "bytes_used", "keys", "objects")

    def __init__(self, bucket: Bucket) -> None:
        self.bucket = bucket
        self.objects: dict[bytes, ObjectRecord] = {}
        self.keys: list[bytes] = []
        self.bytes_used = 0


class MemoryMetaStore:
    def __init__(self) -> None:
        self._buckets: dict[str, _BucketState] = {}
        self._uploads: dict[str, Upload] = {}
        self._keys: dict[str, AccessKey] = {}
        self._multiparts: dict[str, MultipartUpload] = {}
        self._parts: dict[str, dict[int, Part]] = {}

    def _state(self, name: str) -> _BucketState:
        try:
            return self._buckets[name]
        except KeyError:
            raise NoSuchBucket(f"bucket {name!r} does not exist") from None

    @staticmethod
    def _with_stats(state: _BucketState) -> Bucket:
        return dataclasses.replace(
            state.bucket, object_count=len(state.objects), bytes_used=state.bytes_used
        )

    async def put_bucket(
        self, name: str, settings: BucketSettings, now: float
    ) -> tuple[Bucket, bool]:
        state = self._buckets.get(name)
        if state is None:
            state = self._buckets[name] = _BucketState(Bucket(name, now, settings))
            return self._with_stats(state), True
        state.bucket = dataclasses.replace(state.bucket, settings=settings)
        return self._with_stats(state), False

    async def get_bucket(self, name: str) -> Bucket:
        return self._with_stats(self._state(name))

    async def list_buckets(self) -> list[Bucket]:
        return [self._with_stats(self._buckets[n]) for n in sorted(self._buckets)]

    async def delete_bucket(self, name: str) -> None:
        state = self._state(name)
        if state.objects:
            raise BucketNotEmpty(f"bucket {name!r} still holds {len(state.objects)} objects")
        del self._buckets[name]
        for upload_id in [u.upload_id for u in self._uploads.values() if u.bucket == name]:
            del self._uploads[upload_id]
        for upload_id in [u.upload_id for u in self._multiparts.values() if u.bucket == name]:
            await self.abort_multipart(upload_id)

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        return self._state(bucket).objects.get(key.encode())

    async def put_object(
        self, record: ObjectRecord, condition: WriteCondition, *, upload_id: str | None = None
    ) -> ObjectRecord | None:
        state = self._state(record.bucket)
        raw = record.key.encode()
        current = state.objects.get(raw)
        condition.check(current.etag if current else None, current.version if current else None)
        if upload_id is not None:
            upload = self._uploads.get(upload_id)
            if upload is None or upload.expires <= record.modified:
                raise NoSuchUpload()
            del self._uploads[upload_id]
        if current is None:
            bisect.insort(state.keys, raw)
        state.objects[raw] = record
        state.bytes_used += record.size - (current.size if current else 0)
        return current

    async def delete_object(
        self, bucket: str, key: str, condition: WriteCondition
    ) -> ObjectRecord | None:
        state = self._state(bucket)
        raw = key.encode()
        current = state.objects.get(raw)
        condition.check(current.etag if current else None, current.version if current else None)
        if current is None:
            return None
        del state.objects[raw]
        del state.keys[bisect.bisect_left(state.keys, raw)]
        state.bytes_used -= current.size
        return current

    async def scan_objects(
        self, bucket: str, prefix: bytes, start: bytes, limit: int
    ) -> list[ObjectInfo]:
        state = self._buckets.get(bucket)
        if state is None:
            return []
        end = prefix_end(prefix)
        i = bisect.bisect_left(state.keys, max(start, prefix))
        out: list[ObjectInfo] = []
        while i < len(state.keys) and len(out) < limit:
            raw = state.keys[i]
            if end is not None and raw >= end:
                break
            out.append(state.objects[raw].info())
            i += 1
        return out

    async def create_upload(self, upload: Upload) -> None:
        self._state(upload.bucket)
        self._uploads[upload.upload_id] = upload

    async def get_upload(self, upload_id: str, now: float) -> Upload | None:
        upload = self._uploads.get(upload_id)
        if upload is None or upload.expires <= now:
            return None
        return upload

    async def create_multipart(self, upload: MultipartUpload) -> None:
        self._state(upload.bucket)
        self._multiparts[upload.upload_id] = upload
        self._parts[upload.upload_id] = {}

    async def get_multipart(self, upload_id: str) -> MultipartUpload | None:
        return self._multiparts.get(upload_id)

    async def put_part(self, part: Part) -> None:
        parts = self._parts.get(part.upload_id)
        if parts is None:
            raise NoSuchUpload()
        parts[part.number] = part

    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]:
        parts = self._parts.get(upload_id, {})
        return [parts[n] for n in sorted(parts) if n > after][:limit]

    async def list_multiparts(
        self, bucket: str, prefix: bytes, after: tuple[bytes, str] | None, limit: int
    ) -> list[MultipartUpload]:
        found = sorted(
            ((u.key.encode(), u.upload_id), u)
            for u in self._multiparts.values()
            if u.bucket == bucket and u.key.encode().startswith(prefix)
        )
        return [u for pos, u in found if after is None or pos > after][:limit]

    async def complete_multipart(
        self, upload_id: str, record: ObjectRecord, condition: WriteCondition
    ) -> ObjectRecord | None:
        if upload_id not in self._multiparts:
            raise NoSuchUpload()
        previous = await self.put_object(record, condition)
        await self.abort_multipart(upload_id)
        return previous

    async def abort_multipart(self, upload_id: str) -> bool:
        self._parts.pop(upload_id, None)
        return self._multiparts.pop(upload_id, None) is not None

    async def referenced_chunks(self) -> set[str]:
        names = {
            c.sha256 for s in self._buckets.values() for o in s.objects.values() for c in o.chunks
        }
        names.update(
            c.sha256 for parts in self._parts.values() for p in parts.values() for c in p.chunks
        )
        return names

    async def put_key(self, key: AccessKey) -> None:
        self._keys[key.access_key] = key

    async def get_key(self, access_key: str) -> AccessKey | None:
        return self._keys.get(access_key)

    async def list_keys(self) -> list[AccessKey]:
        return [self._keys[k] for k in sorted(self._keys)]

    async def close(self) -> None:
        return None
