"""Turning a byte stream into an inline body or a list of stored chunks.

Memory stays bounded: at most one chunk being filled plus ``chunks_in_flight`` being stored.
Hashing runs on worker threads (hashlib releases the GIL), so the event loop keeps serving.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
from collections.abc import AsyncIterable, Callable, Mapping
from dataclasses import dataclass

from xolo.chunks.base import ChunkStore
from xolo.core.checksums import ObjectDigest
from xolo.core.chunking import Rechunker
from xolo.core.errors import BadDigest, InvalidArgument, SizeMismatch
from xolo.core.records import ChunkRef
from xolo.meta.base import ChunkRefStore
from xolo.service.config import ServiceConfig


class ChunkSink:
    """Where a write's chunks go: claimed in the metadata store (so GC spares them until the
    manifest commits), then stored with the bucket's replication and write quorum.
    ``chosen`` is the replication the bucket set explicitly (None: the default)."""

    def __init__(
        self,
        *,
        meta: ChunkRefStore,
        chunks: ChunkStore,
        copies: int,
        quorum: int,
        chosen: int | None = None,
        clock: Callable[[], float],
    ) -> None:
        self._meta = meta
        self._chunks = chunks
        self.copies = copies
        self.quorum = quorum
        self._chosen = chosen or 0
        self._clock = clock

    async def store(self, sha256: str, data: bytes) -> None:
        """Claim, then store: the claim must come first (see ``cluster/gc.py``)."""
        ref = ChunkRef(sha256=sha256, size=len(data))
        # The copies the bucket chose are recorded (0: the cluster's default, which repair
        # recomputes as the cluster grows); this write makes ``copies`` now.
        await self._meta.claim_chunks([ref], replicas=self._chosen, now=self._clock())
        await self._chunks.put(sha256, data, copies=self.copies, quorum=self.quorum)


@dataclass(frozen=True, slots=True, kw_only=True)
class Ingested:
    """What ``ingest`` made of a body: its size and digests, and either the inline bytes
    or the chunks stored."""

    size: int
    md5: str | None
    sha256: str
    chunks: tuple[ChunkRef, ...]
    inline: bytes | None
    checksums: dict[str, str]
    """The additional checksums asked for (algorithm → base64)."""


PARALLEL_FROM = 256 * 1024
"""Chunks at least this large are hashed on several threads at once (``_hash_chunk``)."""


async def _hash_chunk(digest: ObjectDigest, chunk: bytes) -> str:
    """Feed ``chunk`` to the object's digest and return the chunk's name, hashing each byte
    once per algorithm. The first chunk's name is the object digest's SHA-256 so far; for
    later chunks the chunk's own SHA-256 is another job. Large chunks run their jobs on
    separate threads at once (hashlib releases the GIL), so a PUT waits for the slowest hash,
    not for the sum of them."""
    first = digest.size == 0
    own = hashlib.sha256()
    lanes = digest.lanes(chunk)
    if not first:
        lanes.append(functools.partial(own.update, chunk))
    if len(chunk) < PARALLEL_FROM:
        for lane in lanes:
            lane()
    else:
        await asyncio.gather(*(asyncio.to_thread(lane) for lane in lanes))
    return digest.sha256 if first else own.hexdigest()


class _ChunkWriter:
    def __init__(self, store: ChunkSink, digest: ObjectDigest, in_flight: int) -> None:
        self._store = store
        self._digest = digest
        self._in_flight = in_flight
        self._pending: list[asyncio.Task[None]] = []
        self.refs: list[ChunkRef] = []

    async def add(self, chunk: bytes) -> None:
        """Name the chunk, start storing it, and wait while more than ``in_flight`` stores are
        pending, so memory stays bounded."""
        sha = await _hash_chunk(self._digest, chunk)
        self.refs.append(ChunkRef(sha256=sha, size=len(chunk)))
        self._pending.append(asyncio.create_task(self._store.store(sha, chunk)))
        while len(self._pending) > self._in_flight:
            await self._pending.pop(0)

    async def drain(self) -> None:
        """Wait for every pending store, in order; the first failure is raised."""
        while self._pending:
            await self._pending.pop(0)

    async def abort(self) -> None:
        """Cancel the pending stores and wait until they have all ended."""
        for task in self._pending:
            task.cancel()
        await asyncio.gather(*self._pending, return_exceptions=True)
        self._pending.clear()


async def ingest(
    body: AsyncIterable[bytes],
    store: ChunkSink,
    config: ServiceConfig,
    *,
    max_size: int | None = None,
    prefix: bytes = b"",
    digest: ObjectDigest | None = None,
    md5: bool = False,
    checksums: frozenset[str] = frozenset(),
) -> Ingested:
    """Consume ``prefix`` then ``body`` into inline bytes or stored chunks.

    The digest is fed exactly the bytes that pass through here; an append to a chunked object
    passes one already fed with the old object's bytes, so the result covers the whole object.
    ``max_size`` bounds the body (not the prefix); ``md5`` asks for an MD5 too (S3 ETags).
    """
    digest = digest or ObjectDigest(md5=md5, extra=checksums)
    head = bytearray(prefix)
    writer: _ChunkWriter | None = None
    rechunker = Rechunker(config.chunk_size)
    received = 0
    try:
        async for piece in body:
            received += len(piece)
            if max_size is not None and received > max_size:
                raise SizeMismatch(f"the body is longer than the declared {max_size} bytes")
            if writer is not None:
                for chunk in rechunker.feed(piece):
                    await writer.add(chunk)
                continue
            head += piece
            if len(head) > config.inline_threshold:
                writer = _ChunkWriter(store, digest, config.chunks_in_flight)
                for chunk in rechunker.feed(head):
                    await writer.add(chunk)
                head = bytearray()
        if writer is None:
            data = bytes(head)
            digest.update(data)
            return Ingested(
                size=digest.size,
                md5=digest.md5,
                sha256=digest.sha256,
                chunks=(),
                inline=data,
                checksums=digest.checksums(),
            )
        rest = rechunker.finish()
        if rest:
            await writer.add(rest)
        await writer.drain()
        return Ingested(
            size=digest.size,
            md5=digest.md5,
            sha256=digest.sha256,
            chunks=tuple(writer.refs),
            inline=None,
            checksums=digest.checksums(),
        )
    except BaseException:
        if writer is not None:
            await writer.abort()
        raise


def verify_checksums(
    data: Ingested, content_md5: str | None, expected: Mapping[str, str] | None
) -> None:
    """Compare the body's digests with what the client sent (Content-MD5, x-amz-checksum-*)."""
    if content_md5 is not None:
        assert data.md5 is not None
        if base64.b64encode(bytes.fromhex(data.md5)).decode() != content_md5.strip():
            raise BadDigest("the Content-MD5 you specified did not match what we received")
    for algorithm, value in (expected or {}).items():
        actual = data.checksums.get(algorithm)
        if actual is None:
            raise InvalidArgument(f"checksum {algorithm} was sent but not announced")
        if actual != value.strip():
            raise BadDigest(f"the x-amz-checksum-{algorithm} you specified did not match the body")
