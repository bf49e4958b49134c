"""Direct transfers: a client writes a large object's chunks to the peers itself, then asks a
router to commit the manifest.

A mixin of ObjectService. ``plan_direct`` claims the chunks (so GC spares them, as an upload
through the router would: claim before store) and says, for each, whether enough copies exist
already (those are not sent again: re-uploading known data costs no chunk bytes) or which
places to write it to. ``commit_direct`` claims again, checks that every chunk has at least the
write quorum's copies (a peer stores only bytes that hash to a chunk's name, so a copy that
exists is the right one), and commits the manifest in one transaction, conditions included.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from xolo.chunks.base import ChunkStore
from xolo.core.audit import Change
from xolo.core.checksums import check_chunk_name
from xolo.core.cluster_auth import possession_proof
from xolo.core.conditions import NO_CONDITION, WriteCondition
from xolo.core.errors import AccessDenied, InvalidArgument, MissingChunks, NotImplementedByXolo
from xolo.core.names import check_content_type, check_key, check_metadata
from xolo.core.records import Bucket, ChunkRef, ObjectRecord
from xolo.core.versions import new_version_id
from xolo.meta.base import MetaStore
from xolo.service.audit import recorded
from xolo.service.auth import ClusterGuard
from xolo.service.config import ServiceConfig
from xolo.service.context import actor

MAX_STAGED = 10_000
"""Objects one staging commit moves at most (one transaction)."""
MAX_PLAN_CHUNKS = 100_000
"""Chunks one plan may name (6.4 TB at 64 MiB chunks)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ChunkPlan:
    """What a client does with one chunk: nothing (``have``), or write it to ``urls``."""

    sha256: str
    size: int
    have: bool
    urls: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectRead:
    """An object version and, per chunk in order, where a client may read it directly."""

    record: ObjectRecord
    chunks: tuple[tuple[ChunkRef, tuple[str, ...]], ...]


@dataclass(frozen=True, slots=True, kw_only=True)
class Evidence:
    """Why a direct commit may name its chunks: the plan token they were sent under and, per
    chunk, a volume's receipt (``receipts``: the client sent the bytes) or a proof of
    possession (``proofs``: SHA-256 of the plan's challenge followed by the chunk's bytes, for
    a chunk the plan said the cluster had). A name alone is not enough: whoever learnt a chunk's
    name could otherwise commit an object over it and read bytes they were never given."""

    plan: str
    receipts: Mapping[str, str]
    proofs: Mapping[str, str]


PROOF_READS = 4
"""Chunks read back at once to check proofs of possession."""


@dataclass(frozen=True, slots=True, kw_only=True)
class DirectPlan:
    """A plan for every chunk of a direct upload, with the copies to make and the write
    quorum the commit will check."""

    copies: int
    write_quorum: int
    chunks: tuple[ChunkPlan, ...]


def check_chunks(chunks: Sequence[ChunkRef], max_size: int) -> list[ChunkRef]:
    """Refuse a direct transfer naming no chunk, too many, a malformed name or a size
    outside 1 to ``max_size`` bytes; the chunks as a list."""
    if not chunks:
        raise InvalidArgument("a direct transfer names at least one chunk")
    if len(chunks) > MAX_PLAN_CHUNKS:
        raise InvalidArgument(f"a direct transfer names at most {MAX_PLAN_CHUNKS} chunks")
    for chunk in chunks:
        check_chunk_name(chunk.sha256)
        if not 0 < chunk.size <= max_size:
            raise InvalidArgument(f"a chunk's size must be from 1 to {max_size} bytes")
    return list(chunks)


