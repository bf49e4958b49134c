"""The metadata store's protocols, one per concern, and ``MetaStore``, which is all of them.

Every implementation passes ``tests/contract/`` unchanged; implementations are plugged into that
suite from one place (``tests/contract/stores.py``).

The concurrency rule
--------------------
Each mutating method is one atomic transaction, and it stays atomic when **many store instances
in many processes** write to one database at once (several routers on one PostgreSQL, several
workers on one SQLite file). Conditions are never checked by reading first and writing after in
separate steps; inside the one transaction:

* a create-only write (``If-None-Match: *``) is an insert that conflicts when the key exists;
* an ``If-Match`` write, an append (``expect_version``) and an unconditional replace are an
  update of the row as it was read, guarded by that row's version, with the row locked where the
  database has row locks (PostgreSQL's ``FOR UPDATE``); a guard that fails means another writer
  won, and the transaction re-reads and re-checks;
* bucket creation is an insert that does nothing when the name exists: exactly one creator;
* chunk references move by increments and decrements in the same transaction as the manifest
  that gains or loses them, in sorted chunk order (so two transactions never deadlock on them).

Backend errors never escape: lock timeouts, serialization failures and lost connections are
retried a bounded number of times, then raised as ``StoreUnavailable`` (503).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from xolo.core.audit import Change, Entry
from xolo.core.conditions import WriteCondition
from xolo.core.records import (
    AccessKey,
    Bucket,
    BucketSettings,
    ChunkInfo,
    ChunkRef,
    MultipartUpload,
    NotifyTarget,
    ObjectInfo,
    ObjectRecord,
    Part,
    PeerRecord,
    RouterRecord,
    TaskRecord,
    Upload,
    VersionInfo,
)


class BucketStore(Protocol):
    """Buckets, their settings, and their usage totals."""

    async def create_bucket(
        self,
        name: str,
        settings: BucketSettings,
        *,
        owner: str | None,
        now: float,
        change: Change | None = None,
    ) -> tuple[Bucket, bool]:
        """Create the bucket if no bucket has the name; returns the bucket as it now is and
        whether this call created it. Racing creators: exactly one gets True, and the settings
        are that one's."""
        ...

    async def update_bucket(
        self, name: str, changes: Mapping[str, Any], *, change: Change | None = None
    ) -> Bucket:
        """Change only the settings ``changes`` names (see ``BucketSettings.updated``).
        Raises NoSuchBucket."""
        ...

    async def set_bucket_config(
        self, name: str, section: str, value: Any, *, change: Change | None = None
    ) -> Bucket:
        """Replace one section of the bucket's configuration (``BucketConfig``: lifecycle
        rules, CORS rules, canned ACL) and leave the others as they are, in one transaction,
        so configuring one section never undoes a concurrent change to another. Setting the
        ``acl`` section sets ``public_read`` in the settings to match, in the same transaction
        (the two can never disagree after an S3 PutBucketAcl). Raises NoSuchBucket."""
        ...

    async def get_bucket(self, name: str) -> Bucket:
        """Raises NoSuchBucket."""
        ...

    async def list_buckets(self) -> list[Bucket]:
        """Every bucket, by name."""
        ...

    async def delete_bucket(self, name: str, *, now: float, change: Change | None = None) -> None:
        """Remove an empty bucket with its pending uploads. Raises NoSuchBucket, or
        BucketNotEmpty while it holds objects, versions or delete markers."""
        ...


