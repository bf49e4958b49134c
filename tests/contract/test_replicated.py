"""What only the replicated store promises, over real peer processes: computed placement,
quorum and handoff, verified reads that fail over, and peers closed to strangers."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from tests.cluster import wait_for
from tests.contract.stores import CLUSTER_SECRET, Replicated, replicated_store
from tests.server import ROOT_KEY, ROOT_SECRET
from xolo.core.cluster_auth import HEADER, sign_request
from xolo.core.errors import ChunkUnavailable, InsufficientReplicas, NoSuchChunk
from xolo.core.placement import owners

pytestmark = pytest.mark.anyio


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Replicated]:
    async with replicated_store(tmp_path) as parts:
        yield parts


def chunk_file(data_dir: Path, sha: str) -> Path:
    return data_dir / "chunks" / sha[:2] / sha[2:4] / sha


def on_disk(dirs: list[Path], sha: str) -> list[int]:
    return [i for i, d in enumerate(dirs) if chunk_file(d, sha).exists()]


def named(data: bytes) -> tuple[str, bytes]:
    return hashlib.sha256(data).hexdigest(), data


async def test_copies_land_on_the_computed_owners(cluster: Replicated) -> None:
    store, topology, dirs = cluster
    candidates = [m.candidate for m in topology.members()]
    for _ in range(12):
        sha, data = named(os.urandom(5000))
        assert await store.put(sha, data, copies=2, quorum=2) == 2
        expected = sorted(int(c.id[1:]) for c in owners(candidates, sha, 2))
        await store.close()  # copies beyond the quorum: none here, but wait anyway
        assert on_disk(dirs, sha) == expected


async def test_a_write_hands_off_when_an_owner_is_not_writable(cluster: Replicated) -> None:
    store, topology, dirs = cluster
    candidates = [m.candidate for m in topology.members()]
    sha, data = named(os.urandom(5000))
    first, second = owners(candidates, sha, 2)
    topology.set_state(first.id, "suspect")
    assert await store.put(sha, data, copies=2, quorum=2) == 2
    (third,) = [c for c in candidates if c not in (first, second)]
    assert on_disk(dirs, sha) == sorted([int(second.id[1:]), int(third.id[1:])])


async def test_a_write_fails_when_the_quorum_cannot_be_met(cluster: Replicated) -> None:
    store, topology, _dirs = cluster
    for member in topology.members()[:2]:
        topology.set_state(member.candidate.id, "down")
    sha, data = named(os.urandom(5000))
    with pytest.raises(InsufficientReplicas):
        await store.put(sha, data, copies=2, quorum=2)
    assert await store.put(sha, data, copies=2, quorum=1) == 1  # W=1 is met by the last peer


async def test_reads_fail_over_from_a_missing_and_a_corrupt_copy(cluster: Replicated) -> None:
    store, _topology, dirs = cluster
    sha, data = named(os.urandom(200_000))
    await store.put(sha, data, copies=3, quorum=3)
    order = [int(m.candidate.id[1:]) for m in store._readable(sha)]
    chunk_file(dirs[order[0]], sha).unlink()  # the first choice lost it
    chunk_file(dirs[order[1]], sha).write_bytes(bytes([data[0] ^ 1]) + data[1:])  # rot
    assert await store.read(sha) == data
    # the damaged copy is quarantined by the peer, so repair will replace it
    wait_for(
        "the corrupt copy to be quarantined",
        lambda: not chunk_file(dirs[order[1]], sha).exists(),
    )
    assert (dirs[order[1]] / "chunks" / "quarantine").is_dir()


async def test_a_range_read_fails_over_from_a_truncated_copy(cluster: Replicated) -> None:
    store, _topology, dirs = cluster
    sha, data = named(os.urandom(200_000))
    await store.put(sha, data, copies=2, quorum=2)
    first = int(store._readable(sha)[0].candidate.id[1:])
    chunk_file(dirs[first], sha).write_bytes(data[:100_000])  # the best copy lost its tail
    assert await store.read(sha, 150_000, 40_000) == data[150_000:190_000]


async def test_no_intact_copy_is_an_error_not_wrong_bytes(cluster: Replicated) -> None:
    store, _topology, dirs = cluster
    sha, data = named(os.urandom(100_000))
    await store.put(sha, data, copies=2, quorum=2)
    for i in on_disk(dirs, sha):
        chunk_file(dirs[i], sha).write_bytes(b"y" * len(data))
    with pytest.raises(ChunkUnavailable):
        await store.read(sha)
    missing, _ = named(b"never stored anywhere")
    with pytest.raises(NoSuchChunk):
        await store.read(missing)


async def test_a_down_peer_is_skipped_by_reads_and_writes(cluster: Replicated) -> None:
    store, topology, _dirs = cluster
    sha, data = named(os.urandom(50_000))
    await store.put(sha, data, copies=3, quorum=3)
    topology.set_state("p0", "down")
    topology.set_state("p1", "down")
    assert await store.read(sha) == data
    assert await store.has([sha]) == [True]


# -- the peer's chunk API is closed ------------------------------------------------------------


@pytest.fixture
def peer_url(cluster: Replicated) -> str:
    _, topology, _ = cluster
    return topology.members()[0].volume.url  # type: ignore[attr-defined, no-any-return]


def signed(
    method: str,
    path: str,
    secret: str = CLUSTER_SECRET,
    now: float | None = None,
    *,
    audience: str = "",
    body: bytes | None = None,
) -> dict[str, str]:
    """A cluster signature header; a chunk PUT's body (None) is not signed."""
    when = time.time() if now is None else now
    return {HEADER: sign_request(secret, method, path, "", now=when, audience=audience, body=body)}