class DirectMixin:
    """Direct transfers, for ObjectService (which provides these)."""

    _meta: MetaStore
    _chunks: ChunkStore
    _config: ServiceConfig
    _clock: Callable[[], float]

    async def _cached_bucket(self, name: str) -> Bucket:
        raise NotImplementedError

    def _changed(self, bucket: str) -> None:
        raise NotImplementedError

    def _direct_allowed(self) -> None:
        if not self._config.direct_transfers:
            raise NotImplementedByXolo(
                "direct transfers are turned off on this router: upload and download through it"
            )

    async def _copies(self, bucket: str) -> tuple[int, int, int]:
        settings = (await self._cached_bucket(bucket)).settings
        copies, quorum = settings.copies(self._chunks.places())
        return copies, quorum, settings.replication or 0

    async def plan_direct(self, bucket: str, chunks: Sequence[ChunkRef]) -> DirectPlan:
        """Claim the chunks and say which the client must write, and where."""
        self._direct_allowed()
        refs = check_chunks(chunks, self._config.max_chunk_size)
        copies, quorum, chosen = await self._copies(bucket)
        await self._meta.claim_chunks(refs, replicas=chosen, now=self._clock())
        names = [c.sha256 for c in refs]
        # Only a chunk this bucket already names may be skipped: saying so of another bucket's
        # chunk would tell the caller that someone stored bytes it can guess. Such a chunk is
        # sent again, and its peers keep the one copy they have.
        held = sorted(await self._meta.bucket_chunks(bucket, names))
        counts = await self._chunks.copies(held) if held else []
        have = {n for n, count in zip(held, counts, strict=True) if count >= quorum}
        planned = tuple(
            ChunkPlan(
                sha256=c.sha256,
                size=c.size,
                have=c.sha256 in have,
                urls=() if c.sha256 in have else tuple(self._chunks.upload_urls(c.sha256, copies)),
            )
            for c in refs
        )
        return DirectPlan(copies=copies, write_quorum=quorum, chunks=planned)

    async def _check_sizes(self, refs: Sequence[ChunkRef]) -> None:
        """Each chunk's stored size must be the size the manifest declares (the object's size
        and the bucket's totals come from them)."""
        gate = asyncio.Semaphore(32)

        async def size(ref: ChunkRef) -> int | None:
            async with gate:
                return await self._chunks.size(ref.sha256)

        found = await asyncio.gather(*(size(r) for r in refs))
        for ref, stored in zip(refs, found, strict=True):
            if stored != ref.size:
                raise InvalidArgument(
                    f"chunk {ref.sha256} is {stored} bytes, not the {ref.size} declared"
                )

    async def _check_evidence(
        self, bucket: str, refs: Sequence[ChunkRef], evidence: Evidence, guard: ClusterGuard
    ) -> None:
        """Every chunk has a receipt under this bucket's plan or a proof of its bytes. Receipts
        are checked first (no I/O); proofs read their chunks back a few at a time, and the
        first bad one ends the check (a commit naming many chunks it cannot prove costs the
        router one chunk read, not all of them)."""
        challenge = guard.check_plan(token=evidence.plan, bucket=bucket)
        to_prove: list[tuple[str, str]] = []
        unreceipted = [
            name
            for name in dict.fromkeys(r.sha256 for r in refs)
            if not guard.receipt_matches(
                sha256=name, plan=evidence.plan, receipt=evidence.receipts.get(name, "")
            )
        ]
        # A proof stands in for sending only a chunk this bucket already names (what a plan
        # lets a writer skip); for any other chunk it would answer whether someone stored it.
        provable = await self._meta.bucket_chunks(bucket, unreceipted) if unreceipted else ()
        for name in unreceipted:
            proof = evidence.proofs.get(name) if name in provable else None
            if proof is None:
                raise AccessDenied(f"chunk {name} was neither sent under this plan nor proven")
            to_prove.append((name, proof))

        async def proven(name: str, proof: str) -> None:
            data = await self._chunks.read(name)
            actual = await asyncio.to_thread(possession_proof, challenge, data)
            if not hmac.compare_digest(actual.encode(), proof.encode()):
                raise AccessDenied(f"the proof for chunk {name} does not match its bytes")

        for start in range(0, len(to_prove), PROOF_READS):
            await asyncio.gather(*(proven(n, p) for n, p in to_prove[start : start + PROOF_READS]))

    async def head_object(
        self, bucket: str, key: str, *, version_id: str | None = None
    ) -> ObjectRecord:
        """Provided by ObjectService: the version a direct read is of."""
        raise NotImplementedError

    async def read_direct(
        self, bucket: str, key: str, *, version_id: str | None = None
    ) -> DirectRead:
        """The version (NoSuchKey, NoSuchVersion as a read answers) and where each of its
        chunks may be read; an inline object has none (read it through the router)."""
        self._direct_allowed()
        record = await self.head_object(bucket, key, version_id=version_id)
        chunks = tuple((c, tuple(self._chunks.read_urls(c.sha256))) for c in record.chunks)
        return DirectRead(record=record, chunks=chunks)

    async def commit_direct(
        self,
        bucket: str,
        key: str,
        chunks: Sequence[ChunkRef],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        condition: WriteCondition = NO_CONDITION,
        evidence: Evidence,
        guard: ClusterGuard,
    ) -> ObjectRecord:
        """Commit a manifest whose chunks the client wrote; MissingChunks (409, nothing
        committed) while any chunk has fewer copies than the write quorum, AccessDenied (403,
        nothing committed) for a chunk without a receipt or proof (``Evidence``)."""
        self._direct_allowed()
        check_key(key)
        if content_type is not None:
            check_content_type(content_type)
        meta = check_metadata(metadata or {})
        refs = check_chunks(chunks, self._config.max_chunk_size)
        _, quorum, chosen = await self._copies(bucket)
        # Evidence first: a count of copies before it would tell a caller holding only a guessed
        # name whether any bucket stores that chunk (403 or 409).
        await self._check_evidence(bucket, refs, evidence, guard)
        await self._meta.claim_chunks(refs, replicas=chosen, now=self._clock())
        counts = await self._chunks.copies([c.sha256 for c in refs])
        short = [c.sha256 for c, n in zip(refs, counts, strict=True) if n < quorum]
        if short:
            raise MissingChunks(
                f"{len(short)} chunk(s) have fewer than {quorum} copies, {short[0]} first: "
                "write them before committing"
            )
        await self._check_sizes(refs)
        names = b"".join(bytes.fromhex(c.sha256) for c in refs)
        record = ObjectRecord(
            bucket=bucket,
            key=key,
            size=sum(c.size for c in refs),
            etag=f"{hashlib.sha256(names).hexdigest()}-{len(refs)}",
            sha256=None,
            modified=self._clock(),
            version=secrets.token_hex(8),
            content_type=content_type or "application/octet-stream",
            metadata=meta,
            chunks=tuple(refs),
            version_id=new_version_id(),
        )
        stored, _ = await self._meta.put_object(record, condition, change=recorded("put", record))
        self._changed(bucket)
        return stored


