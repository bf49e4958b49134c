"""``xolo.Client``: the blocking client. Every decision is ``BaseClient``'s; this adds I/O."""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import IO, Any

import httpx

from xolo.client import bulk
from xolo.client.base import (
    DEFAULT_CACHE_BYTES,
    BaseClient,
    BucketInfo,
    Entry,
    ObjectInfo,
    Spec,
    as_json_bytes,
    bucket_path,
    verify_sha256,
)
from xolo.client.bulk import BulkStats
from xolo.client.config import ClientConfig, from_env, parse_uri
from xolo.client.digests import (
    DIRECT_CHUNK,
    PIECE,
    chunk_offsets,
    file_chunks,
    file_sha256,
    region_sha256,
)
from xolo.client.events import Event, FeedReader
from xolo.client.files import BucketMapping, ObjectFile, XoloPath
from xolo.client.flush import Flusher
from xolo.client.observe import observed
from xolo.core.cluster_auth import possession_proof
from xolo.core.errors import (
    InsufficientReplicas,
    IntegrityError,
    InvalidArgument,
    NoSuchKey,
    NotFound,
    NotImplementedByXolo,
    TransportError,
)

DIRECT_IN_FLIGHT = 4
Progress = Callable[[int], None]
"""Called with the number of bytes moved since the last call."""

Body = bytes | bytearray | memoryview | str | IO[bytes] | Path | Iterable[bytes]


def make_config(
    url: str | None,
    routers: Iterable[str] | None,
    access_key: str | None,
    secret_key: str | None,
    **options: Any,
) -> ClientConfig:
    """One config from a URI or keyword arguments (keyword credentials win over the URI's)."""
    if url is not None and routers is not None:
        raise InvalidArgument("give url or routers, not both")
    if url is not None:
        base = parse_uri(url)
    elif routers is not None:
        base = ClientConfig(routers=tuple(str(r).rstrip("/") for r in routers))
    else:
        raise InvalidArgument("say where xolo is: url='xolo://host:port' or routers=[...]")
    fields = {
        "routers": base.routers,
        "access_key": access_key if access_key is not None else base.access_key,
        "secret_key": secret_key if secret_key is not None else base.secret_key,
        "timeout": options.get("timeout") or base.timeout,
        "verify": options.get("verify", base.verify),
        "retries": options.get("retries", base.retries),
    }
    return ClientConfig(**fields)


