"""SQLite behind asyncio: reads on a small thread pool, writes through one group-committing thread.

Why a single writer: SQLite allows one writer at a time anyway, and funnelling writes through
one thread lets it batch every write queued while the previous commit was being fsynced into
one transaction (group commit). Each write runs in its own SAVEPOINT, so one failing write
rolls back alone while the rest of its batch commits. Other processes sharing the file are
serialised by SQLite's own locking (``BEGIN IMMEDIATE`` with a busy timeout).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from xolo.core.errors import StoreUnavailable

T = TypeVar("T")

MAX_BATCH = 256
"""Writes committed together at most; bounds the latency one batch adds to its first write."""

INLINE_BUSY_MS = 20
"""How long a point read on the event loop waits for a lock before moving to a thread."""

CHECKPOINT_EVERY = 32
"""Committed batches between two nudges of the background checkpointer."""

BACKSTOP_PAGES = 8192
"""WAL pages (32 MiB) past which the writer checkpoints itself, inside a commit: only when
the background checkpointer cannot keep up (a reader holding an old snapshot stops it)."""

_STOP = object()


def connect(path: Path | str, *, synchronous: str) -> sqlite3.Connection:
    """A connection with the settings every one of ours needs: a 30 s busy timeout, the
    ``synchronous`` mode, foreign keys on, a 16 MiB page cache and 256 MiB of mmap."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA busy_timeout = 30000")
    conn.execute(f"PRAGMA synchronous = {synchronous}")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute("PRAGMA cache_size = -16384")
    conn.execute("PRAGMA mmap_size = 268435456")
    return conn


def enable_wal(path: Path | str) -> None:
    """Switch the file to WAL once. The switch ignores the busy timeout, so retry it while
    another process holds the lock (several servers starting on one directory)."""
    deadline = time.monotonic() + 30
    while True:
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.execute("PRAGMA busy_timeout = 30000")
            if conn.execute("PRAGMA journal_mode = WAL").fetchone()[0].lower() == "wal":
                return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
        finally:
            conn.close()
        time.sleep(0.01)


