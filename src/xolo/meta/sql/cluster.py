"""Keys, chunk references and cluster coordination, written once for every SQL dialect."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from xolo.core.audit import Change
from xolo.core.records import (
    AccessKey,
    ChunkInfo,
    ChunkRef,
    PeerRecord,
    RouterRecord,
    TaskRecord,
)
from xolo.meta.sql import audit, codecs
from xolo.meta.sql.codecs import CHUNK_COLUMNS, KEY_COLUMNS, PEER_COLUMNS
from xolo.meta.sql.refs import combine_sql
from xolo.meta.sql.tx import Database, Tx


class SqlCluster:
    """KeyStore, ChunkRefStore and ClusterStore over one SQL database."""

    def __init__(self, db: Database, *, chain_key: bytes | None) -> None:
        self._db = db
        self._d = db.dialect
        self._chain_key = chain_key

    # -- keys --------------------------------------------------------------------------------

    async def put_key(self, key: AccessKey, *, change: Change | None = None) -> None:
        """Upsert on ``access_key``, with the audit entry in the same transaction."""

        async def tx(t: Tx) -> None:
            await t.run(
                f"INSERT INTO access_keys ({KEY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (access_key) DO UPDATE SET sealed_secret = excluded.sealed_secret, "
                "created = excluded.created, is_root = excluded.is_root, "
                "grants = excluded.grants, disabled = excluded.disabled",
                *codecs.access_key_values(key),
            )
            if change is not None and self._chain_key is not None:
                await audit.append(t, self._d, self._chain_key, change)

        await self._db.write(tx)

    async def get_key(self, access_key: str) -> AccessKey | None:
        """One point read of ``access_keys``."""

        async def q(t: Tx) -> AccessKey | None:
            row = await t.one(
                f"SELECT {KEY_COLUMNS} FROM access_keys WHERE access_key = ?", access_key
            )
            return codecs.access_key(row) if row else None

        return await self._db.read(q, point=True)

    async def list_keys(self) -> list[AccessKey]:
        """Every row of ``access_keys``, ordered by ``access_key``."""

        async def q(t: Tx) -> list[AccessKey]:
            rows = await t.all(f"SELECT {KEY_COLUMNS} FROM access_keys ORDER BY access_key")
            return [codecs.access_key(r) for r in rows]

        return await self._db.read(q)

    async def delete_key(self, access_key: str, *, change: Change | None = None) -> bool:
        """Delete the row; the audit entry is appended only when a row was deleted."""

        async def tx(t: Tx) -> bool:
            gone = await t.run("DELETE FROM access_keys WHERE access_key = ?", access_key) == 1
            if gone and change is not None and self._chain_key is not None:
                await audit.append(t, self._d, self._chain_key, change)
            return gone

        return await self._db.write(tx)

    # -- chunk references --------------------------------------------------------------------

    async def claim_chunks(self, chunks: Sequence[ChunkRef], *, replicas: int, now: float) -> None:
        """One upsert per distinct chunk, in sha256 order (so claims never deadlock):
        clears ``gc_round``, refreshes ``zero_since`` only while ``refs = 0``, combines
        ``replicas`` with the recorded count (``core.refs.combine_replicas``)."""
        ordered = sorted({c.sha256: c for c in chunks}.values(), key=lambda c: c.sha256)

        async def tx(t: Tx) -> None:
            for chunk in ordered:
                await t.run(
                    "INSERT INTO chunk_refs (sha256, size, refs, replicas, zero_since) "
                    "VALUES (?, ?, 0, ?, ?) ON CONFLICT (sha256) DO UPDATE SET "
                    "zero_since = CASE WHEN chunk_refs.refs = 0 THEN excluded.zero_since "
                    "ELSE NULL END, gc_round = NULL, "
                    f"replicas = {combine_sql(self._d, 'chunk_refs.replicas', replicas)}",
                    chunk.sha256,
                    chunk.size,
                    replicas,
                    now,
                )

        await self._db.write(tx)

    async def gc_mark(self, cutoff: float, round_id: str, limit: int) -> list[str]:
        """Pick the oldest candidates (``SKIP LOCKED`` where the dialect has it), then set
        ``gc_round`` on each only where ``refs = 0`` still holds."""

        async def tx(t: Tx) -> list[str]:
            rows = await t.all(
                "SELECT sha256 FROM chunk_refs WHERE refs = 0 AND zero_since < ? "
                f"ORDER BY zero_since LIMIT ?{self._d.skip_locked}",
                cutoff,
                limit,
            )
            names = [r[0] for r in rows]
            for name in names:
                await t.run(
                    "UPDATE chunk_refs SET gc_round = ? WHERE sha256 = ? AND refs = 0",
                    round_id,
                    name,
                )
            return names

        return await self._db.write(tx)

    async def gc_confirm(self, names: Sequence[str], round_id: str) -> list[str]:
        """Delete each row only while ``gc_round`` and ``refs = 0`` both still match: a claim
        or a reference since the mark clears one of them."""

        async def tx(t: Tx) -> list[str]:
            confirmed = []
            for name in sorted(names):
                gone = await t.run(
                    "DELETE FROM chunk_refs WHERE sha256 = ? AND gc_round = ? AND refs = 0",
                    name,
                    round_id,
                )
                if gone == 1:
                    confirmed.append(name)
            return confirmed

        return await self._db.write(tx)

    async def chunk_page(self, after: str, limit: int) -> list[ChunkInfo]:
        """A keyset page of ``chunk_refs`` by ``sha256``."""

        async def q(t: Tx) -> list[ChunkInfo]:
            rows = await t.all(
                f"SELECT {CHUNK_COLUMNS} FROM chunk_refs WHERE sha256 > ? ORDER BY sha256 LIMIT ?",
                after,
                limit,
            )
            return [codecs.chunk_info(r) for r in rows]

        return await self._db.read(q)

    async def chunk_infos(self, names: Sequence[str]) -> dict[str, ChunkInfo]:
        """One point lookup per name, all in one read transaction."""

        async def q(t: Tx) -> dict[str, ChunkInfo]:
            found = {}
            for name in names:
                row = await t.one(f"SELECT {CHUNK_COLUMNS} FROM chunk_refs WHERE sha256 = ?", name)
                if row:
                    found[name] = codecs.chunk_info(row)
            return found

        return await self._db.read(q)

    async def bucket_chunks(self, bucket: str, names: Sequence[str]) -> frozenset[str]:
        """One point lookup per name on the ``bucket_chunks`` key, in one read transaction."""

        async def q(t: Tx) -> frozenset[str]:
            held = set()
            for name in dict.fromkeys(names):
                if await t.one(
                    "SELECT 1 FROM bucket_chunks WHERE bucket = ? AND sha256 = ?", bucket, name
                ):
                    held.add(name)
            return frozenset(held)

        return await self._db.read(q)

    async def adopt_strays(self, chunks: Sequence[ChunkRef], *, now: float) -> int:
        """Insert with ``ON CONFLICT DO NOTHING`` and no wanted replicas, so a chunk already
        known is left alone; counts the rows inserted."""

        async def tx(t: Tx) -> int:
            added = 0
            for chunk in sorted(chunks, key=lambda c: c.sha256):
                added += await t.run(
                    "INSERT INTO chunk_refs (sha256, size, refs, replicas, zero_since) "
                    "VALUES (?, ?, 0, 0, ?) ON CONFLICT (sha256) DO NOTHING",
                    chunk.sha256,
                    chunk.size,
                    now,
                )
            return added

        return await self._db.write(tx)

    # -- membership --------------------------------------------------------------------------

    async def put_peer(self, peer: PeerRecord) -> PeerRecord | None:
        """An upsert that overwrites only what a heartbeat reports, so ``joined`` and
        ``admin_state`` survive, and only for a newer ``sent`` (one guarded statement, so of
        two routers given the same heartbeat one records it); read back in the same
        transaction."""

        async def tx(t: Tx) -> PeerRecord | None:
            changed = await t.run(
                f"INSERT INTO peers ({PEER_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET url = excluded.url, zone = excluded.zone, "
                "capacity = excluded.capacity, used_bytes = excluded.used_bytes, "
                "chunks = excluded.chunks, last_heartbeat = excluded.last_heartbeat, "
                "sent = excluded.sent WHERE peers.sent < excluded.sent",
                *codecs.peer_values(peer),
            )
            if changed != 1:
                return None
            row = await t.one(f"SELECT {PEER_COLUMNS} FROM peers WHERE id = ?", peer.id)
            assert row is not None
            return codecs.peer(row)

        return await self._db.write(tx)

    async def list_peers(self) -> list[PeerRecord]:
        """Every row of ``peers``, by id."""

        async def q(t: Tx) -> list[PeerRecord]:
            rows = await t.all(f"SELECT {PEER_COLUMNS} FROM peers ORDER BY id")
            return [codecs.peer(r) for r in rows]

        return await self._db.read(q)

    async def set_peer_state(
        self, peer_id: str, admin_state: str, *, expect: str | None = None
    ) -> PeerRecord | None:
        """Update (guarded by ``expect`` in the same statement), then read back in the same
        transaction; None when no row has the id."""

        async def tx(t: Tx) -> PeerRecord | None:
            if expect is None:
                await t.run("UPDATE peers SET admin_state = ? WHERE id = ?", admin_state, peer_id)
            else:
                await t.run(
                    "UPDATE peers SET admin_state = ? WHERE id = ? AND admin_state = ?",
                    admin_state,
                    peer_id,
                    expect,
                )
            row = await t.one(f"SELECT {PEER_COLUMNS} FROM peers WHERE id = ?", peer_id)
            return codecs.peer(row) if row else None

        return await self._db.write(tx)

    async def remove_peer(self, peer_id: str) -> bool:
        """Delete the row; True when one was deleted."""

        async def tx(t: Tx) -> bool:
            return await t.run("DELETE FROM peers WHERE id = ?", peer_id) == 1

        return await self._db.write(tx)

    async def put_router(self, router: RouterRecord) -> None:
        """Upsert the router's URLs and ``last_seen`` on its id."""

        async def tx(t: Tx) -> None:
            await t.run(
                "INSERT INTO routers (id, url, s3_url, last_seen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET url = excluded.url, s3_url = excluded.s3_url, "
                "last_seen = excluded.last_seen",
                router.id,
                router.url,
                router.s3_url,
                router.last_seen,
            )

        await self._db.write(tx)

    async def list_routers(self, seen_after: float) -> list[RouterRecord]:
        """Rows of ``routers`` with ``last_seen`` after ``seen_after``, by id."""

        async def q(t: Tx) -> list[RouterRecord]:
            rows = await t.all(
                "SELECT id, url, s3_url, last_seen FROM routers WHERE last_seen > ? ORDER BY id",
                seen_after,
            )
            return [codecs.router(r) for r in rows]

        return await self._db.read(q)

    # -- leases ------------------------------------------------------------------------------

    async def acquire_lease(self, name: str, holder: str, *, now: float, ttl: float) -> bool:
        """One upsert whose ``DO UPDATE ... WHERE`` takes the row only when it is free,
        already ``holder``'s or expired: of racing holders, exactly one row changes."""

        async def tx(t: Tx) -> bool:
            taken = await t.run(
                "INSERT INTO tasks (name, holder, lease_until) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, "
                "lease_until = excluded.lease_until WHERE tasks.holder IS NULL "
                "OR tasks.holder = excluded.holder OR tasks.lease_until < ?",
                name,
                holder,
                now + ttl,
                now,
            )
            return taken == 1

        return await self._db.write(tx)

    async def renew_lease(self, name: str, holder: str, *, now: float, ttl: float) -> bool:
        """One guarded update: it changes the row only while ``holder`` holds an unexpired
        lease, so a renewal never revives an expired one."""

        async def tx(t: Tx) -> bool:
            renewed = await t.run(
                "UPDATE tasks SET lease_until = ? "
                "WHERE name = ? AND holder = ? AND lease_until >= ?",
                now + ttl,
                name,
                holder,
                now,
            )
            return renewed == 1

        return await self._db.write(tx)

    async def release_lease(self, name: str, holder: str, status: Mapping[str, Any]) -> None:
        """Guarded by ``holder = ?``, so a holder whose lease expired and was taken over
        cannot free the new holder's."""

        async def tx(t: Tx) -> None:
            await t.run(
                "UPDATE tasks SET holder = NULL, lease_until = 0, status = ? "
                "WHERE name = ? AND holder = ?",
                codecs.dumps(status),
                name,
                holder,
            )

        await self._db.write(tx)

    async def list_tasks(self) -> list[TaskRecord]:
        """Every row of ``tasks``, by name."""

        async def q(t: Tx) -> list[TaskRecord]:
            rows = await t.all("SELECT name, holder, lease_until, status FROM tasks ORDER BY name")
            return [codecs.task(r) for r in rows]

        return await self._db.read(q)
