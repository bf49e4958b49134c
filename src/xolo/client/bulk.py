"""Bulk transfers of directory trees that resume: a SQLite tracker remembers every file done.

``upload_tree`` and ``download_tree`` walk a tree, skip what the tracker (or, with ``verify``,
the size and SHA-256 on both sides) says is already there, and move the rest ``concurrency``
at a time. A file is recorded as done in its own committed transaction the moment its transfer
succeeds, so a run killed at any point, rerun, sends again at most the files that were in
flight when it died.
"""

from __future__ import annotations

import fnmatch
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from xolo.client.digests import file_sha256
from xolo.core.errors import InvalidArgument

if TYPE_CHECKING:
    from xolo.client.sync import Client

SCHEMA = """
CREATE TABLE IF NOT EXISTS done (
    direction TEXT NOT NULL,
    source    TEXT NOT NULL,
    target    TEXT NOT NULL,
    size      INTEGER NOT NULL,
    stamp     TEXT NOT NULL,
    PRIMARY KEY (direction, source, target)
)
"""


@dataclass(slots=True)
class BulkStats:
    """What a bulk transfer did."""

    files: int = 0
    """Files transferred by this run."""
    skipped: int = 0
    """Files already there (by the tracker, or by size and SHA-256 with ``verify``)."""
    bytes: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def mb_per_s(self) -> float:
        """Throughput of this run in MB/s (10^6 bytes); 0 before any time was measured."""
        return self.bytes / 1e6 / self.seconds if self.seconds else 0.0


class Tracker:
    """The record of finished transfers, one SQLite file (WAL: safe against a kill)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(SCHEMA)
        self._lock = threading.Lock()

    def is_done(self, direction: str, source: str, target: str, size: int, stamp: str) -> bool:
        """Whether the transfer was recorded with this same size and stamp: a file changed
        since then is sent again."""
        with self._lock:
            row = self._db.execute(
                "SELECT size, stamp FROM done WHERE direction = ? AND source = ? AND target = ?",
                (direction, source, target),
            ).fetchone()
        return row is not None and row[0] == size and row[1] == stamp

    def mark(self, direction: str, source: str, target: str, size: int, stamp: str) -> None:
        """Record one finished transfer in its own autocommitted statement, so it survives a
        kill right after."""
        with self._lock:
            self._db.execute(
                "INSERT OR REPLACE INTO done VALUES (?, ?, ?, ?, ?)",
                (direction, source, target, size, stamp),
            )

    def count(self, direction: str) -> int:
        """How many transfers in ``direction`` are recorded."""
        with self._lock:
            (n,) = self._db.execute(
                "SELECT COUNT(*) FROM done WHERE direction = ?", (direction,)
            ).fetchone()
        return int(n)

    def close(self) -> None:
        """Close the SQLite connection."""
        self._db.close()


def selected(
    rel: str, include: Sequence[str], exclude: Sequence[str], only: Collection[str] | None = None
) -> bool:
    """Whether a relative path passes the include globs (all, when none) and no exclude glob,
    and is one of ``only`` when that is given."""
    if only is not None and rel not in only:
        return False
    if include and not any(fnmatch.fnmatchcase(rel, g) for g in include):
        return False
    return not any(fnmatch.fnmatchcase(rel, g) for g in exclude)


def local_files(
    root: Path, include: Sequence[str], exclude: Sequence[str], only: Collection[str] | None = None
) -> Iterator[Path]:
    """The files under ``root`` that ``selected`` keeps, directory by directory, names
    sorted within each."""
    for dirpath, _, names in os.walk(root):
        for name in sorted(names):
            path = Path(dirpath) / name
            if selected(path.relative_to(root).as_posix(), include, exclude, only):
                yield path


def run_bounded(
    jobs: Iterable[tuple[str, Callable[[], int]]], concurrency: int, stats: BulkStats
) -> None:
    """Run ``(name, callable)`` jobs, at most ``concurrency`` at once (never more submitted:
    what is in flight when the process dies is bounded by it)."""
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        running: dict[Future[int], str] = {}
        for name, job in jobs:
            if len(running) >= concurrency:
                finished, _ = wait(running, return_when=FIRST_COMPLETED)
                for f in finished:
                    count_outcome(f, running.pop(f), stats)
            running[pool.submit(job)] = name
        for f in list(running):
            count_outcome(f, running.pop(f), stats)


def run_tracked(
    jobs: Iterable[tuple[str, Callable[[], int]]], concurrency: int, track: Tracker | None
) -> BulkStats:
    """Run the jobs of one bulk transfer and time them; the tracker is closed at the end,
    whatever happens."""
    stats = BulkStats()
    started = time.monotonic()
    try:
        run_bounded(jobs, concurrency, stats)
    finally:
        if track:
            track.close()
    stats.seconds = time.monotonic() - started
    return stats


class Outcome(Protocol):
    """A finished transfer: a thread's future or an asyncio task."""

    def result(self) -> int:
        """Bytes moved (-1: skipped); raises what the transfer raised."""
        ...


