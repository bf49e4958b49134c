"""A ChunkVolume on a local directory; see README.md beside this file for the layout.

Blocking file work runs on a thread pool, never on the event loop. Several processes may share
one directory (``xolo serve --workers N``): every state change of one chunk (store, doom,
delete, quarantine) happens under an advisory lock on its shard directory, so the two GC
phases and concurrent stores are ordered across processes, not only threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import hashlib
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import crc32c

from xolo.chunks.base import ScrubReport, Usage
from xolo.core.errors import ChunkCorrupt, NoSuchChunk
from xolo.core.records import ChunkRef

T = TypeVar("T")

TEMP_SUFFIX = ".tmp"
DOOM_SUFFIX = ".doom"
LOCK_NAME = ".lock"
QUARANTINE = "quarantine"
HASH_PIECE = 1024 * 1024
CRC_XATTR = "user.xolo.crc32c"
"""The CRC-32C of a chunk's bytes, recorded in an extended attribute of its file when it is
stored (as Swift keeps an object's metadata): every whole read checks the file against it, at
about a hundredth of the cost of re-hashing SHA-256. A file system without user attributes
records none, and its reads are not checked (scrub still re-hashes every chunk)."""


def _record_crc(fd: int, crc: int) -> None:
    with contextlib.suppress(OSError):  # no user xattrs here: the chunk goes unrecorded
        os.setxattr(fd, CRC_XATTR, crc.to_bytes(4, "big"))


def _recorded_crc(fd: int | Path) -> int | None:
    try:
        value = os.getxattr(fd, CRC_XATTR)
    except OSError:
        return None
    return int.from_bytes(value, "big") if len(value) == 4 else None


def _holds(path: Path, data: bytes) -> bool:
    """Whether the file holds exactly ``data`` (a read and a compare: cheaper than the hash the
    caller already paid to name the bytes)."""
    try:
        with open(path, "rb", buffering=0) as f:
            return f.read(len(data) + 1) == data
    except FileNotFoundError:
        return False


def recorded_crc(path: Path) -> int | None:
    """The CRC-32C recorded on a chunk file when it was stored (None: none recorded, or no
    file): what a peer sends with a chunk it streams unchecked, so the reader checks it."""
    return _recorded_crc(path)


class DiskChunkStore:
    """Chunks as files named by their SHA-256 under two levels of shard directories."""

    def __init__(
        self,
        root: Path | str,
        *,
        threads: int = 8,
        fsync: bool = True,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._clock = clock
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="xolo-chunks")
        self._usage: Usage | None = None
        self._usage_lock = threading.Lock()

    def path_for(self, sha256: str) -> Path:
        """Where the chunk's file is, or would be, under its two shard directories (README.md)."""
        return self.root / sha256[:2] / sha256[2:4] / sha256

    def local_path(self, sha256: str) -> Path | None:
        """The file ``path_for`` names, whether or not the chunk is stored."""
        return self.path_for(sha256)

    def _doom_path(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / f".{sha256}{DOOM_SUFFIX}"

    @contextlib.contextmanager
    def _locked(self, sha256: str, *, create: bool = False) -> Iterator[bool]:
        """Hold the lock of the chunk's shard directory; yields whether the directory exists."""
        directory = self.root / sha256[:2] / sha256[2:4]
        if create:
            self._ensure_dir(directory)
        try:
            fd = os.open(directory / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o644)
        except FileNotFoundError:
            yield False
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield True
        finally:
            os.close(fd)

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    def places(self) -> int:
        """A directory is one place."""
        return 1

    def _count(self, size: int, chunks: int) -> None:
        with self._usage_lock:
            if self._usage is not None:
                self._usage = Usage(
                    used_bytes=self._usage.used_bytes + size, chunks=self._usage.chunks + chunks
                )

    # -- storing -----------------------------------------------------------------------------

    async def put(self, sha256: str, data: bytes, *, copies: int = 1, quorum: int = 1) -> int:
        """A temporary file renamed into place under the shard lock (README.md); one copy, whatever
        ``copies`` and ``quorum`` ask."""
        await self._run(self._put, sha256, data)
        return 1

    def _put(self, sha256: str, data: bytes) -> None:
        final = self.path_for(sha256)
        if self._refresh(sha256, data):
            return
        temp = self._write_temp(final.parent, sha256, data)
        renamed = False
        try:
            with self._locked(sha256):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self._doom_path(sha256))
                existed = final.exists()
                if existed and _holds(final, data):
                    return  # stored meanwhile by another writer: same bytes
                os.replace(temp, final)  # atomic for concurrent readers; replaces a damaged copy
                renamed = True
            if not existed:
                self._count(len(data), 1)
            if self._fsync:
                self._fsync_dir(final.parent)
        finally:
            if not renamed:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp)

    def _refresh(self, sha256: str, data: bytes) -> bool:
        """When the chunk is stored intact: clear any GC mark and say so, under the shard lock.
        A stored copy that no longer holds these bytes (it rotted) is not counted as stored:
        the put then writes the good bytes over it, so a damaged copy never counts toward W."""
        with self._locked(sha256) as exists:
            path = self.path_for(sha256)
            if not exists or not path.exists() or not _holds(path, data):
                return False
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._doom_path(sha256))
            return True

    def _write_temp(self, directory: Path, sha256: str, data: bytes) -> Path:
        self._ensure_dir(directory)
        temp = directory / f".{sha256}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            _record_crc(fd, crc32c.crc32c(data))
            if self._fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        os.close(fd)
        return temp

    def _ensure_dir(self, directory: Path) -> None:
        if directory.is_dir():
            return
        directory.mkdir(parents=True, exist_ok=True)
        if self._fsync:
            self._fsync_dir(directory.parent)
            self._fsync_dir(directory.parent.parent)

    @staticmethod
    def _fsync_dir(directory: Path) -> None:
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    # -- reading -----------------------------------------------------------------------------

    async def read(self, sha256: str, offset: int = 0, length: int | None = None) -> bytes:
        """One ``pread``; a whole chunk is checked against its recorded CRC-32C."""
        return await self._run(self._read, sha256, offset, length)

    def _read(self, sha256: str, offset: int, length: int | None) -> bytes:
        return self._read_checked(sha256, offset, length)[0]

    async def read_checked(self, sha256: str) -> tuple[bytes, int | None]:
        """One ``pread`` of the whole file, checked against the CRC-32C its xattr recorded."""
        return await self._run(self._read_checked, sha256, 0, None)

    def _read_checked(
        self, sha256: str, offset: int, length: int | None
    ) -> tuple[bytes, int | None]:
        try:
            fd = os.open(self.path_for(sha256), os.O_RDONLY)
        except FileNotFoundError:
            raise NoSuchChunk(f"chunk {sha256} is not stored here") from None
        try:
            size = os.fstat(fd).st_size
            if length is None:
                length = max(0, size - offset)
            data = os.pread(fd, length, offset) if length > 0 else b""
            if len(data) != length:
                raise ChunkCorrupt(f"chunk {sha256} on this volume is shorter than the chunk")
            if offset or len(data) != size:
                return data, None  # a part of the chunk: its checksum covers the whole
            recorded = _recorded_crc(fd)
        finally:
            os.close(fd)
        if recorded is not None and crc32c.crc32c(data) != recorded:
            raise ChunkCorrupt(f"chunk {sha256} on this volume no longer matches its CRC-32C")
        return data, recorded

    async def size(self, sha256: str) -> int | None:
        """The file's size, from ``stat``."""
        return await self._run(self._size, sha256)

    def _size(self, sha256: str) -> int | None:
        try:
            return self.path_for(sha256).stat().st_size
        except FileNotFoundError:
            return None

    async def has(self, names: Sequence[str]) -> list[bool]:
        """Whether the file exists; a doomed chunk still counts."""
        return await self._run(lambda: [self.path_for(n).is_file() for n in names])

    async def copies(self, names: Sequence[str]) -> list[int]:
        """Copies that will stay: a chunk GC has doomed counts as none (a direct transfer must
        then store it again, which lifts the doom), so no commit leans on a copy about to go."""

        def live(name: str) -> int:
            return int(self.path_for(name).is_file() and not self._doom_path(name).exists())

        return await self._run(lambda: [live(n) for n in names])

    def read_urls(self, sha256: str) -> list[str]:
        """None: clients reach a local directory only through the server that holds it."""
        return []

    def upload_urls(self, sha256: str, copies: int) -> list[str]:
        """None: the server that holds the directory takes the chunks."""
        return []

    # -- inventory ---------------------------------------------------------------------------

    async def inventory(self, after: str, limit: int) -> list[ChunkRef]:
        """Walks the shard directories in name order, skipping temporary files, marks and locks."""
        return await self._run(self._inventory, after, limit)

    def _inventory(self, after: str, limit: int) -> list[ChunkRef]:
        found: list[ChunkRef] = []
        for top in self._sorted_dirs(self.root, after[:2]):
            for mid in self._sorted_dirs(top, after[2:4] if top.name == after[:2] else ""):
                for name in sorted(os.listdir(mid)):
                    if name.startswith(".") or name <= after:
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        found.append(ChunkRef(sha256=name, size=(mid / name).stat().st_size))
                    if len(found) == limit:
                        return found
        return found

    @staticmethod
    def _sorted_dirs(parent: Path, start: str) -> list[Path]:
        try:
            names = os.listdir(parent)
        except FileNotFoundError:
            return []
        return [
            parent / n
            for n in sorted(names)
            if len(n) == 2 and n >= start and (parent / n).is_dir()
        ]

    async def usage(self) -> Usage:
        """Walks the directory on the first call, then counts this process's own stores and deletes
        (not those of other processes sharing the directory)."""
        with self._usage_lock:
            if self._usage is not None:
                return self._usage
        usage = await self._run(self._walk_usage)
        with self._usage_lock:
            self._usage = usage
        return usage

    def _walk_usage(self) -> Usage:
        size = count = 0
        after = ""
        while True:
            page = self._inventory(after, 10_000)
            size += sum(c.size for c in page)
            count += len(page)
            if len(page) < 10_000:
                return Usage(used_bytes=size, chunks=count)
            after = page[-1].sha256

    # -- garbage collection ------------------------------------------------------------------

    async def doom(self, names: Sequence[str], *, mark: str = "") -> list[bool]:
        """Writes each stored chunk's ``.doom`` mark (the round's name) under its shard lock."""
        return await self._run(lambda: [self._doom_one(n, mark) for n in names])

    def _doom_one(self, sha256: str, mark: str) -> bool:
        with self._locked(sha256) as exists:
            if not exists or not self.path_for(sha256).exists():
                return False
            fd = os.open(self._doom_path(sha256), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
            try:
                os.write(fd, mark.encode())
            finally:
                os.close(fd)
            return True

    async def delete_doomed(self, names: Sequence[str], *, mark: str = "") -> list[bool]:
        """Under the shard lock, deletes a chunk only while its ``.doom`` mark is still there and
        names this round."""
        return await self._run(lambda: [self._delete_one(n, mark) for n in names])

    def _delete_one(self, sha256: str, mark: str) -> bool:
        with self._locked(sha256) as exists:
            if not exists:
                return False
            doom = self._doom_path(sha256)
            try:
                if doom.read_bytes() != mark.encode():
                    return False  # doomed again by another round since: that round decides
                os.unlink(doom)
            except FileNotFoundError:
                return False  # stored again since it was doomed: it stays
            path = self.path_for(sha256)
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                return False
        self._count(-size, -1)
        return True

    async def clean_temp(self, older_than: float) -> int:
        """Removes ``.tmp`` files whose modification time is older than ``older_than``."""
        return await self._run(self._clean_temp, self._clock() - older_than)

    def _clean_temp(self, cutoff: float) -> int:
        removed = 0
        for top in self._sorted_dirs(self.root, ""):
            for mid in self._sorted_dirs(top, ""):
                for entry in os.scandir(mid):
                    if not entry.name.endswith(TEMP_SUFFIX):
                        continue
                    with contextlib.suppress(FileNotFoundError):
                        if entry.stat().st_mtime < cutoff:
                            os.unlink(entry.path)
                            removed += 1
        return removed

    # -- scrub -------------------------------------------------------------------------------

    async def scrub(
        self, names: Sequence[str] | None = None, *, after: str = "", limit: int = 64
    ) -> ScrubReport:
        """Re-hashes each file in pieces, records the CRC-32C of an intact chunk that has none, and
        moves a bad copy to ``quarantine/``."""
        if names is None:
            refs = await self.inventory(after, limit)
            names = [r.sha256 for r in refs]
            next_after = names[-1] if len(names) == limit else None
        else:
            next_after = None
        checked = total = 0
        bad: list[str] = []
        for name in names:
            outcome = await self._run(self._scrub_one, name)
            if outcome is None:
                continue
            checked += 1
            total += outcome[0]
            if not outcome[1]:
                bad.append(name)
        return ScrubReport(checked=checked, bytes=total, bad=bad, next_after=next_after)

    def _scrub_one(self, sha256: str) -> tuple[int, bool] | None:
        """(bytes hashed, intact) for a stored chunk; a bad copy is moved to quarantine."""
        path = self.path_for(sha256)
        try:
            with open(path, "rb") as f:
                inode = os.fstat(f.fileno()).st_ino
                digest = hashlib.sha256()
                crc = size = 0
                while piece := f.read(HASH_PIECE):
                    digest.update(piece)
                    crc = crc32c.crc32c(piece, crc)
                    size += len(piece)
                intact = digest.hexdigest() == sha256
                if intact and _recorded_crc(f.fileno()) != crc:
                    # Stored before checksums were recorded (or its record is damaged):
                    # record the CRC now, so later reads are checked.
                    _record_crc(f.fileno(), crc)
        except FileNotFoundError:
            return None
        if intact:
            return size, True
        with self._locked(sha256):
            try:
                if path.stat().st_ino != inode:
                    return size, True  # replaced by a fresh store meanwhile
            except FileNotFoundError:
                return size, False
            quarantine = self.root / QUARANTINE
            quarantine.mkdir(exist_ok=True)
            os.replace(path, quarantine / f"{sha256}.{int(self._clock())}")
        self._count(-size, -1)
        return size, False

    def quarantined(self) -> list[str]:
        """Names of the copies scrub has set aside (for operators and tests)."""
        try:
            return sorted(n.split(".")[0] for n in os.listdir(self.root / QUARANTINE))
        except FileNotFoundError:
            return []

    async def close(self) -> None:
        """Waits for file work already handed to the thread pool."""
        self._pool.shutdown(wait=True)