async def test_requests_without_cluster_credentials_get_401_and_change_nothing(
    cluster: Replicated, peer_url: str
) -> None:
    _, _, dirs = cluster
    sha, data = named(b"planted by a stranger")
    path = f"/v1/chunks/{sha}"
    attempts: list[dict[str, str]] = [
        {},
        signed("PUT", path, secret="not-the-cluster-secret", audience=peer_url),
        signed("PUT", path, now=time.time() - 3600, audience=peer_url),  # expired
        signed("GET", path, audience=peer_url),  # signed for another method
        signed("PUT", "/v1/chunks/" + "0" * 64, audience=peer_url),  # for another chunk
        signed("PUT", path),  # for no peer in particular
        {"authorization": "Basic " + "d3Jvbmc6Y3JlZHM="},  # wrong:creds
    ]
    async with httpx.AsyncClient(base_url=peer_url) as http:
        for headers in attempts:
            r = await http.put(path, content=data, headers=headers)
            assert r.status_code == 401, (headers, r.status_code, r.text)
        assert on_disk(dirs, sha) == []
        # a valid signature works once; replaying the very same header is refused
        header = signed("PUT", path, audience=peer_url)
        assert (await http.put(path, content=data, headers=header)).status_code == 201
        assert (await http.put(path, content=data, headers=header)).status_code == 401
        # doom and delete are closed too: the chunk stays
        for route in ("/v1/chunks/doom", "/v1/chunks/delete"):
            r = await http.post(route, json=[sha])
            assert r.status_code == 401
        assert (await http.get("/v1/chunks")).status_code == 401
        assert (await http.post("/v1/chunks/has", json=[sha])).status_code == 401
        assert on_disk(dirs, sha) == [0]
        # the operator may inspect with the root key
        r = await http.head(path, auth=(ROOT_KEY, ROOT_SECRET))
        assert r.status_code == 200 and r.headers["content-length"] == str(len(data))


async def test_a_signature_works_only_for_its_peer_and_its_body(
    cluster: Replicated, peer_url: str
) -> None:
    """A signed doom replayed to another peer, or sent with another body (naming other chunks),
    gets 401 and dooms nothing; the same request signed for this peer and body works."""
    store, topology, _ = cluster
    sha, data = named(b"kept while its doom is tampered with")
    await store.put(sha, data, copies=3, quorum=3)
    other_url = topology.members()[1].volume.url  # type: ignore[attr-defined]
    planted, _ = named(b"the chunk the signer named")
    mine = json.dumps([planted]).encode()
    swapped = json.dumps([sha]).encode()
    async with httpx.AsyncClient(base_url=peer_url) as http:
        for_other = signed("POST", "/v1/chunks/doom", audience=other_url, body=swapped)
        for_body = signed("POST", "/v1/chunks/doom", audience=peer_url, body=mine)
        for headers in (for_other, for_body):
            r = await http.post("/v1/chunks/doom", content=swapped, headers=headers)
            assert r.status_code == 401, r.text
        has = signed("POST", "/v1/chunks/has", audience=peer_url, body=swapped)
        r = await http.post("/v1/chunks/has?live=1", content=swapped, headers=has)
        assert r.status_code == 401  # the query is signed too: this one was signed without it
        has = signed("POST", "/v1/chunks/has", audience=peer_url, body=swapped)
        assert (await http.post("/v1/chunks/has", content=swapped, headers=has)).json() == [True]
    assert await store.copies([sha]) == [3]  # nothing was doomed