def count_outcome(done: Outcome, name: str, stats: BulkStats) -> None:
    """Add one finished file to ``stats``; a failure is counted, never raised (the other
    files go on)."""
    try:
        moved = done.result()
    except Exception as exc:  # one file's failure is counted, the others go on
        stats.errors.append(f"{name}: {exc}")
        return
    if moved < 0:
        stats.skipped += 1
    else:
        stats.files += 1
        stats.bytes += moved


@dataclass(frozen=True, slots=True, kw_only=True)
class FileJob:
    """One file of a bulk transfer as the tracker knows it (both clients' jobs use it)."""

    direction: str
    source: str
    target: str
    size: int
    stamp: str
    present: bool = True
    """Whether the target may already hold it (a download's file exists at its size)."""

    def done(self, track: Tracker | None) -> bool:
        """The tracker says a run already moved exactly this."""
        return (
            self.present
            and track is not None
            and track.is_done(self.direction, self.source, self.target, self.size, self.stamp)
        )

    def record(self, track: Tracker | None) -> None:
        """Tell the tracker this file is done (its own committed transaction)."""
        if track is not None:
            track.mark(self.direction, self.source, self.target, self.size, self.stamp)


def upload_job(path: Path, bucket: str, key: str) -> FileJob:
    """The tracker's view of uploading ``path`` (its modification time is the stamp)."""
    st = path.stat()
    return FileJob(
        direction="up",
        source=str(path),
        target=f"{bucket}/{key}",
        size=st.st_size,
        stamp=f"{st.st_mtime_ns}",
    )


def download_job(target: Path, bucket: str, key: str, size: int, etag: str) -> FileJob:
    """The tracker's view of downloading one object to ``target`` (its ETag is the stamp)."""
    present = target.exists() and target.stat().st_size == size
    return FileJob(
        direction="down",
        source=f"{bucket}/{key}",
        target=str(target),
        size=size,
        stamp=etag,
        present=present,
    )


def local_target(root: Path, key: str, prefix: str) -> Path:
    """Where a downloaded key goes under ``root``; InvalidArgument for a key that would land
    outside it (``..`` segments, an absolute remainder): an object's name never chooses where
    on the local disk a tree download writes."""
    rel = key[len(prefix) :].lstrip("/")
    parts = rel.split("/")
    if not rel or any(p in ("", ".", "..") for p in parts) or "\\" in rel:
        raise InvalidArgument(f"key {key!r} does not name a file inside the download directory")
    return root.joinpath(*parts)


