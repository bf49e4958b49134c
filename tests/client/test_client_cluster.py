"""The Python client, sync and async, against a real cluster started by the test (3 peers, 2
routers, ``xolo cluster up``): every method, files streamed with bounded memory, a router
SIGKILLed mid-run, and a cache that never returns bytes another client replaced."""

from __future__ import annotations

import asyncio
import hashlib
import io
import os
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import xolo
from tests.cluster import LocalCluster
from tests.server import ROOT_KEY, ROOT_SECRET
from xolo.client import errors
from xolo.client.base import Spec
from xolo.core.cluster_auth import possession_proof


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    c = LocalCluster(tmp_path_factory.mktemp("client") / "cluster", peers=3, routers=2).up()
    yield c
    try:
        c.down()
    except Exception as exc:  # a test that killed a router leaves less to stop
        print(f"stopping the cluster: {exc}")


def uri(cluster: LocalCluster) -> str:
    hosts = ",".join(u.removeprefix("http://") for u in cluster.router_urls())
    return f"xolo://{ROOT_KEY}:{ROOT_SECRET}@{hosts}"


@pytest.fixture
def client(cluster: LocalCluster) -> Iterator[xolo.Client]:
    with xolo.Client(url=uri(cluster)) as c:
        yield c


def test_buckets_are_created_once_inspected_updated_and_deleted(client: xolo.Client) -> None:
    made = client.create_bucket("cl-buckets", replication=2)
    again = client.create_bucket("cl-buckets", replication=3)  # exists: unchanged
    assert made.settings["replication"] == again.settings["replication"] == 2
    assert client.update_bucket("cl-buckets", public_read=True).settings["public_read"] is True
    assert "cl-buckets" in [b.name for b in client.list_buckets()]
    with pytest.raises(errors.e.NoSuchBucket):
        client.update_bucket("cl-no-such-bucket", public_read=True)
    client.delete_bucket("cl-buckets")
    with pytest.raises(errors.e.NoSuchBucket):
        client.bucket_info("cl-buckets")


def test_objects_round_trip_in_every_form(client: xolo.Client, tmp_path: Path) -> None:
    client.create_bucket("cl-objects")
    info = client.put("cl-objects", "a.bin", b"bytes", metadata={"who": "me"}, tags={"t": "1"})
    assert info.sha256 == hashlib.sha256(b"bytes").hexdigest()
    client.put("cl-objects", "s.txt", "text é")
    client.put("cl-objects", "f.bin", io.BytesIO(b"file object"))
    client.put("cl-objects", "i.bin", iter([b"it", b"er"]))
    client.put_text("cl-objects", "t.txt", "hello")
    client.put_json("cl-objects", "j.json", {"n": 1})
    assert client.get("cl-objects", "a.bin") == b"bytes"
    assert client.get_text("cl-objects", "s.txt") == "text é"
    assert client.get("cl-objects", "f.bin") == b"file object"
    assert client.get("cl-objects", "i.bin") == b"iter"
    assert client.get_json("cl-objects", "j.json") == {"n": 1}
    assert client.get("cl-objects", "a.bin", range=(1, 3)) == b"yte"
    head = client.head("cl-objects", "a.bin")
    assert head.size == 5 and head.metadata == {"who": "me"} and head.tag_count == 1
    assert client.exists("cl-objects", "a.bin") and not client.exists("cl-objects", "nope")
    with pytest.raises(errors.e.NoSuchKey):
        client.get("cl-objects", "nope")
    with pytest.raises(errors.PreconditionFailed):
        client.put("cl-objects", "a.bin", b"again", create_only=True)
    with pytest.raises(errors.PreconditionFailed):
        client.put("cl-objects", "a.bin", b"again", if_match="not-the-etag")
    client.put("cl-objects", "a.bin", b"again", if_match=head.etag)
    client.append("cl-objects", "log", "one\n")
    client.append("cl-objects", "log", "two\n")
    assert client.get_text("cl-objects", "log") == "one\ntwo\n"
    client.copy("cl-objects", "a.bin", "cl-objects", "copy.bin")
    client.mv("cl-objects", "copy.bin", "moved.bin")
    assert client.get("cl-objects", "moved.bin") == b"again"
    assert not client.exists("cl-objects", "copy.bin")
    client.delete("cl-objects", "moved.bin")
    assert not client.exists("cl-objects", "moved.bin")
    client.update_bucket("cl-objects", versioning="Enabled")
    client.put("cl-objects", "v.txt", b"one")
    client.put("cl-objects", "v.txt", b"two")
    listed = client.versions("cl-objects", prefix="v.txt")
    assert [v["latest"] for v in listed] == [True, False]
    older = listed[1]["version_id"]
    assert client.get("cl-objects", "v.txt", version_id=older) == b"one"
    assert client.head("cl-objects", "v.txt", version_id=older).version_id == older