class ObjectStore(Protocol):
    """Objects: key → manifest, with conditional writes."""

    async def get_object(self, bucket: str, key: str) -> ObjectRecord | None:
        """Raises NoSuchBucket; None when the key is absent."""
        ...

    async def put_object(
        self,
        record: ObjectRecord,
        condition: WriteCondition,
        *,
        upload_id: str | None = None,
        change: Change | None = None,
    ) -> tuple[ObjectRecord, ObjectRecord | None]:
        """Store ``record`` as the key's current version; returns it as stored (its
        ``version_id`` is ``null`` unless the bucket's versioning is enabled, read in the same
        transaction) and the version it replaced. What happens to the replaced version is
        ``core/versions.py``'s ``plan_put``: kept in the history, or gone.

        The chunks the record names gain a reference and those of a version that is gone lose
        one, in the same transaction (ChunkCollected when a named chunk has been collected).
        With ``upload_id`` the declared upload is consumed too (NoSuchUpload when it is expired
        or used). Raises NoSuchBucket and PreconditionFailed (ConcurrentUpdate for a failed
        ``expect_version``).
        """
        ...

    async def delete_object(
        self,
        bucket: str,
        key: str,
        condition: WriteCondition,
        *,
        now: float,
        version_id: str | None = None,
        change: Change | None = None,
    ) -> ObjectRecord | None:
        """Without ``version_id``: remove the current version (``plan_delete``); in a bucket
        whose versioning is enabled or suspended the current version may be kept and a delete
        marker is added, which is returned; otherwise the removed version is returned, None
        when there was none. With ``version_id``: remove that version or delete marker for
        good and return it (None when the key has no such version); when it was the current
        version or the newest marker, the newest version beneath becomes current unless it is
        a marker. ``condition`` is checked against the version removed. Raises NoSuchBucket."""
        ...

    async def get_version(
        self, bucket: str, key: str, version_id: str | None
    ) -> ObjectRecord | None:
        """The version ``version_id`` of the key (a delete marker has ``delete_marker``), or
        with None its newest version: the current one, or the delete marker that hides it.
        None when there is no such version. Raises NoSuchBucket."""
        ...

    async def amend_object(
        self,
        bucket: str,
        key: str,
        version_id: str | None,
        *,
        tags: Mapping[str, str] | None = None,
        acl: str | None = None,
        expect_version: str | None = None,
        change: Change | None = None,
    ) -> ObjectRecord | None:
        """Replace the tags and/or canned ACL of one version (the current one without
        ``version_id``) and nothing else: its bytes, ETag and version token stay, as S3's
        tagging and ACL calls leave an object's version alone. Returns the version as amended;
        a delete marker is returned unchanged (callers refuse it); None when there is no such
        version. With ``expect_version``, ConcurrentUpdate unless the version found still has
        that token (a ``null`` version rewritten since it was read is not amended). Raises
        NoSuchBucket."""
        ...

    async def move_prefix(
        self,
        bucket: str,
        source: str,
        target: str,
        *,
        now: float,
        limit: int,
        audit: Callable[[str, ObjectRecord], Change] | None = None,
    ) -> list[ObjectRecord]:
        """Move every current object under the key prefix ``source`` to the same key under
        ``target``, all in one transaction: a reader sees none or all of them at their new
        keys. Each move is a write of the target key (by the bucket's versioning, as a PUT;
        references move with it) and a delete of the source key. ``audit`` makes the audit
        entry of each write (``"put"``) and delete (``"delete"``). InvalidArgument, and
        nothing moved, when more than ``limit`` objects are under ``source``. Returns the
        objects as written."""
        ...

    async def version_seq(self, bucket: str, key: str, version_id: str) -> int | None:
        """The place of a version among its key's versions (for resuming a listing)."""
        ...

    async def scan_versions(
        self, bucket: str, prefix: bytes, after: tuple[bytes, int] | None, limit: int
    ) -> list[VersionInfo]:
        """Up to ``limit`` versions and delete markers whose key starts with ``prefix``, by key
        (byte order) and newest first within a key, after the position ``after`` (key bytes,
        place). The bucket is not checked."""
        ...

    async def set_versioning(
        self, bucket: str, status: str, *, change: Change | None = None
    ) -> Bucket:
        """Set the bucket's versioning status (``Enabled`` or ``Suspended``). Raises
        NoSuchBucket."""
        ...

    async def scan_objects(
        self, bucket: str, prefix: bytes, start: bytes, limit: int
    ) -> list[ObjectInfo]:
        """Up to ``limit`` objects whose UTF-8 key starts with ``prefix`` and is ``>= start``,
        in byte order. The bucket is not checked."""
        ...


