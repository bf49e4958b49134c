"""Bulk transfers of directory trees against a real cluster (3 peers, 2 routers):
include/exclude globs, a rerun that skips what the SQLite tracker says is done, verify by size
and SHA-256, stats, and a 2,000-file upload SIGKILLed halfway whose rerun re-sends at most the
files in flight (counted on the server, in the bucket's audit chain)."""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

import xolo
from tests.client.conftest import Routers
from tests.server import ROOT_KEY, ROOT_SECRET

CONCURRENCY = 8


def client_for(routers: Routers) -> xolo.Client:
    return xolo.Client(url=f"xolo://{ROOT_KEY}:{ROOT_SECRET}@{routers.hosts}")


def make_tree(root: Path, count: int, size: int = 100) -> None:
    for i in range(count):
        path = root / f"d{i % 10}" / f"f{i:05d}.{'log' if i % 7 == 0 else 'dat'}"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(i.to_bytes(4, "big") * (size // 4))


def test_a_tree_goes_up_and_down_and_a_rerun_skips_it(routers: Routers, tmp_path: Path) -> None:
    make_tree(tmp_path / "src", 60)
    with client_for(routers) as client:
        client.create_bucket("bulk-tree")
        tracker = tmp_path / "up.db"
        first = client.upload_tree(
            tmp_path / "src", "bulk-tree", "in", tracker=tracker, exclude=["*.log"]
        )
        assert (first.files, first.skipped, first.errors) == (51, 0, [])
        assert first.bytes == 51 * 100 and first.mb_per_s > 0
        again = client.upload_tree(
            tmp_path / "src", "bulk-tree", "in", tracker=tracker, exclude=["*.log"]
        )
        assert (again.files, again.skipped) == (0, 51)
        checked = client.upload_tree(
            tmp_path / "src", "bulk-tree", "in", verify=True, include=["d1/*"]
        )
        # No tracker: size and SHA-256 agree for the five uploaded; the .log in d1 goes up now.
        assert (checked.files, checked.skipped) == (1, 5)
        down = client.download_tree(
            "bulk-tree", "in/", tmp_path / "back", tracker=tmp_path / "d.db"
        )
        assert (down.files, down.errors) == (52, [])
        for path in (tmp_path / "back").rglob("*"):
            if path.is_file():
                assert (
                    path.read_bytes()
                    == (tmp_path / "src" / path.relative_to(tmp_path / "back")).read_bytes()
                )
        rerun = client.download_tree(
            "bulk-tree", "in/", tmp_path / "back", tracker=tmp_path / "d.db"
        )
        assert (rerun.files, rerun.skipped) == (0, 52)


def test_async_tree_transfers_go_up_and_down_resume_and_verify(
    routers: Routers, tmp_path: Path
) -> None:
    make_tree(tmp_path / "src", 40)

    async def scenario() -> None:
        url = f"xolo://{ROOT_KEY}:{ROOT_SECRET}@{routers.hosts}"
        async with xolo.AsyncClient(url=url) as client:
            await client.create_bucket("bulk-async")
            tracker = tmp_path / "up.db"
            first = await client.upload_tree(
                tmp_path / "src", "bulk-async", "in", tracker=tracker, concurrency=4
            )
            assert (first.files, first.skipped, first.errors) == (40, 0, [])
            again = await client.upload_tree(tmp_path / "src", "bulk-async", "in", tracker=tracker)
            assert (again.files, again.skipped) == (0, 40)
            (tmp_path / "src" / "d3" / "f00003.dat").write_bytes(b"changed")
            checked = await client.upload_tree(
                tmp_path / "src", "bulk-async", "in", verify=True, include=["d3/*"]
            )
            assert (checked.files, checked.skipped) == (1, 3)  # only the changed file goes up
            down = await client.download_tree(
                "bulk-async", "in/", tmp_path / "back", tracker=tmp_path / "d.db"
            )
            assert (down.files, down.errors) == (40, [])
            rerun = await client.download_tree(
                "bulk-async", "in/", tmp_path / "back", tracker=tmp_path / "d.db"
            )
            assert (rerun.files, rerun.skipped) == (0, 40)

    asyncio.run(scenario())
    for path in (tmp_path / "back").rglob("*"):
        if path.is_file():
            original = tmp_path / "src" / path.relative_to(tmp_path / "back")
            assert path.read_bytes() == original.read_bytes()


UPLOADER = """
import sys, xolo
from xolo.client import bulk

if len(sys.argv) > 4:  # announce each file the tracker records, one line each
    mark = bulk.Tracker.mark

    def announced(self, *args):
        mark(self, *args)
        print("done", flush=True)

    bulk.Tracker.mark = announced
with xolo.Client.from_env() as client:
    client.create_bucket("bulk-kill")
    stats = client.upload_tree(
        sys.argv[1], "bulk-kill", "", tracker=sys.argv[2], concurrency=int(sys.argv[3])
    )
print(stats.files, stats.skipped, len(stats.errors))
"""


def done_count(tracker: Path) -> int:
    if not tracker.exists():
        return 0
    try:
        with sqlite3.connect(tracker) as db:
            return int(db.execute("SELECT COUNT(*) FROM done").fetchone()[0])
    except sqlite3.OperationalError:  # the table is not there yet
        return 0


def test_a_killed_bulk_upload_resumes_resending_at_most_what_was_in_flight(
    routers: Routers, tmp_path: Path
) -> None:
    make_tree(tmp_path / "src", 2000, size=64)
    tracker = tmp_path / "kill.db"
    env = dict(
        os.environ,
        XOLO_URL=f"xolo://{routers.hosts}",
        XOLO_ACCESS_KEY=ROOT_KEY,
        XOLO_SECRET_KEY=ROOT_SECRET,
    )
    cmd = [sys.executable, "-c", UPLOADER, str(tmp_path / "src"), str(tracker), str(CONCURRENCY)]
    proc = subprocess.Popen([*cmd, "announce"], env=env, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    announced = 0
    while announced < 1000:  # the child's own word, line by line: half the files recorded
        line = proc.stdout.readline()
        assert line, "the upload ended before it could be killed"
        announced += line.strip() == "done"
    proc.send_signal(signal.SIGKILL)
    proc.stdout.close()
    proc.wait()
    recorded = done_count(tracker)
    assert 1000 <= recorded < 2000
    rerun = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=600)
    assert rerun.returncode == 0, rerun.stderr
    files, skipped, errors = map(int, rerun.stdout.split())
    assert (files + skipped, errors) == (2000, 0) and skipped == recorded
    with client_for(routers) as client:
        assert client.du("bulk-kill") == (2000, 2000 * 64)
        puts = Counter(e["key"] for e in client.audit("bulk-kill") if e["op"] == "put")
    resent = sum(1 for n in puts.values() if n > 1)
    assert len(puts) == 2000
    assert resent <= CONCURRENCY, f"{resent} files were sent twice"
    print(f"files recorded at the kill: {recorded}; sent twice: {resent}")


def test_a_staged_batch_appears_all_at_once(routers: Routers, tmp_path: Path) -> None:
    import threading

    make_tree(tmp_path / "batch", 200, size=32)
    seen: list[int] = []
    stop = threading.Event()

    def watch() -> None:
        with client_for(routers) as reader:
            while not stop.is_set():
                seen.append(sum(1 for _ in reader.list("bulk-stage", prefix="final/")))
                if seen[-1] == 200:
                    return

    with client_for(routers) as client:
        client.create_bucket("bulk-stage")
        stats = client.upload_tree(tmp_path / "batch", "bulk-stage", "staging/b1")
        assert stats.files == 200
        reader = threading.Thread(target=watch)
        reader.start()
        try:
            assert client.commit_staging("bulk-stage", "staging/b1/", "final/") == 200
            reader.join(60)
        finally:
            stop.set()
        assert not reader.is_alive()
        assert set(seen) <= {0, 200} and seen[-1] == 200  # never a part of the batch
        assert client.du("bulk-stage", "staging/") == (0, 0)
        with pytest.raises(xolo.XoloError, match="contain one another"):
            client.commit_staging("bulk-stage", "final/", "final/sub/")
        client.upload_tree(tmp_path / "batch", "bulk-stage", "staging/b2", include=["d1/*"])
        assert client.cleanup_staging("bulk-stage", "staging/b2/") == 20