def test_the_hierarchy_lists_sizes_and_deletes_with_guards(client: xolo.Client) -> None:
    client.create_bucket("cl-tree")
    for key in ("docs/a.txt", "docs/b.txt", "docs/sub/c.txt", "top.txt"):
        client.put("cl-tree", key, b"12345")
    assert [(e.key, e.is_dir) for e in client.ls("cl-tree")] == [
        ("docs/", True),
        ("top.txt", False),
    ]
    assert [e.key for e in client.ls("cl-tree", "docs")] == [
        "docs/a.txt",
        "docs/b.txt",
        "docs/sub/",
    ]
    assert [e.key for e in client.tree("cl-tree", "docs/")] == [
        "docs/a.txt",
        "docs/b.txt",
        "docs/sub/c.txt",
    ]
    assert client.du("cl-tree") == (4, 20)
    assert [e.key for e in client.list("cl-tree", page_size=1)] == [
        "docs/a.txt",
        "docs/b.txt",
        "docs/sub/c.txt",
        "top.txt",
    ]
    with pytest.raises(xolo.XoloError, match="everything=True"):
        client.rm("cl-tree", "", recursive=True)
    assert client.rm("cl-tree", "docs/", recursive=True) == 3
    assert client.du("cl-tree") == (1, 5)
    assert client.rm("cl-tree", "", recursive=True, everything=True) == 1


def test_many_mapping_paths_and_a_seekable_file(client: xolo.Client) -> None:
    client.create_bucket("cl-views")
    client.put_many("cl-views", {f"m/{i}": bytes([i]) * 10 for i in range(20)})
    got = client.get_many("cl-views", [f"m/{i}" for i in range(20)])
    assert got["m/7"] == bytes([7]) * 10 and len(got) == 20
    bucket = client.bucket("cl-views")
    bucket["dict-key"] = b"value"
    assert bucket["dict-key"] == b"value" and "dict-key" in bucket and len(bucket) == 21
    del bucket["dict-key"]
    with pytest.raises(KeyError):
        bucket["dict-key"]
    root = client / "cl-views"
    (root / "p" / "note.txt").write_text("note")
    assert (root / "p" / "note.txt").read_text() == "note"
    assert [p.name for p in (root / "p").iterdir()] == ["note.txt"]
    assert sorted(p.name for p in root.rglob("*.txt")) == ["note.txt"]
    assert (root / "p").is_dir() and (root / "p" / "note.txt").stat().size == 4
    (root / "p" / "note.txt").unlink()
    assert not (root / "p" / "note.txt").exists()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as archive:
        for i in range(30):
            archive.writestr(f"member{i}.txt", f"member {i} " * 1000)
    client.put("cl-views", "archive.zip", buf.getvalue())
    with client.open("cl-views", "archive.zip") as raw, zipfile.ZipFile(raw) as archive:
        assert archive.read("member17.txt") == b"member 17 " * 1000
        assert len(archive.namelist()) == 30