class UploadStore(Protocol):
    """Declared two-step uploads, waiting for their bytes."""

    async def create_upload(self, upload: Upload) -> None:
        """Raises NoSuchBucket."""
        ...

    async def get_upload(self, upload_id: str, now: float) -> Upload | None:
        """The upload if it is still open and unexpired."""
        ...

    async def expire_uploads(self, now: float, limit: int) -> int:
        """Forget up to ``limit`` uploads that expired before ``now``; how many."""
        ...


class MultipartStore(Protocol):
    """S3 multipart uploads and their parts (which hold chunk references until completion)."""

    async def create_multipart(self, upload: MultipartUpload) -> None:
        """Raises NoSuchBucket."""
        ...

    async def get_multipart(self, upload_id: str) -> MultipartUpload | None:
        """The upload while it is in progress."""
        ...

    async def put_part(self, part: Part, *, now: float) -> None:
        """Store or replace a part. Raises NoSuchUpload once the upload is completed or
        aborted, ChunkCollected as ``put_object`` does."""
        ...

    async def list_parts(self, upload_id: str, after: int, limit: int) -> list[Part]:
        """Parts numbered above ``after``, in order."""
        ...

    async def list_multiparts(
        self, bucket: str, prefix: bytes, after: tuple[bytes, str] | None, limit: int
    ) -> list[MultipartUpload]:
        """Uploads in progress by (key bytes, upload id), after the given pair."""
        ...

    async def stale_multiparts(self, created_before: float, limit: int) -> list[MultipartUpload]:
        """Uploads still in progress that were started before ``created_before``."""
        ...

    async def complete_multipart(
        self,
        upload_id: str,
        record: ObjectRecord,
        condition: WriteCondition,
        *,
        change: Change | None = None,
    ) -> tuple[ObjectRecord, ObjectRecord | None]:
        """Atomically end the upload (NoSuchUpload if already ended), drop its parts'
        references and store ``record`` as ``put_object`` does."""
        ...

    async def abort_multipart(self, upload_id: str, *, now: float) -> bool:
        """End the upload and forget its parts; whether it existed."""
        ...


class KeyStore(Protocol):
    """Access keys, with sealed secrets."""

    async def put_key(self, key: AccessKey, *, change: Change | None = None) -> None:
        """Create or replace a key."""
        ...

    async def get_key(self, access_key: str) -> AccessKey | None:
        """The key, or None."""
        ...

    async def list_keys(self) -> list[AccessKey]:
        """Every key, by id."""
        ...

    async def delete_key(self, access_key: str, *, change: Change | None = None) -> bool:
        """Forget a key; whether it existed."""
        ...


class AuditStore(Protocol):
    """The audit chains (see ``core/audit.py``). Every mutating method of the other protocols
    takes ``change``: the store appends it to its bucket's chain (the system chain ``""`` for
    keys) in the same transaction as the change itself, or not at all."""

    async def audit_page(self, bucket: str, after: int, limit: int) -> list[Entry]:
        """Entries of the bucket's chain with sequence above ``after``, in order."""
        ...

    async def audit_head(self, bucket: str) -> tuple[int, str] | None:
        """The sequence and MAC of the chain's last entry, as the store recorded them."""
        ...


class NotifyStore(Protocol):
    """Where change events are delivered, and each target's progress."""

    async def put_target(self, target: NotifyTarget) -> None:
        """Create a target, or record its progress (cursor, failures, state)."""
        ...

    async def list_targets(self) -> list[NotifyTarget]:
        """Every target, by id."""
        ...

    async def delete_target(self, target_id: str) -> bool:
        """Forget a target; whether it existed."""
        ...