def upload_tree(
    client: Client,
    root: str | os.PathLike[str],
    bucket: str,
    prefix: str = "",
    *,
    tracker: str | os.PathLike[str] | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    verify: bool = False,
    concurrency: int = 8,
    only: Collection[str] | None = None,
) -> BulkStats:
    """Upload every selected file under ``root`` to ``bucket/prefix/relative/path`` (``only``:
    exactly these relative paths)."""
    base = Path(root)
    track = Tracker(tracker) if tracker else None
    prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""

    def job(path: Path, key: str) -> int:
        file = upload_job(path, bucket, key)
        if file.done(track):
            return -1
        if verify and _same_remote(client, bucket, key, path, file.size):
            file.record(track)
            return -1
        client.put_file(bucket, key, path)
        file.record(track)
        return file.size

    jobs = (
        (str(p), partial(job, p, prefix + p.relative_to(base).as_posix()))
        for p in local_files(base, include, exclude, only)
    )
    return run_tracked(jobs, concurrency, track)


def download_tree(
    client: Client,
    bucket: str,
    prefix: str,
    root: str | os.PathLike[str],
    *,
    tracker: str | os.PathLike[str] | None = None,
    include: Sequence[str] = (),
    exclude: Sequence[str] = (),
    verify: bool = False,
    concurrency: int = 8,
    only: Collection[str] | None = None,
) -> BulkStats:
    """Download every selected object under ``bucket/prefix`` into ``root``."""
    base = Path(root)
    track = Tracker(tracker) if tracker else None

    def job(key: str, size: int, etag: str) -> int:
        target = local_target(base, key, prefix)
        file = download_job(target, bucket, key, size, etag)
        if file.done(track):
            return -1
        if verify and file.present and _same_remote(client, bucket, key, target, size):
            return -1
        target.parent.mkdir(parents=True, exist_ok=True)
        client.get_to_file(bucket, key, target)
        file.record(track)
        return size

    jobs = (
        (e.key, partial(job, e.key, e.size, e.etag or ""))
        for e in client.list(bucket, prefix=prefix)
        if selected(e.key[len(prefix) :].lstrip("/"), include, exclude, only)
    )
    return run_tracked(jobs, concurrency, track)


def _same_remote(client: Client, bucket: str, key: str, path: Path, size: int) -> bool:
    """The object and the local file agree on size and SHA-256 (False when it is absent)."""
    from xolo.core.errors import NoSuchKey

    try:
        info = client.head(bucket, key)
    except NoSuchKey:
        return False
    return info.size == size and info.sha256 == file_sha256(path)


@dataclass(slots=True)
class SyncPlan:
    """What a sync would do: the relative paths to send, and those to delete at the target."""

    send: list[str] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    same: int = 0


def plan_upload(client: Client, root: Path, bucket: str, prefix: str) -> SyncPlan:
    """Local files that differ from (or are missing at) ``bucket/prefix``, by size and
    SHA-256, and remote keys under the prefix with no local file."""
    plan = SyncPlan()
    remote = {e.key[len(prefix) :]: e for e in client.list(bucket, prefix=prefix)}
    local = {p.relative_to(root).as_posix(): p for p in local_files(root, (), ())}
    for rel, path in sorted(local.items()):
        entry = remote.get(rel)
        if entry is not None and entry.size == path.stat().st_size:
            info = client.head(bucket, prefix + rel)
            if info.sha256 == file_sha256(path):
                plan.same += 1
                continue
        plan.send.append(rel)
    plan.delete = sorted(set(remote) - set(local))
    return plan


def plan_download(client: Client, bucket: str, prefix: str, root: Path) -> SyncPlan:
    """Remote objects that differ from (or are missing in) ``root``, and local files with no
    object."""
    plan = SyncPlan()
    remote = {e.key[len(prefix) :]: e for e in client.list(bucket, prefix=prefix)}
    local = (
        {p.relative_to(root).as_posix(): p for p in local_files(root, (), ())}
        if root.exists()
        else {}
    )
    for rel, entry in sorted(remote.items()):
        path = local.get(rel)
        if path is not None and path.stat().st_size == entry.size:
            info = client.head(bucket, prefix + rel)
            if info.sha256 == file_sha256(path):
                plan.same += 1
                continue
        plan.send.append(rel)
    plan.delete = sorted(set(local) - set(remote))
    return plan