def test_files_stream_both_ways_and_a_partial_download_resumes(
    client: xolo.Client, tmp_path: Path
) -> None:
    client.create_bucket("cl-files")
    src = tmp_path / "src.bin"
    src.write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    moved: list[int] = []
    client.put_file("cl-files", "big.bin", src, progress=moved.append)
    assert sum(moved) == src.stat().st_size
    dest = tmp_path / "dest.bin"
    client.get_to_file("cl-files", "big.bin", dest)
    assert dest.read_bytes() == src.read_bytes()
    part = tmp_path / "again.bin.part"
    part.write_bytes(src.read_bytes()[:1000])  # an earlier download of this version, cut short
    (tmp_path / "again.bin.part.etag").write_text(client.head("cl-files", "big.bin").etag)
    client.get_to_file("cl-files", "big.bin", tmp_path / "again.bin")
    assert (tmp_path / "again.bin").read_bytes() == src.read_bytes() and not part.exists()
    # A partial file of another version is not resumed: its bytes would mix two versions.
    part.write_bytes(b"x" * 1000)
    (tmp_path / "again.bin.part.etag").write_text("an-older-etag")
    client.get_to_file("cl-files", "big.bin", tmp_path / "again.bin")
    assert (tmp_path / "again.bin").read_bytes() == src.read_bytes()


def test_a_cache_never_returns_what_another_client_replaced(cluster: LocalCluster) -> None:
    with xolo.Client(url=uri(cluster)) as first, xolo.Client(url=uri(cluster)) as second:
        first.create_bucket("cl-cache")
        first.put("cl-cache", "k", b"old")
        assert first.get("cl-cache", "k") == b"old"
        assert first.get("cl-cache", "k") == b"old"  # revalidated: 304
        second.put("cl-cache", "k", b"new")
        assert first.get("cl-cache", "k") == b"new"


def test_presigned_urls_work_without_credentials(client: xolo.Client) -> None:
    import httpx

    client.create_bucket("cl-presign")
    client.put("cl-presign", "k", b"shared")
    assert httpx.get(client.presign("GET", "cl-presign", "k", expires=60)).content == b"shared"
    url = client.presign("PUT", "cl-presign", "up", expires=60)
    assert httpx.put(url, content=b"uploaded").status_code == 200
    assert client.get("cl-presign", "up") == b"uploaded"


def test_the_async_client_does_the_same(cluster: LocalCluster, tmp_path: Path) -> None:
    async def main() -> None:
        async with xolo.AsyncClient(url=uri(cluster)) as client:
            await client.create_bucket("cl-async")
            await client.put("cl-async", "a/1", b"one")
            await client.put_json("cl-async", "a/2", [2])
            await client.put_many("cl-async", {f"m/{i}": b"x" for i in range(10)})
            assert await client.get("cl-async", "a/1") == b"one"
            assert await client.get_json("cl-async", "a/2") == [2]
            assert (await client.head("cl-async", "a/1")).size == 3
            assert [e.key for e in await client.ls("cl-async")] == ["a/", "m/"]
            assert await client.du("cl-async", "m/") == (10, 10)
            assert len(await client.get_many("cl-async", [f"m/{i}" for i in range(10)])) == 10
            src = tmp_path / "a.bin"
            src.write_bytes(os.urandom(2 * 1024 * 1024))
            await client.put_file("cl-async", "f", src)
            await client.get_to_file("cl-async", "f", tmp_path / "b.bin")
            assert (tmp_path / "b.bin").read_bytes() == src.read_bytes()
            await client.copy("cl-async", "a/1", "cl-async", "a/3")
            await client.mv("cl-async", "a/3", "a/4")
            assert await client.exists("cl-async", "a/4")
            assert await client.rm("cl-async", "m/", recursive=True) == 10
            await client.append("cl-async", "log", b"x")
            await client.delete("cl-async", "log")
            assert not await client.exists("cl-async", "log")
            await client.put("cl-async", "stage/x", b"1")
            assert await client.commit_staging("cl-async", "stage/", "done/") == 1
            assert await client.get("cl-async", "done/x") == b"1"
            ops = [e["op"] async for e in client.audit("cl-async")]
            assert ops[0] == "bucket.create" and ops.count("delete") >= 2
            await client.update_bucket("cl-async", versioning="Enabled")
            await client.put("cl-async", "v", b"1")
            await client.put("cl-async", "v", b"2")
            assert len([v for v in await client.versions("cl-async", prefix="v")]) == 2

    asyncio.run(main())