class ChunkRefStore(Protocol):
    """Which chunks manifests name, and garbage collection's side of the protocol.

    A write *claims* each chunk before it sends the chunk's bytes anywhere, and its commit
    turns the claim into a reference. A chunk with no reference carries the time it lost its
    last one (or was claimed); GC marks chunks whose time is older than the grace period,
    asks the volumes to doom them, and then *confirms* only those no write claimed or named in
    between. See ``cluster/gc.py`` for why no interleaving loses a chunk.
    """

    async def claim_chunks(self, chunks: Sequence[ChunkRef], *, replicas: int, now: float) -> None:
        """Protect chunks a write is about to store: absent ones get a row with no reference,
        unreferenced ones a fresh time, and any mark GC set is cleared. ``replicas`` raises
        (never lowers) the copies each should have."""
        ...

    async def gc_mark(self, cutoff: float, round_id: str, limit: int) -> list[str]:
        """Mark up to ``limit`` unreferenced chunks whose time is before ``cutoff`` as being
        collected by ``round_id``; their names."""
        ...

    async def gc_confirm(self, names: Sequence[str], round_id: str) -> list[str]:
        """Forget the chunks among ``names`` still marked by ``round_id`` and still
        unreferenced; their names, which the caller may now delete."""
        ...

    async def chunk_page(self, after: str, limit: int) -> list[ChunkInfo]:
        """Known chunks with names above ``after``, in name order (for repair and rebalance)."""
        ...

    async def chunk_infos(self, names: Sequence[str]) -> dict[str, ChunkInfo]:
        """What is known of each named chunk (absent names are left out)."""
        ...

    async def bucket_chunks(self, bucket: str, names: Sequence[str]) -> frozenset[str]:
        """Which of ``names`` some manifest or part in ``bucket`` names: what a writer of that
        bucket may be told it already holds (telling it about other buckets' chunks would let
        it test whether anyone stored content it can guess)."""
        ...

    async def adopt_strays(self, chunks: Sequence[ChunkRef], *, now: float) -> int:
        """Record chunks found on a volume that the store does not know, as unreferenced from
        ``now``, so GC collects them after the grace period; how many were new."""
        ...


class ClusterStore(Protocol):
    """Membership and coordination: peers, routers, and leases for background tasks."""

    async def put_peer(self, peer: PeerRecord) -> PeerRecord | None:
        """Record a heartbeat: create the peer or update what it reports, keeping its
        ``joined`` time and the operator's ``admin_state``. Returns the stored record, or None
        when the stored one has a ``sent`` time as new or newer (a replayed or reordered
        heartbeat), which changes nothing; racing heartbeats through several routers are
        decided in the store, so every router refuses the same replay."""
        ...

    async def list_peers(self) -> list[PeerRecord]:
        """Every peer ever joined and not removed, by id."""
        ...

    async def set_peer_state(
        self, peer_id: str, admin_state: str, *, expect: str | None = None
    ) -> PeerRecord | None:
        """Set an operator state (``active``, ``draining``, ``drained``), only while the state is
        ``expect`` when given (a pass that found a peer drained must not overwrite an operator's
        undrain made meanwhile); the peer afterwards, None if unknown."""
        ...

    async def remove_peer(self, peer_id: str) -> bool:
        """Forget a peer; whether it was known."""
        ...

    async def put_router(self, router: RouterRecord) -> None:
        """Record that a router is alive at its URLs."""
        ...

    async def list_routers(self, seen_after: float) -> list[RouterRecord]:
        """Routers seen after the given time."""
        ...

    async def acquire_lease(self, name: str, holder: str, *, now: float, ttl: float) -> bool:
        """Take or renew the lease on ``name`` until ``now + ttl``: True when ``holder`` holds it
        now (it was free, expired, or already ``holder``'s)."""
        ...

    async def renew_lease(self, name: str, holder: str, *, now: float, ttl: float) -> bool:
        """Extend ``holder``'s lease on ``name`` to ``now + ttl`` only while it is unbroken:
        False when the lease expired (even if nobody took it) or passed through other hands,
        since another holder may have run the task in between. A running task renews with
        this, never with ``acquire_lease``, which would take an expired lease back unnoticed."""
        ...

    async def release_lease(self, name: str, holder: str, status: Mapping[str, Any]) -> None:
        """Give the lease up (if ``holder`` holds it) and record the task's last status."""
        ...

    async def list_tasks(self) -> list[TaskRecord]:
        """Every task that ever ran, with its lease and last status."""
        ...


class MetaStore(
    BucketStore,
    ObjectStore,
    UploadStore,
    MultipartStore,
    KeyStore,
    ChunkRefStore,
    ClusterStore,
    AuditStore,
    NotifyStore,
    Protocol,
):
    """Everything the object service and the cluster keep in the metadata database."""

    async def close(self) -> None:
        """Release connections and threads; the store is unusable afterwards."""
        ...