class Client(BaseClient):
    """A blocking client for one xolo cluster (several routers), thread-safe like httpx's.

    >>> with xolo.Client(url="xolo://KEY:SECRET@127.0.0.1:9000") as client:  # doctest: +SKIP
    ...     client.create_bucket("photos")
    ...     client.put("photos", "cat.jpg", b"...")
    """

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
        transport: httpx.BaseTransport | None = None,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        use_tokens: bool = False,
        sleep: Callable[[float], None] = time.sleep,
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
        self._http = httpx.Client(
            timeout=config.timeout,
            verify=config.verify,
            transport=transport,
            follow_redirects=False,
        )

    @classmethod
    def from_env(cls, **kwargs: Any) -> Client:
        """A client configured by ``XOLO_URL``/``XOLO_ACCESS_KEY``/``XOLO_SECRET_KEY`` or the
        profile ``XOLO_PROFILE`` names."""
        return cls(config=from_env(), **kwargs)

    def close(self) -> None:
        """Close the connections to the routers."""
        self._http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sending ---------------------------------------------------------------------------

    def send(self, spec: Spec) -> httpx.Response:
        """Send ``spec`` to a router, retrying as ``BaseClient`` decides; the answer, or the
        error it stands for."""
        attempt = 0
        reauthenticated = False
        while True:
            if self.wants_token(spec):
                self.token = (self.send(self.token_spec())).json()["token"]
            router = self.routers.pick()
            try:
                with observed(spec.method, router + spec.path) as outcome:
                    response = self._http.request(
                        spec.method, router + spec.path, **self.request_kwargs(spec)
                    )
                    outcome["status"] = response.status_code
            except httpx.TransportError as exc:
                self.routers.failed(router)
                if not self.retry_transport(spec, exc, attempt):
                    raise self.transport_error(exc) from None
                self._sleep(self.backoff(attempt))
                attempt += 1
                continue
            if self.retry_status(spec, response.status_code, attempt):
                if response.status_code >= 500:
                    self.routers.failed(router)
                self._sleep(self.backoff(attempt, response.headers))
                attempt += 1
                continue
            self.routers.succeeded(router)
            if self.should_reauthenticate(spec, response.status_code, reauthenticated):
                reauthenticated = True
                continue
            self.raise_for(spec, response)
            return response

    # -- buckets ---------------------------------------------------------------------------

    def create_bucket(self, name: str, **settings: Any) -> BucketInfo:
        """Create the bucket if it is absent (its settings are these); an existing bucket
        is returned as it is, unchanged."""
        response = self.send(self._bucket_spec("PUT", name, settings, create_only=True))
        return self.parse_bucket(response.json())

    def bucket_info(self, name: str) -> BucketInfo:
        """The bucket's settings and totals; NoSuchBucket when it is absent."""
        return self.parse_bucket(self.send(self._bucket_spec("GET", name)).json())

    def update_bucket(self, name: str, **settings: Any) -> BucketInfo:
        """Change the settings named (replication, write_quorum, public_read, versioning)."""
        self.bucket_info(name)  # NoSuchBucket rather than creating it
        return self.parse_bucket(self.send(self._bucket_spec("PUT", name, settings)).json())

    def delete_bucket(self, name: str) -> None:
        """Delete an empty bucket (BucketNotEmpty otherwise)."""
        self.send(self._bucket_spec("DELETE", name))

    def list_buckets(self) -> builtins.list[BucketInfo]:
        """The buckets this key may read, by name."""
        doc = self.send(Spec(method="GET", path="/v1/buckets")).json()
        return [self.parse_bucket(b) for b in doc["buckets"]]

    # -- writing ---------------------------------------------------------------------------

    def put(
        self,
        bucket: str,
        key: str,
        data: Body,
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        if_match: str | None = None,
        create_only: bool = False,
    ) -> ObjectInfo:
        """Store an object from bytes, text (UTF-8), a binary file object, a Path or an
        iterator of bytes. Bytes and Paths are retried safely; a stream is sent once."""
        if isinstance(data, Path):
            return self.put_file(
                bucket,
                key,
                data,
                content_type=content_type,
                metadata=metadata,
                tags=tags,
                if_match=if_match,
                create_only=create_only,
            )
        content, stream, sha256 = _body(data)
        spec = self.put_spec(
            bucket,
            key,
            content=content,
            stream=stream,
            content_type=content_type,
            metadata=metadata,
            tags=tags,
            if_match=if_match,
            create_only=create_only,
            sha256=sha256,
        )
        self.invalidate(bucket, key)
        return self.parse_written(self.send(spec).json())

    def put_text(self, bucket: str, key: str, text: str, **kwargs: Any) -> ObjectInfo:
        """Store text as UTF-8 (``text/plain; charset=utf-8`` unless told otherwise)."""
        kwargs.setdefault("content_type", "text/plain; charset=utf-8")
        return self.put(bucket, key, text.encode(), **kwargs)

    def put_json(self, bucket: str, key: str, value: Any, **kwargs: Any) -> ObjectInfo:
        """Store a value as compact JSON (``application/json``)."""
        kwargs.setdefault("content_type", "application/json")
        return self.put(bucket, key, as_json_bytes(value), **kwargs)

    def put_file(
        self,
        bucket: str,
        key: str,
        path: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
        direct: bool | None = None,
        **kwargs: Any,
    ) -> ObjectInfo:
        """Upload a file with bounded memory. Files of at least one chunk go directly to the
        peers (``direct``; the default for such files): the router plans where each chunk
        goes, chunks the cluster already has are not sent, then it commits the manifest.
        Smaller files (or ``direct=False``) are hashed, then streamed through the router,
        which checks the SHA-256; retried from the start if the connection drops."""
        path = Path(path)
        if direct is None:
            direct = path.stat().st_size >= DIRECT_CHUNK
        if direct:
            try:
                return self._put_direct(bucket, key, path, progress=progress, **kwargs)
            except (NotFound, NotImplementedByXolo) as exc:
                if not self.direct_unavailable(exc):  # the bucket is missing, not the route
                    raise
        sha256 = file_sha256(path)
        attempt = 0
        while True:
            with path.open("rb") as f:
                spec = self.put_spec(
                    bucket, key, stream=_pieces(f, progress), sha256=sha256, **kwargs
                )
                self.invalidate(bucket, key)
                try:
                    return self.parse_written(self.send(spec).json())
                except TransportError:
                    if attempt >= self.config.retries:
                        raise
            self._sleep(self.backoff(attempt))
            attempt += 1

    def _put_direct(
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
        chunks = file_chunks(path)
        plan = self.send(self.direct_plan_spec(bucket, chunks)).json()
        quorum = int(plan["write_quorum"])
        offsets = dict(zip((c[0] for c in chunks), chunk_offsets(chunks), strict=True))

        buffers = threading.local()
        receipts: dict[str, str] = {}
        proofs: dict[str, str] = {}

        def send_chunk(entry: dict[str, Any]) -> None:
            size, name = int(entry["size"]), entry["sha256"]
            # One reused buffer per thread, sent in 1 MiB pieces: memory stays at
            # DIRECT_IN_FLIGHT chunks however large the file.
            buf = getattr(buffers, "buf", None)
            if buf is None:
                buf = buffers.buf = bytearray(DIRECT_CHUNK)
            view = memoryview(buf)[:size]
            with path.open("rb") as f:
                f.seek(offsets[name])
                f.readinto(view)
            if entry["have"]:  # not sent: prove the bytes are ours instead
                proofs[name] = possession_proof(plan["challenge"], view)
            else:
                receipt = self._put_copies(entry, view, quorum)
                if receipt:
                    receipts[name] = receipt
                else:  # a peer that gives no receipts (older): prove the bytes instead
                    proofs[name] = possession_proof(plan["challenge"], view)
            if progress:
                progress(size)

        with ThreadPoolExecutor(max_workers=DIRECT_IN_FLIGHT) as pool:
            list(pool.map(send_chunk, plan["chunks"]))
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
        info = self.parse_written(self.send(spec).json())
        if tags:
            tag_path = f"{bucket_path(bucket)}/tags/{urllib.parse.quote(key, safe='/')}"
            self.send(Spec(method="PUT", path=tag_path, json={"tags": dict(tags)}))
        return info

    def _put_copies(self, entry: dict[str, Any], data: memoryview, quorum: int) -> str:
        """Write one chunk to its signed URLs until ``quorum`` copies are stored; a peer's
        receipt for it (what the commit shows)."""
        stored, receipt = 0, ""
        length = {"content-length": str(len(data))}
        for url in entry["urls"]:
            pieces = (bytes(data[i : i + PIECE]) for i in range(0, len(data), PIECE))
            try:
                response = self._http.put(url, content=pieces, headers=length)
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

    def append(self, bucket: str, key: str, data: bytes | str) -> ObjectInfo:
        """Append bytes (creating the object if absent). Never retried once sent."""
        raw = data.encode() if isinstance(data, str) else bytes(data)
        self.invalidate(bucket, key)
        return self.parse_written(self.send(self.append_spec(bucket, key, raw)).json())

    def copy(self, src_bucket: str, src_key: str, bucket: str, key: str) -> ObjectInfo:
        """Copy by manifest on the server: no byte travels."""
        self.invalidate(bucket, key)
        return self.parse_written(
            self.send(self.copy_spec(src_bucket, src_key, bucket, key)).json()
        )

    def delete(self, bucket: str, key: str, *, version_id: str | None = None) -> None:
        """Delete the object, or one version of it; the cached copy goes too."""
        self.invalidate(bucket, key)
        self.send(self.delete_spec(bucket, key, version_id=version_id))

    def mv(
        self, bucket: str, key: str, new_key: str, *, new_bucket: str | None = None
    ) -> ObjectInfo:
        """Copy, then delete the source: no byte travels."""
        moved = self.copy(bucket, key, new_bucket or bucket, new_key)
        self.delete(bucket, key)
        return moved

    def put_many(
        self, bucket: str, items: Mapping[str, Body], *, concurrency: int = 8
    ) -> dict[str, ObjectInfo]:
        """Store several objects, ``concurrency`` at a time."""
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = {k: pool.submit(self.put, bucket, k, v) for k, v in items.items()}
            return {k: f.result() for k, f in futures.items()}

    # -- reading ---------------------------------------------------------------------------

    def get(
        self,
        bucket: str,
        key: str,
        *,
        range: str | tuple[int, int] | None = None,
        version_id: str | None = None,
    ) -> bytes:
        """The object's bytes (or a byte range, inclusive), SHA-256 verified when whole;
        served from the cache only after the server confirms it is unchanged."""
        spec = self.get_spec(bucket, key, range=range, version_id=version_id)
        return self.read_result(bucket, key, spec, self.send(spec))

    def get_text(self, bucket: str, key: str, **kwargs: Any) -> str:
        """The object's bytes read as UTF-8 text."""
        return self.get(bucket, key, **kwargs).decode()

    def get_json(self, bucket: str, key: str, **kwargs: Any) -> Any:
        """The object parsed as JSON."""
        return json.loads(self.get(bucket, key, **kwargs))

    def head(self, bucket: str, key: str, *, version_id: str | None = None) -> ObjectInfo:
        """What the server says of the object (size, ETag, SHA-256, metadata), no bytes."""
        spec = self.get_spec(bucket, key, version_id=version_id, method="HEAD")
        return self.parse_head(bucket, key, self.send(spec).headers)

    def exists(self, bucket: str, key: str) -> bool:
        """Whether the key has a current version."""
        try:
            self.head(bucket, key)
        except NoSuchKey:
            return False
        return True

    def get_many(
        self, bucket: str, keys: Iterable[str], *, concurrency: int = 8
    ) -> dict[str, bytes]:
        """Read several objects, at most ``concurrency`` at a time; by key."""
        with ThreadPoolExecutor(max_workers=concurrency) as pool:
            futures = {k: pool.submit(self.get, bucket, k) for k in keys}
            return {k: f.result() for k, f in futures.items()}

    def get_to_file(
        self,
        bucket: str,
        key: str,
        path: str | os.PathLike[str],
        *,
        progress: Progress | None = None,
        direct: bool | None = None,
    ) -> ObjectInfo:
        """Download with bounded memory to ``path``: into ``path.part`` first, verified, then
        renamed into place (a reader of ``path`` never sees a partial file). An object of a
        chunk or more is read directly from the peers (``direct``), several chunks at once,
        each checked against its SHA-256 name; chunks a partial ``.part`` already holds are
        kept. Otherwise it streams through the router, resuming a partial file by range."""
        target = Path(path)
        part = target.with_name(target.name + ".part")
        if direct is not False:
            try:
                doc = self.send(self.direct_read_spec(bucket, key)).json()
            except (NotFound, NotImplementedByXolo) as exc:
                if not self.direct_unavailable(exc):
                    raise
            else:
                if doc["chunks"] and (direct or doc["size"] >= DIRECT_CHUNK):
                    self._get_direct(doc, part, progress)
                    os.replace(part, target)
                    return self.parse_written(doc)
        info = self.head(bucket, key)
        have = part.stat().st_size if part.exists() else 0
        stamp = part.with_name(part.name + ".etag")  # which version the partial file holds
        if have and (not stamp.exists() or stamp.read_text() != info.etag):
            have = 0  # a partial file of another version: start again
        if have > info.size:
            have = 0
        headers = {"if-match": f'"{info.etag}"'}
        if have:
            headers["range"] = f"bytes={have}-"
        path_only = self.get_spec(bucket, key).path
        spec = Spec(method="GET", path=path_only, headers=headers, ok=(200, 206))
        stamp.write_text(info.etag)
        if have < info.size or info.size == 0:
            self._download(spec, part, append=bool(have), progress=progress)
        digest = file_sha256(part)
        if info.sha256 and digest != info.sha256:
            part.unlink()
            raise IntegrityError("the downloaded file does not match the object's SHA-256")
        os.replace(part, target)
        stamp.unlink(missing_ok=True)
        return info

    def _get_direct(self, doc: dict[str, Any], part: Path, progress: Progress | None) -> None:
        chunks = [(c["sha256"], int(c["size"]), c["urls"]) for c in doc["chunks"]]
        offsets = chunk_offsets([(sha, size) for sha, size, _ in chunks])
        resuming = part.exists()
        with part.open("r+b" if resuming else "w+b") as out:
            out.truncate(int(doc["size"]))
            fd = out.fileno()
            flusher = Flusher(fd)

            def fetch(index: int) -> None:
                sha, size, urls = chunks[index]
                offset = offsets[index]
                if not resuming or region_sha256(fd, offset, size) != sha:
                    self._fetch_chunk_into(fd, offset, sha, urls)
                    flusher.wrote(size)
                if progress:
                    progress(size)

            try:
                with ThreadPoolExecutor(max_workers=DIRECT_IN_FLIGHT) as pool:
                    list(pool.map(fetch, range(len(chunks))))
                out.flush()
                flusher.finish()
            finally:
                flusher.wait()  # no background flush outlives the file

    def _fetch_chunk_into(
        self, fd: int, offset: int, sha256: str, urls: builtins.list[str]
    ) -> None:
        """Stream one chunk into the file at ``offset`` from the first place that serves it
        intact (hashed as it arrives, checked against its name); 1 MiB in memory at a time."""
        for url in urls:
            digest, pos = hashlib.sha256(), offset
            try:
                with self._http.stream("GET", url) as response:
                    if response.status_code != 200:
                        continue
                    for piece in response.iter_bytes():  # as received: re-cut pieces cost 2x CPU
                        os.pwrite(fd, piece, pos)
                        digest.update(piece)
                        pos += len(piece)
            except httpx.TransportError:
                continue
            if digest.hexdigest() == sha256:
                return
        raise IntegrityError(f"no place served chunk {sha256} intact")

    def _download(self, spec: Spec, part: Path, *, append: bool, progress: Progress | None) -> None:
        router = self.routers.pick()
        try:
            with self._http.stream(
                spec.method, router + spec.path, **self.request_kwargs(spec)
            ) as response:
                if response.status_code not in spec.ok:
                    response.read()
                    self.raise_for(spec, response)
                mode = "ab" if append and response.status_code == 206 else "wb"
                with part.open(mode) as out:
                    for piece in response.iter_bytes():
                        out.write(piece)
                        if progress:
                            progress(len(piece))
        except httpx.TransportError as exc:
            self.routers.failed(router)
            raise self.transport_error(exc) from None

    def open(self, bucket: str, key: str, *, version_id: str | None = None) -> ObjectFile:
        """A seekable, read-only binary file over the object, read by ranges (for zipfile,
        tarfile, pyarrow); pinned to the version open found."""
        info = self.head(bucket, key, version_id=version_id)

        def read_range(start: int, end: int) -> bytes:
            spec = self.get_spec(
                bucket,
                key,
                range=(start, end),
                version_id=info.version_id if info.version_id not in (None, "null") else None,
            )
            spec.headers["if-match"] = f'"{info.etag}"'
            return self.send(spec).content

        return ObjectFile(size=info.size, read_range=read_range, name=f"{bucket}/{key}")

    # -- listing ---------------------------------------------------------------------------

    def list(
        self, bucket: str, *, prefix: str = "", delimiter: str = "", page_size: int = 1000
    ) -> Iterator[Entry]:
        """Every object (and, with a delimiter, common prefix), page by page as consumed."""
        cursor: str | None = None
        while True:
            doc = self.send(
                self.list_spec(
                    bucket, prefix=prefix, delimiter=delimiter, cursor=cursor, limit=page_size
                )
            ).json()
            entries, cursor = self.parse_listing(doc)
            yield from entries
            if cursor is None:
                return

    def ls(self, bucket: str, prefix: str = "") -> builtins.list[Entry]:
        """One level of the ``/`` hierarchy under ``prefix``: objects and directories."""
        if prefix and not prefix.endswith("/"):
            prefix += "/"
        return list(self.list(bucket, prefix=prefix, delimiter="/"))

    def tree(self, bucket: str, prefix: str = "") -> Iterator[Entry]:
        """Every object under ``prefix``, at any depth."""
        return self.list(bucket, prefix=prefix)

    def du(self, bucket: str, prefix: str = "") -> tuple[int, int]:
        """(objects, bytes) under ``prefix``."""
        count = size = 0
        for entry in self.list(bucket, prefix=prefix):
            count += 1
            size += entry.size
        return count, size

    def rm(
        self, bucket: str, key: str, *, recursive: bool = False, everything: bool = False
    ) -> int:
        """Delete one object, or with ``recursive`` every object under a ``dir/`` prefix
        (``everything=True`` to empty the whole bucket). The number deleted."""
        self.check_rm(key, recursive=recursive, everything=everything)
        if not recursive:
            self.delete(bucket, key)
            return 1
        doomed = [e.key for e in self.list(bucket, prefix=key)]
        with ThreadPoolExecutor(max_workers=8) as pool:
            for _ in pool.map(lambda k: self._delete_quiet(bucket, k), doomed):
                pass
        return len(doomed)

    def _delete_quiet(self, bucket: str, key: str) -> None:
        with contextlib.suppress(NotFound):
            self.delete(bucket, key)

    def versions(self, bucket: str, *, prefix: str = "") -> builtins.list[dict[str, Any]]:
        """Every version and delete marker under ``prefix`` (the server's version listing)."""
        out: builtins.list[dict[str, Any]] = []
        params = {"versions": "", "prefix": prefix}
        while True:
            spec = Spec(method="GET", path=f"{bucket_path(bucket)}/objects", params=dict(params))
            doc = self.send(spec).json()
            out += doc["versions"]
            if not doc.get("truncated"):
                return out
            params["key_marker"] = doc["next_key_marker"]
            params["version_id_marker"] = doc["next_version_id_marker"]

    # -- trees -----------------------------------------------------------------------------

    def upload_tree(
        self, root: str | os.PathLike[str], bucket: str, prefix: str = "", **options: Any
    ) -> BulkStats:
        """Upload a directory tree, resumable with ``tracker=`` (a SQLite file); ``include``
        and ``exclude`` globs, ``verify`` by size and SHA-256, ``concurrency`` (see
        ``xolo.client.bulk``)."""
        return bulk.upload_tree(self, root, bucket, prefix, **options)

    def download_tree(
        self, bucket: str, prefix: str, root: str | os.PathLike[str], **options: Any
    ) -> BulkStats:
        """Download every object under a prefix into a directory, resumable likewise."""
        return bulk.download_tree(self, bucket, prefix, root, **options)

    def commit_staging(self, bucket: str, staging: str, final: str) -> int:
        """Make a batch uploaded under ``staging`` (a ``dir/`` prefix) visible under ``final``
        in one step: readers see none of it there, or all of it. The number of objects."""
        spec = Spec(
            method="POST",
            path=f"{bucket_path(bucket)}/staging",
            json={"staging": staging, "final": final},
            idempotent=False,  # a repeat could move a later batch under the same prefix
        )
        return int(self.send(spec).json()["moved"])

    def cleanup_staging(self, bucket: str, staging: str) -> int:
        """Delete what a failed batch left under ``staging``."""
        return self.rm(bucket, staging, recursive=True)

    # -- the rest ----------------------------------------------------------------------------

    def audit(self, bucket: str, *, after: int = 0) -> Iterator[dict[str, Any]]:
        """The bucket's audit chain from sequence ``after`` on, page by page (each entry with
        its MAC; ``POST /v1/buckets/{b}/audit/verify`` checks the chain on the server)."""
        while True:
            spec = Spec(
                method="GET", path=f"{bucket_path(bucket)}/audit", params={"after": str(after)}
            )
            doc = self.send(spec).json()
            yield from doc["entries"]
            if doc.get("next_after") is None:
                return
            after = int(doc["next_after"])

    def events(
        self,
        bucket: str,
        *,
        prefix: str = "",
        types: Iterable[str] = (),
        after: int | None = None,
    ) -> Iterator[Event]:
        """Follow the bucket's change feed (from sequence ``after``; from now on when None),
        reconnecting with backoff and resuming after the last event yielded."""
        failures = 0
        while True:
            spec = self.events_spec(bucket, prefix=prefix, types=types, after=after)
            router = self.routers.pick()
            try:
                with self._http.stream(
                    "GET", router + spec.path, timeout=None, **self.request_kwargs(spec)
                ) as response:
                    if response.status_code != 200:
                        response.read()
                        self.raise_for(spec, response)
                    reader = FeedReader(after)
                    for line in response.iter_lines():
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
                self._sleep(self.backoff(failures))

    def presign(self, method: str, bucket: str, key: str, *, expires: int = 3600) -> str:
        """A URL that allows ``method`` on this one object until it expires, no credentials
        needed."""
        return str(self.send(self.presign_spec(method, bucket, key, expires)).json()["url"])

    def bucket(self, name: str) -> BucketMapping:
        """The bucket as a ``MutableMapping[str, bytes]``."""
        return BucketMapping(self, name)

    def __truediv__(self, bucket: str) -> XoloPath:
        """``client / "bucket" / "dir" / "file.txt"``: a pathlib-like reference."""
        return XoloPath(self, bucket, "")


def _body(data: Body) -> tuple[bytes | None, Iterable[bytes] | None, str | None]:
    """(bytes, stream, sha256) of a body: bytes and text are hashed (the server checks)."""
    if isinstance(data, str):
        data = data.encode()
    if isinstance(data, bytes | bytearray | memoryview):
        raw = bytes(data)
        return raw, None, hashlib.sha256(raw).hexdigest()
    if hasattr(data, "read"):
        return None, _pieces(data, None), None  # type: ignore[arg-type]
    return None, iter(data), None  # type: ignore[arg-type]


def _pieces(f: IO[bytes], progress: Progress | None) -> Iterator[bytes]:
    while piece := f.read(PIECE):
        if progress:
            progress(len(piece))
        yield piece


__all__ = ["Client", "verify_sha256"]