def test_a_client_given_both_routers_survives_one_being_killed(cluster: LocalCluster) -> None:
    with xolo.Client(url=uri(cluster)) as client:
        client.create_bucket("cl-failover")
        for i in range(20):
            client.put("cl-failover", f"before/{i}", b"x")
        cluster.kill("router-1")
        for i in range(40):
            client.put("cl-failover", f"after/{i}", str(i).encode())
            assert client.get("cl-failover", f"after/{i}") == str(i).encode()
        assert client.du("cl-failover") == (60, 20 + sum(len(str(i)) for i in range(40)))


def peer_chunk_bytes(cluster: LocalCluster) -> float:
    """Chunk bytes every peer has received, from their /metrics (the server side)."""
    import httpx

    total = 0.0
    for peer in cluster.state.peers:
        text = httpx.get(f"{peer.url}/metrics", auth=cluster.auth, timeout=30).text
        for line in text.splitlines():
            if line.startswith("xolo_chunk_bytes_received_total"):
                total += float(line.split()[-1])
    return total


def router_object_bytes(cluster: LocalCluster) -> float:
    """Object bytes the routers served (their /metrics)."""
    import httpx

    total = 0.0
    for url in cluster.router_urls():
        try:
            text = httpx.get(f"{url}/metrics", auth=cluster.auth, timeout=30).text
        except httpx.TransportError:
            continue
        for line in text.splitlines():
            if line.startswith("xolo_object_bytes_read_total"):
                total += float(line.split()[-1])
    return total