def check_staging(staging: str, final: str) -> None:
    """Two directory prefixes (ending in ``/``), neither inside the other."""
    for name, prefix in (("staging", staging), ("final", final)):
        if not prefix.endswith("/") or prefix == "/":
            raise InvalidArgument(f"the {name} prefix must be a directory ending in '/'")
        check_key(prefix)
    if staging.startswith(final) or final.startswith(staging):
        raise InvalidArgument("the staging and final prefixes may not contain one another")


class StagingMixin:
    """The staging pattern, for ObjectService: upload a batch under a staging prefix, then
    make all of it visible under the final prefix in one step."""

    _meta: MetaStore
    _clock: Callable[[], float]

    def _changed(self, bucket: str) -> None:
        raise NotImplementedError

    async def commit_staging(self, bucket: str, staging: str, final: str) -> list[ObjectRecord]:
        """Move every object under ``staging`` to ``final`` in one transaction: a reader
        sees none of the batch under ``final``, or all of it (at most ``MAX_STAGED``)."""
        check_staging(staging, final)
        now = self._clock()

        def audit(op: str, record: ObjectRecord) -> Change:
            if op == "put":
                return recorded("put", record)
            return Change(op="delete", bucket=bucket, key=record.key, time=now, actor=actor())

        moved = await self._meta.move_prefix(
            bucket, staging, final, now=now, limit=MAX_STAGED, audit=audit
        )
        self._changed(bucket)
        return moved