async def test_a_signed_chunk_url_allows_one_method_on_one_chunk(
    cluster: Replicated, peer_url: str
) -> None:
    from xolo.core.cluster_auth import sign_chunk_url

    sha, data = named(b"fetched through a signed URL")
    store, _, _ = cluster
    await store.put(sha, data, copies=3, quorum=3)
    query = sign_chunk_url(CLUSTER_SECRET, "GET", sha, expires=int(time.time()) + 60)
    async with httpx.AsyncClient(base_url=peer_url) as http:
        assert (await http.get(f"/v1/chunks/{sha}?{query}")).content == data
        assert (await http.put(f"/v1/chunks/{sha}?{query}", content=data)).status_code == 403
        other = "1" * 64
        assert (await http.get(f"/v1/chunks/{other}?{query}")).status_code == 403
        stale = sign_chunk_url(CLUSTER_SECRET, "GET", sha, expires=int(time.time()) - 1)
        assert (await http.get(f"/v1/chunks/{sha}?{stale}")).status_code == 403


async def test_a_damaged_copy_is_never_a_200_to_a_signed_url_or_an_operator(
    cluster: Replicated, peer_url: str
) -> None:
    """Routers check a chunk's CRC-32C on arrival, so a peer may send them a chunk unread
    (sendfile); a signed chunk URL's bearer or an operator may not check, so they never get
    a damaged copy as a 200."""
    from xolo.core.cluster_auth import sign_chunk_url

    store, _, dirs = cluster
    sha, data = named(os.urandom(100_000))
    await store.put(sha, data, copies=3, quorum=3)
    chunk_file(dirs[0], sha).write_bytes(bytes([data[0] ^ 1]) + data[1:])  # rot on this peer
    query = sign_chunk_url(CLUSTER_SECRET, "GET", sha, expires=int(time.time()) + 60)
    async with httpx.AsyncClient(base_url=peer_url) as http:
        r = await http.get(f"/v1/chunks/{sha}?{query}")
        assert r.status_code != 200 and r.content != bytes([data[0] ^ 1]) + data[1:]
        r = await http.get(f"/v1/chunks/{sha}", auth=(ROOT_KEY, ROOT_SECRET))
        assert r.status_code != 200


async def test_a_peer_that_accepts_but_never_answers_holds_a_read_only_briefly(
    cluster: Replicated,
) -> None:
    """A vanished host's pooled connection just goes silent: the read asks the next copy after
    HEDGE_AFTER seconds instead of waiting for a timeout."""
    import dataclasses
    import socket

    from tests.contract.stores import StaticTopology
    from xolo.chunks.remote import PeerVolume
    from xolo.chunks.replicated import HEDGE_AFTER, Member, ReplicatedChunkStore
    from xolo.core.placement import Candidate

    store, topology, _ = cluster
    sha, data = named(os.urandom(100_000))
    await store.put(sha, data, copies=3, quorum=3)
    with socket.socket() as hole:
        hole.bind(("127.0.0.1", 0))
        hole.listen(16)  # accepts connections, never reads or answers
        url = f"http://127.0.0.1:{hole.getsockname()[1]}"
        real = topology.members()[0].volume
        silent = Member(
            candidate=Candidate(id="silent", zone="zx", weight=1e9),  # always ranked first
            volume=PeerVolume(peer_id="silent", url=url, secret=CLUSTER_SECRET, http=real._http),  # type: ignore[attr-defined]
            state="up",
        )
        hedged = ReplicatedChunkStore(
            topology=StaticTopology([silent, *(dataclasses.replace(m) for m in topology.members())])
        )
        assert hedged._readable(sha)[0].candidate.id == "silent"
        started = time.monotonic()
        assert await hedged.read(sha) == data
        elapsed = time.monotonic() - started
    assert HEDGE_AFTER <= elapsed < HEDGE_AFTER + 3, elapsed