def test_direct_uploads_go_to_the_peers_and_skip_known_chunks(
    cluster: LocalCluster, client: xolo.Client, tmp_path: Path
) -> None:
    size = 256 * 1024 * 1024
    src = tmp_path / "big.bin"
    with src.open("wb") as out:
        block = os.urandom(1024 * 1024)
        for i in range(size // len(block)):
            out.write(i.to_bytes(8, "big") + block[8:])
    client.create_bucket("cl-direct", replication=2)
    before = peer_chunk_bytes(cluster)
    first = client.put_file("cl-direct", "one.bin", src)
    sent_first = peer_chunk_bytes(cluster) - before
    assert first.size == size
    assert sent_first >= 2 * size  # two copies, written by the client to the peers
    again = client.put_file("cl-direct", "two.bin", src)  # the same bytes under another key
    sent_again = peer_chunk_bytes(cluster) - before - sent_first
    assert again.size == size and sent_again < 1024 * 1024, f"{sent_again} chunk bytes sent"
    served = router_object_bytes(cluster)
    back = tmp_path / "back.bin"
    client.get_to_file("cl-direct", "two.bin", back)  # read from the peers, not the router
    assert router_object_bytes(cluster) - served < 1024 * 1024
    assert hashlib.sha256(back.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()
    # A partial download keeps the chunks it already holds intact and fetches the rest.
    part = tmp_path / "again.bin.part"
    part.write_bytes(src.read_bytes()[: 20 * 1024 * 1024])
    async_back = tmp_path / "async.bin"

    async def async_download() -> None:
        async with xolo.AsyncClient(url=uri(cluster)) as aclient:
            await aclient.get_to_file("cl-direct", "one.bin", async_back)

    asyncio.run(async_download())
    client.get_to_file("cl-direct", "one.bin", tmp_path / "again.bin")
    for copy in (tmp_path / "again.bin", async_back):
        assert (
            hashlib.sha256(copy.read_bytes()).digest() == hashlib.sha256(src.read_bytes()).digest()
        )
    print(f"first upload: {sent_first / 2**20:.0f} MiB of chunks; again: {sent_again:.0f} bytes")


def test_a_commit_before_the_chunks_are_written_commits_nothing(client: xolo.Client) -> None:
    client.create_bucket("cl-direct-bad")
    missing = [("ab" * 32, 10)]
    plan = client.send(client.direct_plan_spec("cl-direct-bad", missing)).json()
    assert plan["chunks"][0]["have"] is False and plan["chunks"][0]["urls"]
    with pytest.raises(errors.e.AccessDenied):  # no evidence: refused before copies are counted
        client.send(client.direct_commit_spec("cl-direct-bad", "k", missing))
    assert not client.exists("cl-direct-bad", "k")
    url = plan["chunks"][0]["urls"][0]
    import httpx

    forged = url.replace("ab" * 32, "cd" * 32)  # a signed URL is for one chunk only
    assert httpx.put(forged, content=b"x" * 10).status_code == 403


def test_a_chunk_name_alone_never_puts_someone_elses_bytes_into_an_object(
    cluster: LocalCluster, client: xolo.Client, tmp_path: Path
) -> None:
    """A writer of one bucket who learnt the name of a chunk stored in another bucket cannot
    commit an object over it (and so read it) without a peer's receipt or the bytes."""
    secret_bytes = os.urandom(9 * 1024 * 1024)
    src = tmp_path / "private.bin"
    src.write_bytes(secret_bytes)
    client.create_bucket("cl-owner")
    client.create_bucket("cl-thief")
    client.put_file("cl-owner", "private.bin", src)
    first = client.send(client.direct_read_spec("cl-owner", "private.bin")).json()["chunks"][0]
    name, size = first["sha256"], int(first["size"])
    made = client.send(
        Spec(
            method="POST",
            path="/v1/admin/keys",
            json={"grants": {"cl-thief": "write"}},
            ok=(201,),
        )
    ).json()
    hosts = ",".join(u.removeprefix("http://") for u in cluster.router_urls())
    with xolo.Client(url=f"xolo://{made['access_key']}:{made['secret_key']}@{hosts}") as thief:
        chunks = [(name, size)]
        plan = thief.send(thief.direct_plan_spec("cl-thief", chunks)).json()
        # The plan does not say whether another bucket holds the chunk: it asks for the bytes.
        assert plan["chunks"][0]["have"] is False and plan["chunks"][0]["urls"]
        for evidence in (
            {},  # the name alone
            {"proofs": {name: "00" * 32}},  # a guessed proof
            {"receipts": {name: "00" * 32}},  # a forged receipt
        ):
            spec = thief.direct_commit_spec(
                "cl-thief", "stolen.bin", chunks, plan=plan["plan"], **evidence
            )
            with pytest.raises(errors.e.AccessDenied):
                thief.send(spec)
        assert not thief.exists("cl-thief", "stolen.bin")
        # Even the true proof of another bucket's chunk is refused (success against 409 would
        # say whether it is stored): the bytes must be sent.
        real = possession_proof(plan["challenge"], secret_bytes[:size])
        spec = thief.direct_commit_spec(
            "cl-thief", "stolen.bin", chunks, plan=plan["plan"], proofs={name: real}
        )
        with pytest.raises(errors.e.AccessDenied):
            thief.send(spec)
        # A plan of another bucket does not carry over, even with a proof made for it.
        other = client.send(client.direct_plan_spec("cl-owner", chunks)).json()
        proof = possession_proof(other["challenge"], secret_bytes[:size])
        spec = thief.direct_commit_spec(
            "cl-thief", "stolen.bin", chunks, plan=other["plan"], proofs={name: proof}
        )
        with pytest.raises(errors.e.AccessDenied):
            thief.send(spec)
        # Whoever holds the bytes may store them: they are sent (the peers keep the copies
        # they had), and from then on this bucket's plans may skip them.
        sent = peer_chunk_bytes(cluster)
        owned = thief.put_file("cl-thief", "mine.bin", src)
        assert owned.size == len(secret_bytes)
        assert peer_chunk_bytes(cluster) - sent >= len(secret_bytes)
        assert thief.get("cl-thief", "mine.bin") == secret_bytes
        again = thief.send(thief.direct_plan_spec("cl-thief", chunks)).json()
        assert again["chunks"][0]["have"] is True