class SQLiteRunner:
    """Runs sqlite3 work for asyncio: reads on a thread pool (or inline), writes group
    committed by one writer thread (see the module docstring)."""

    def __init__(self, path: Path | str, *, readers: int = 4, synchronous: str = "FULL") -> None:
        if synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ValueError(f"unknown synchronous mode {synchronous!r}")
        enable_wal(path)
        self.path = path
        self._synchronous = synchronous.upper()
        self._local = threading.local()
        self._readers = ThreadPoolExecutor(
            max_workers=readers, thread_name_prefix="xolo-sqlite-read"
        )
        self._reader_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._writer_conn = connect(path, synchronous=self._synchronous)
        on_disk = str(path) != ":memory:"
        self._write_gate = _WriteGate(f"{path}-writer.lock") if on_disk else None
        self._checkpointer = _Checkpointer(path, synchronous=self._synchronous) if on_disk else None
        if self._checkpointer is not None:
            self._writer_conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")
        self._batches = 0
        self._writer = threading.Thread(
            target=self._write_loop, name="xolo-sqlite-write", daemon=True
        )
        self._writer.start()
        self._closed = False

    def _reader_conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = self._local.conn = connect(self.path, synchronous=self._synchronous)
            with self._conns_lock:
                self._reader_conns.append(conn)
        return conn

    def _inline_conn(self) -> sqlite3.Connection:
        """The calling thread's connection for point reads: a busy timeout of 20 ms instead
        of 30 s, so a lock held by SQLite's recovery never stalls an event loop for long."""
        conn: sqlite3.Connection | None = getattr(self._local, "inline", None)
        if conn is None:
            conn = self._local.inline = connect(self.path, synchronous=self._synchronous)
            conn.execute(f"PRAGMA busy_timeout = {INLINE_BUSY_MS}")
            with self._conns_lock:
                self._reader_conns.append(conn)
        return conn

    def _read_in_thread(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return fn(self._reader_conn())

    async def read(self, fn: Callable[[sqlite3.Connection], T], *, inline: bool = False) -> T:
        """Run ``fn`` off the event loop, or with ``inline`` right here on the caller's own
        connection (for point lookups: WAL readers never wait for writers, so only a cold
        page, or the rare recovery of a crashed process's WAL index, can make it block). Each
        statement sees a committed snapshot of its own (no explicit transaction: on the hot
        path BEGIN/COMMIT cost as much as the query)."""
        if inline:
            try:
                return fn(self._inline_conn())
            except StoreUnavailable:
                pass  # busy past the short timeout: wait for the lock off the event loop
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read_in_thread, fn)

    async def write(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` inside a write transaction; resolves once the commit is durable."""
        if self._closed:
            raise RuntimeError("the metadata store is closed")
        loop = asyncio.get_running_loop()
        fut: asyncio.Future[T] = loop.create_future()
        self._queue.put((fn, fut, loop))
        return await fut

    def write_sync(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """For start-up work (migrations) before an event loop runs."""
        conn = connect(self.path, synchronous=self._synchronous)
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = fn(conn)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
            return result
        finally:
            conn.close()

    def _write_loop(self) -> None:
        conn = self._writer_conn
        try:
            while True:
                item = self._queue.get()
                if item is _STOP:
                    return
                with self._write_gate or contextlib.nullcontext():
                    # Gather the batch only once the gate is ours: writes that arrived while
                    # another process held it join this commit instead of waiting for the next.
                    batch, stop = self._gather(item)
                    self._commit_batch(conn, batch)
                self._batches += 1
                if self._checkpointer is not None and self._batches % CHECKPOINT_EVERY == 0:
                    self._checkpointer.nudge()
                if stop:
                    return
        finally:
            conn.close()

    def _gather(self, first: Any) -> tuple[list[Any], bool]:
        """``first`` and every write queued behind it (up to MAX_BATCH); True when the stop
        mark was among them."""
        batch = [first]
        while len(batch) < MAX_BATCH:
            try:
                nxt = self._queue.get_nowait()
            except queue.Empty:
                break
            if nxt is _STOP:
                return batch, True
            batch.append(nxt)
        return batch, False

    @staticmethod
    def _commit_batch(conn: sqlite3.Connection, batch: list[Any]) -> None:
        outcomes: list[tuple[Any, Any, Any, BaseException | None]] = []
        try:
            conn.execute("BEGIN IMMEDIATE")
            for fn, fut, loop in batch:
                conn.execute("SAVEPOINT op")
                try:
                    result = fn(conn)
                except BaseException as exc:
                    conn.execute("ROLLBACK TO op")
                    conn.execute("RELEASE op")
                    outcomes.append((fut, loop, None, exc))
                else:
                    conn.execute("RELEASE op")
                    outcomes.append((fut, loop, result, None))
            conn.execute("COMMIT")
        except BaseException as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            outcomes = [(fut, loop, None, exc) for fut, loop, *_ in batch]
        for fut, loop, result, error in outcomes:
            loop.call_soon_threadsafe(_resolve, fut, result, error)

    def close(self) -> None:
        """Stop the writer once the writes already queued are committed, then close the gate,
        the checkpointer, the readers and every connection; a second call does nothing."""
        if self._closed:
            return
        self._closed = True
        self._queue.put(_STOP)
        self._writer.join()
        if self._write_gate is not None:
            self._write_gate.close()
        if self._checkpointer is not None:
            self._checkpointer.close()
        self._readers.shutdown(wait=True)
        with self._conns_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()


class _Checkpointer:
    """Copies the WAL back into the database file on its own thread and connection.

    Left to SQLite, the commit that crosses the auto-checkpoint threshold runs the checkpoint
    itself, with the write lock held, so every writer of every process waits for it: with
    4 KiB PUTs the mean COMMIT took 0.85 ms where the WAL's fsync takes 0.16 ms. A PASSIVE
    checkpoint here runs beside the writers (SQLite lets it: it never takes the write lock and
    skips frames a reader still needs), so commits only append to the WAL.
    """

    def __init__(self, path: Path | str, *, synchronous: str) -> None:
        self._conn = connect(path, synchronous=synchronous)
        self._due = threading.Event()
        self.ran = threading.Event()
        """Set after each checkpoint attempt (what a test waits on)."""
        self._stopping = False
        self._thread = threading.Thread(
            target=self._loop, name="xolo-sqlite-checkpoint", daemon=True
        )
        self._thread.start()

    def nudge(self) -> None:
        """Ask for a checkpoint soon (cheap; many nudges make one checkpoint)."""
        self._due.set()

    def _loop(self) -> None:
        while True:
            self._due.wait()
            self._due.clear()
            if self._stopping:
                return
            with contextlib.suppress(sqlite3.Error):  # busy or locked: the next nudge retries
                self._conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
            self.ran.set()

    def close(self) -> None:
        """Wake the thread so it stops, wait for it, then close its connection."""
        self._stopping = True
        self._due.set()
        self._thread.join()
        self._conn.close()


class _WriteGate:
    """Orders the writer threads of several processes sharing one database.

    SQLite alone makes a waiting writer poll with sleeps of up to 100 ms (its busy handler),
    which showed as a 40-60 ms p99 on small PUTs with two workers. A blocking ``flock`` wakes
    the next writer as soon as the lock is released. SQLite's own locking still guards
    correctness (and any process that does not take the gate).
    """

    def __init__(self, path: str) -> None:
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)

    def __enter__(self) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_EX)

    def __exit__(self, *exc: object) -> None:
        fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        """Close the lock file's descriptor (the file stays for other processes)."""
        os.close(self._fd)


def _resolve(fut: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if fut.cancelled():
        return
    if error is not None:
        fut.set_exception(error)
    else:
        fut.set_result(result)
