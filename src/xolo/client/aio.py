"""``xolo.AsyncClient``: the asyncio client. Every decision is ``BaseClient``'s; this adds I/O.

The same methods as ``Client``, awaited; ``list``/``tree`` are async iterators and ``events``
follows the change feed. ``open`` and the mapping/path views are the blocking client's only.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import json
import os
import time
import urllib.parse
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import httpx

from xolo.client import abulk
from xolo.client.base import (
    DEFAULT_CACHE_BYTES,
    BaseClient,
    BucketInfo,
    Entry,
    ObjectInfo,
    Spec,
    as_json_bytes,
    bucket_path,
)
from xolo.client.bulk import BulkStats
from xolo.client.config import ClientConfig, from_env
from xolo.client.digests import (
    DIRECT_CHUNK,
    PIECE,
    chunk_offsets,
    file_chunks,
    file_sha256,
    region_sha256,
)
from xolo.client.events import Event, FeedReader
from xolo.client.flush import Flusher
from xolo.client.observe import observed
from xolo.client.sync import DIRECT_IN_FLIGHT, Progress, make_config
from xolo.core.cluster_auth import possession_proof
from xolo.core.errors import (
    InsufficientReplicas,
    IntegrityError,
    NoSuchKey,
    NotFound,
    NotImplementedByXolo,
    TransportError,
)


class AsyncClient(BaseClient):
    """An asyncio client for one xolo cluster (several routers)."""

    def __init__(
        self,
        *,
        url: str | None = None,
        routers: Iterable[str] | None = None,
        access_key: str | None = None,
        secret_key: str | None = None,
        timeout: float | None = None,
        verify: bool | str | None = None,
        retries: int | None = None,
        config: ClientConfig | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        use_tokens: bool = False,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        options = {
            k: v
            for k, v in (("timeout", timeout), ("verify", verify), ("retries", retries))
            if v is not None
        }
        config = config or make_config(url, routers, access_key, secret_key, **options)
        super().__init__(config, cache_bytes=cache_bytes, clock=clock, use_tokens=use_tokens)
        self._sleep = sleep
        self._http = httpx.AsyncClient(
            timeout=config.timeout, verify=config.verify, transport=transport
        )

    @classmethod
    def from_env(cls, **kwargs: Any) -> AsyncClient:
        """A client configured from the environment (see ``client/config.py``)."""
        return cls(config=from_env(), **kwargs)

    async def aclose(self) -> None:
        """Close the HTTP connections; the client is unusable afterwards."""
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def send(self, spec: Spec) -> httpx.Response:
        """Send ``spec`` to a router, retrying as ``BaseClient`` decides."""
        attempt = 0
        reauthenticated = False
        while True:
            if self.wants_token(spec):
                self.token = (await self.send(self.token_spec())).json()["token"]
            router = self.routers.pick()
            try:
                with observed(spec.method, router + spec.path) as outcome:
                    response = await self._http.request(
                        spec.method, router + spec.path, **self.request_kwargs(spec)
                    )
                    outcome["status"] = response.status_code
            except httpx.TransportError as exc:
                self.routers.failed(router)
                if not self.retry_transport(spec, exc, attempt):
                    raise self.transport_error(exc) from None
                await self._sleep(self.backoff(attempt))
                attempt += 1
                continue
            if self.retry_status(spec, response.status_code, attempt):
                if response.status_code >= 500:
                    self.routers.failed(router)
                await self._sleep(self.backoff(attempt, response.headers))
                attempt += 1
                continue
            self.routers.succeeded(router)
            if self.should_reauthenticate(spec, response.status_code, reauthenticated):
                reauthenticated = True
                continue
            self.raise_for(spec, response)
            return response

    # -- buckets ---------------------------------------------------------------------------

    async def create_bucket(self, name: str, **settings: Any) -> BucketInfo:
        """The asyncio form of ``Client.create_bucket``."""
        response = await self.send(self._bucket_spec("PUT", name, settings, create_only=True))
        return self.parse_bucket(response.json())

    async def bucket_info(self, name: str) -> BucketInfo:
        """The asyncio form of ``Client.bucket_info``."""
        return self.parse_bucket((await self.send(self._bucket_spec("GET", name))).json())

    async def update_bucket(self, name: str, **settings: Any) -> BucketInfo:
        """The asyncio form of ``Client.update_bucket``."""
        await self.bucket_info(name)
        response = await self.send(self._bucket_spec("PUT", name, settings))
        return self.parse_bucket(response.json())

    async def delete_bucket(self, name: str) -> None:
        """The asyncio form of ``Client.delete_bucket``."""
        await self.send(self._bucket_spec("DELETE", name))

    async def list_buckets(self) -> builtins.list[BucketInfo]:
        """The asyncio form of ``Client.list_buckets``."""
        doc = (await self.send(Spec(method="GET", path="/v1/buckets"))).json()
        return [self.parse_bucket(b) for b in doc["buckets"]]

    # -- objects ---------------------------------------------------------------------------

    async def put(
        self,
        bucket: str,
        key: str,
        data: bytes | str | Path,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        if_match: str | None = None,
        create_only: bool = False,
    ) -> ObjectInfo:
        """Store bytes, text or a file (a Path is streamed with bounded memory)."""
        options: dict[str, Any] = {
            "content_type": content_type,
            "metadata": metadata,
            "tags": tags,
            "if_match": if_match,
            "create_only": create_only,
        }
        if isinstance(data, Path):
            return await self.put_file(bucket, key, data, **options)
        raw = data.encode() if isinstance(data, str) else bytes(data)  # noqa: ASYNC240
        spec = self.put_spec(
            bucket, key, content=raw, sha256=hashlib.sha256(raw).hexdigest(), **options
        )
        self.invalidate(bucket, key)
        return self.parse_written((await self.send(spec)).json())

    async def put_text(self, bucket: str, key: str, text: str, **kwargs: Any) -> ObjectInfo:
        """The asyncio form of ``Client.put_text``."""
        kwargs.setdefault("content_type", "text/plain; charset=utf-8")
        return await self.put(bucket, key, text.encode(), **kwargs)

    async def put_json(self, bucket: str, key: str, value: Any, **kwargs: Any) -> ObjectInfo:
        """The asyncio form of ``Client.put_json``."""
        kwargs.setdefault("content_type", "application/json")
        return await self.put(bucket, key, as_json_bytes(value), **kwargs)

    async def put_file(
        self,
        bucket: str,
        key: str,
        path: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
        direct: bool | None = None,
        **kwargs: Any,
    ) -> ObjectInfo:
        """Upload a file with bounded memory: directly to the peers for files of a chunk or
        more (see ``Client.put_file``), otherwise streamed through the router, which checks
        the SHA-256."""
        path = Path(path)
        if direct is None:
            direct = path.stat().st_size >= DIRECT_CHUNK
        if direct:
            try:
                return await self._put_direct(bucket, key, path, progress=progress, **kwargs)
            except (NotFound, NotImplementedByXolo) as exc:
                if not self.direct_unavailable(exc):
                    raise
        sha256 = await asyncio.to_thread(file_sha256, path)
        attempt = 0
        while True:
            spec = self.put_spec(
                bucket, key, stream=_file_pieces(path, progress), sha256=sha256, **kwargs
            )
            self.invalidate(bucket, key)
            try:
                return self.parse_written((await self.send(spec)).json())
            except TransportError:
                if attempt >= self.config.retries:
                    raise
            await self._sleep(self.backoff(attempt))
            attempt += 1

    async def _put_direct(
        self,
        bucket: str,
        key: str,
        path: Path,
        *,
        progress: Progress | None,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        if_match: str | None = None,
        create_only: bool = False,
    ) -> ObjectInfo:
        chunks = await asyncio.to_thread(file_chunks, path)
        plan = (await self.send(self.direct_plan_spec(bucket, chunks))).json()
        quorum = int(plan["write_quorum"])
        offsets = dict(zip((c[0] for c in chunks), chunk_offsets(chunks), strict=True))
        buffers = [bytearray(DIRECT_CHUNK) for _ in range(DIRECT_IN_FLIGHT)]
        receipts: dict[str, str] = {}
        proofs: dict[str, str] = {}

        async def send_chunk(entry: dict[str, Any]) -> None:
            size, name = int(entry["size"]), entry["sha256"]
            buf = buffers.pop()
            try:
                view = memoryview(buf)[:size]
                await asyncio.to_thread(_read_into, path, offsets[name], view)
                if entry["have"]:  # not sent: prove the bytes are ours instead
                    proofs[name] = await asyncio.to_thread(
                        possession_proof, plan["challenge"], view
                    )
                else:
                    receipt = await self._put_copies(entry, view, quorum)
                    if receipt:
                        receipts[name] = receipt
                    else:  # a peer that gives no receipts (older): prove the bytes instead
                        proofs[name] = possession_proof(plan["challenge"], view)
            finally:
                buffers.append(buf)
            if progress:
                progress(size)

        gate = asyncio.Semaphore(DIRECT_IN_FLIGHT)

        async def gated(entry: dict[str, Any]) -> None:
            async with gate:
                await send_chunk(entry)

        await asyncio.gather(*(gated(e) for e in plan["chunks"]))
        spec = self.direct_commit_spec(
            bucket,
            key,
            chunks,
            content_type=content_type,
            metadata=metadata,
            if_match=if_match,
            create_only=create_only,
            plan=plan["plan"],
            receipts=receipts,
            proofs=proofs,
        )
        self.invalidate(bucket, key)
        info = self.parse_written((await self.send(spec)).json())
        if tags:
            tag_path = f"{bucket_path(bucket)}/tags/{urllib.parse.quote(key, safe='/')}"
            await self.send(Spec(method="PUT", path=tag_path, json={"tags": dict(tags)}))
        return info

    async def _put_copies(self, entry: dict[str, Any], data: memoryview, quorum: int) -> str:
        """Write one chunk to its signed URLs until ``quorum`` copies are stored; a peer's
        receipt for it."""
        stored, receipt = 0, ""
        length = {"content-length": str(len(data))}
        for url in entry["urls"]:
            try:
                response = await self._http.put(url, content=_view_pieces(data), headers=length)
            except httpx.TransportError:
                continue
            if response.status_code in (200, 201):
                stored += 1
                receipt = receipt or str(response.json().get("receipt", ""))
                if stored >= quorum:
                    return receipt
        raise InsufficientReplicas(
            f"chunk {entry['sha256']}: {stored} of the {quorum} copies could be written"
        )

    async def append(self, bucket: str, key: str, data: bytes | str) -> ObjectInfo:
        """The asyncio form of ``Client.append``."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        self.invalidate(bucket, key)
        return self.parse_written((await self.send(self.append_spec(bucket, key, raw))).json())

    async def copy(self, src_bucket: str, src_key: str, bucket: str, key: str) -> ObjectInfo:
        """The asyncio form of ``Client.copy``."""
        self.invalidate(bucket, key)
        spec = self.copy_spec(src_bucket, src_key, bucket, key)
        return self.parse_written((await self.send(spec)).json())

    async def delete(self, bucket: str, key: str, *, version_id: str | None = None) -> None:
        """The asyncio form of ``Client.delete``."""
        self.invalidate(bucket, key)
        await self.send(self.delete_spec(bucket, key, version_id=version_id))

    async def mv(
        self, bucket: str, key: str, new_key: str, *, new_bucket: str | None = None
    ) -> ObjectInfo:
        """The asyncio form of ``Client.mv``."""
        moved = await self.copy(bucket, key, new_bucket or bucket, new_key)
        await self.delete(bucket, key)
        return moved

    async def get(
        self,
        bucket: str,
        key: str,
        *,
        range: str | tuple[int, int] | None = None,
        version_id: str | None = None,
    ) -> bytes:
        """The asyncio form of ``Client.get``."""
        spec = self.get_spec(bucket, key, range=range, version_id=version_id)
        return self.read_result(bucket, key, spec, await self.send(spec))

    async def get_text(self, bucket: str, key: str, **kwargs: Any) -> str:
        """The asyncio form of ``Client.get_text``."""
        return (await self.get(bucket, key, **kwargs)).decode()

    async def get_json(self, bucket: str, key: str, **kwargs: Any) -> Any:
        """The asyncio form of ``Client.get_json``."""
        return json.loads(await self.get(bucket, key, **kwargs))

    async def head(self, bucket: str, key: str, *, version_id: str | None = None) -> ObjectInfo:
        """The asyncio form of ``Client.head``."""
        spec = self.get_spec(bucket, key, version_id=version_id, method="HEAD")
        return self.parse_head(bucket, key, (await self.send(spec)).headers)

    async def exists(self, bucket: str, key: str) -> bool:
        """The asyncio form of ``Client.exists``."""
        try:
            await self.head(bucket, key)
        except NoSuchKey:
            return False
        return True

    async def get_many(
        self, bucket: str, keys: Iterable[str], *, concurrency: int = 8
    ) -> dict[str, bytes]:
        """Read several objects, at most ``concurrency`` at a time."""
        gate = asyncio.Semaphore(concurrency)

        async def one(key: str) -> tuple[str, bytes]:
            async with gate:
                return key, await self.get(bucket, key)

        return dict(await asyncio.gather(*(one(k) for k in keys)))

    async def put_many(
        self, bucket: str, items: Mapping[str, bytes], *, concurrency: int = 8
    ) -> dict[str, ObjectInfo]:
        """The asyncio form of ``Client.put_many``."""
        gate = asyncio.Semaphore(concurrency)

        async def one(key: str, value: bytes) -> tuple[str, ObjectInfo]:
            async with gate:
                return key, await self.put(bucket, key, value)

        return dict(await asyncio.gather(*(one(k, v) for k, v in items.items())))

    async def get_to_file(
        self,
        bucket: str,
        key: str,
        path: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
        direct: bool | None = None,
    ) -> ObjectInfo:
        """Download with bounded memory into ``path.part``, verify, then rename into place:
        directly from the peers for objects of a chunk or more (see ``Client.get_to_file``),
        otherwise through the router, resumed by range."""
        target = Path(path)
        part = target.with_name(target.name + ".part")
        if direct is not False:
            try:
                doc = (await self.send(self.direct_read_spec(bucket, key))).json()
            except (NotFound, NotImplementedByXolo) as exc:
                if not self.direct_unavailable(exc):
                    raise
            else:
                if doc["chunks"] and (direct or doc["size"] >= DIRECT_CHUNK):
                    await self._get_direct(doc, part, progress)
                    os.replace(part, target)
                    return self.parse_written(doc)
        info = await self.head(bucket, key)
        have = part.stat().st_size if part.exists() else 0
        stamp = part.with_name(part.name + ".etag")  # which version the partial file holds
        if have and (not stamp.exists() or stamp.read_text() != info.etag):
            have = 0  # a partial file of another version: start again
        have = have if have <= info.size else 0
        headers = {"if-match": f'"{info.etag}"'}
        if have:
            headers["range"] = f"bytes={have}-"
        path_only = self.get_spec(bucket, key).path
        spec = Spec(method="GET", path=path_only, headers=headers, ok=(200, 206))
        stamp.write_text(info.etag)
        if have < info.size or info.size == 0:
            await self._download(spec, part, append=bool(have), progress=progress)
        digest = await asyncio.to_thread(file_sha256, part)
        if info.sha256 and digest != info.sha256:
            part.unlink()
            raise IntegrityError("the downloaded file does not match the object's SHA-256")
        os.replace(part, target)
        stamp.unlink(missing_ok=True)
        return info

    async def _get_direct(self, doc: dict[str, Any], part: Path, progress: Progress | None) -> None:
        chunks = [(c["sha256"], int(c["size"]), c["urls"]) for c in doc["chunks"]]
        offsets = chunk_offsets([(sha, size) for sha, size, _ in chunks])
        resuming = part.exists()  # noqa: ASYNC240
        fd = os.open(part, os.O_RDWR | os.O_CREAT, 0o644)
        flusher = Flusher(fd)
        try:
            os.ftruncate(fd, int(doc["size"]))
            gate = asyncio.Semaphore(DIRECT_IN_FLIGHT)

            async def fetch(index: int) -> None:
                sha, size, urls = chunks[index]
                async with gate:
                    held = (
                        await asyncio.to_thread(region_sha256, fd, offsets[index], size)
                        if resuming
                        else None
                    )
                    if held != sha:
                        await self._fetch_chunk_into(fd, offsets[index], sha, urls)
                        flusher.wrote(size)
                if progress:
                    progress(size)

            # When one chunk fails the others are cancelled and awaited, so no write lands
            # after the file is closed (its descriptor may be reused at once).
            tasks = [asyncio.ensure_future(fetch(i)) for i in range(len(chunks))]
            try:
                await asyncio.gather(*tasks)
            except BaseException:
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise
            await asyncio.to_thread(flusher.finish)
        finally:
            await asyncio.to_thread(flusher.wait)
            os.close(fd)

    async def _fetch_chunk_into(
        self, fd: int, offset: int, sha256: str, urls: builtins.list[str]
    ) -> None:
        """Stream one chunk into the file at ``offset``, hashed as it arrives. Pieces are
        taken as httpx receives them (asking it to re-cut them into 1 MiB pieces doubled its
        CPU per byte) and written 1 MiB at a time, one thread hop per write."""
        for url in urls:
            digest, pos = hashlib.sha256(), offset
            try:
                async with self._http.stream("GET", url) as response:
                    if response.status_code != 200:
                        continue
                    pending = bytearray()
                    async for piece in response.aiter_bytes():
                        digest.update(piece)
                        pending += piece
                        if len(pending) >= PIECE:
                            await asyncio.to_thread(os.pwrite, fd, pending, pos)
                            pos += len(pending)
                            pending = bytearray()
                    if pending:
                        await asyncio.to_thread(os.pwrite, fd, pending, pos)
            except httpx.TransportError:
                continue
            if digest.hexdigest() == sha256:
                return
        raise IntegrityError(f"no place served chunk {sha256} intact")

    async def _download(
        self, spec: Spec, part: Path, *, append: bool, progress: Progress | None
    ) -> None:
        router = self.routers.pick()
        try:
            async with self._http.stream(
                spec.method, router + spec.path, **self.request_kwargs(spec)
            ) as response:
                if response.status_code not in spec.ok:
                    await response.aread()
                    self.raise_for(spec, response)
                mode = "ab" if append and response.status_code == 206 else "wb"
                with part.open(mode) as out:
                    pending = bytearray()
                    async for piece in response.aiter_bytes():
                        pending += piece
                        if len(pending) >= PIECE:
                            await asyncio.to_thread(out.write, pending)
                            pending = bytearray()
                        if progress:
                            progress(len(piece))
                    if pending:
                        await asyncio.to_thread(out.write, pending)
        except httpx.TransportError as exc:
            self.routers.failed(router)
            raise self.transport_error(exc) from None

    # -- listing ---------------------------------------------------------------------------

    async def list(
        self, bucket: str, *, prefix: str = "", delimiter: str = "", page_size: int = 1000
    ) -> AsyncIterator[Entry]:
        """The asyncio form of ``Client.list``."""
        cursor: str | None = None
        while True:
            spec = self.list_spec(
                bucket, prefix=prefix, delimiter=delimiter, cursor=cursor, limit=page_size
            )
            entries, cursor = self.parse_listing((await self.send(spec)).json())
            for entry in entries:
                yield entry
            if cursor is None:
                return

    async def ls(self, bucket: str, prefix: str = "") -> builtins.list[Entry]:
        """The asyncio form of ``Client.ls``."""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return [e async for e in self.list(bucket, prefix=prefix, delimiter="/")]

    def tree(self, bucket: str, prefix: str = "") -> AsyncIterator[Entry]:
        """The asyncio form of ``Client.tree``."""
        return self.list(bucket, prefix=prefix)

    async def du(self, bucket: str, prefix: str = "") -> tuple[int, int]:
        """The asyncio form of ``Client.du``."""
        count = size = 0
        async for entry in self.list(bucket, prefix=prefix):
            count += 1
            size += entry.size
        return count, size

    async def rm(
        self, bucket: str, key: str, *, recursive: bool = False, everything: bool = False
    ) -> int:
        """The asyncio form of ``Client.rm``."""
        self.check_rm(key, recursive=recursive, everything=everything)
        if not recursive:
            await self.delete(bucket, key)
            return 1
        doomed = [e.key async for e in self.list(bucket, prefix=key)]
        gate = asyncio.Semaphore(8)

        async def one(k: str) -> None:
            async with gate:
                with contextlib.suppress(NotFound):
                    await self.delete(bucket, k)

        await asyncio.gather(*(one(k) for k in doomed))
        return len(doomed)

    async def events(
        self,
        bucket: str,
        *,
        prefix: str = "",
        types: Iterable[str] = (),
        after: int | None = None,
    ) -> AsyncIterator[Event]:
        """Follow the bucket's change feed (from sequence ``after``; from now on when None),
        reconnecting with backoff when the stream drops and resuming after the last event
        yielded, so none is missed and none repeated."""
        failures = 0
        while True:
            spec = self.events_spec(bucket, prefix=prefix, types=types, after=after)
            router = self.routers.pick()
            try:
                async with self._http.stream(
                    "GET", router + spec.path, timeout=None, **self.request_kwargs(spec)
                ) as response:
                    if response.status_code != 200:
                        await response.aread()
                        self.raise_for(spec, response)
                    reader = FeedReader(after)
                    async for line in response.aiter_lines():
                        event = reader.feed(line)
                        if event is not None:
                            failures = 0
                            after = event.sequence
                            yield event
            except httpx.TransportError:
                self.routers.failed(router)
                failures += 1
                if failures > self.config.retries:
                    raise TransportError("the change feed dropped and could not resume") from None
                await self._sleep(self.backoff(failures))

    async def versions(self, bucket: str, *, prefix: str = "") -> builtins.list[dict[str, Any]]:
        """Every version and delete marker under ``prefix``."""
        out: builtins.list[dict[str, Any]] = []
        params = {"versions": "", "prefix": prefix}
        while True:
            spec = Spec(method="GET", path=f"{bucket_path(bucket)}/objects", params=dict(params))
            doc = (await self.send(spec)).json()
            out += doc["versions"]
            if not doc.get("truncated"):
                return out
            params["key_marker"] = doc["next_key_marker"]
            params["version_id_marker"] = doc["next_version_id_marker"]

    async def audit(self, bucket: str, *, after: int = 0) -> AsyncIterator[dict[str, Any]]:
        """The bucket's audit chain from sequence ``after`` on, page by page."""
        while True:
            spec = Spec(
                method="GET", path=f"{bucket_path(bucket)}/audit", params={"after": str(after)}
            )
            doc = (await self.send(spec)).json()
            for entry in doc["entries"]:
                yield entry
            if doc.get("next_after") is None:
                return
            after = int(doc["next_after"])

    async def upload_tree(
        self, root: str | os.PathLike[str], bucket: str, prefix: str = "", **options: Any
    ) -> BulkStats:
        """The asyncio form of ``Client.upload_tree`` (resumable with ``tracker=``)."""
        return await abulk.upload_tree(self, root, bucket, prefix, **options)

    async def download_tree(
        self, bucket: str, prefix: str, root: str | os.PathLike[str], **options: Any
    ) -> BulkStats:
        """The asyncio form of ``Client.download_tree``."""
        return await abulk.download_tree(self, bucket, prefix, root, **options)

    async def commit_staging(self, bucket: str, staging: str, final: str) -> int:
        """Make a staged batch visible under ``final`` in one step (see ``Client``)."""
        spec = Spec(
            method="POST",
            path=f"{bucket_path(bucket)}/staging",
            json={"staging": staging, "final": final},
            idempotent=False,  # a repeat could move a later batch under the same prefix
        )
        return int((await self.send(spec)).json()["moved"])

    async def cleanup_staging(self, bucket: str, staging: str) -> int:
        """The asyncio form of ``Client.cleanup_staging``."""
        return await self.rm(bucket, staging, recursive=True)

    async def presign(self, method: str, bucket: str, key: str, *, expires: int = 3600) -> str:
        """The asyncio form of ``Client.presign``."""
        response = await self.send(self.presign_spec(method, bucket, key, expires))
        return str(response.json()["url"])


def _read_into(path: Path, offset: int, view: memoryview) -> None:
    with path.open("rb") as f:
        f.seek(offset)
        f.readinto(view)


async def _view_pieces(data: memoryview) -> AsyncIterator[bytes]:
    for i in range(0, len(data), PIECE):
        yield bytes(data[i : i + PIECE])


async def _file_pieces(path: Path, progress: Progress | None) -> AsyncIterator[bytes]:
    with path.open("rb") as f:
        while piece := await asyncio.to_thread(f.read, PIECE):
            if progress:
                progress(len(piece))
            yield piece
