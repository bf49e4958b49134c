"""A ChunkStore on a local directory; see README.md beside this file for the layout.

Blocking file work runs on a thread pool, never on the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from xolo.core.errors import NoSuchChunk

T = TypeVar("T")

TEMP_SUFFIX = ".tmp"


class DiskChunkStore:
    def __init__(self, root: Path | str, *, threads: int = 8, fsync: bool = True) -> None:
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._fsync = fsync
        self._pool = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="xolo-chunks")

    def path_for(self, sha256: str) -> Path:
        return self.root / sha256[:2] / sha256[2:4] / sha256

    async def _run(self, fn: Callable[..., T], *args: object) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, fn, *args)

    async def put(self, sha256: str, data: bytes) -> None:
        await self._run(self._put, sha256, data)

    def _put(self, sha256: str, data: bytes) -> None:
        final = self.path_for(sha256)
        try:
            if final.stat().st_size == len(data):
                os.utime(final)  # young again: GC must spare it until the new manifest commits
                return
        except FileNotFoundError:
            pass
        self._ensure_dir(final.parent)
        temp = final.parent / f".{sha256}.{secrets.token_hex(6)}{TEMP_SUFFIX}"
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if self._fsync:
                os.fsync(fd)
        except BaseException:
            os.close(fd)
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp)
            raise
        os.close(fd)
        # Another process may have stored the same chunk meanwhile: the bytes are identical,
        # so replacing it is harmless, and rename is atomic for concurrent readers.
        os.replace(temp, final)
        if self._fsync:
            self._fsync_dir(final.parent)

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

    async def get(self, sha256: str, offset: int = 0, length: int | None = None) -> bytes:
        return await self._run(self._get, sha256, offset, length)

    def _get(self, sha256: str, offset: int, length: int | None) -> bytes:
        try:
            fd = os.open(self.path_for(sha256), os.O_RDONLY)
        except FileNotFoundError:
            raise NoSuchChunk(f"chunk {sha256} is not stored here") from None
        try:
            if length is None:
                length = os.fstat(fd).st_size - offset
            return os.pread(fd, length, offset) if length > 0 else b""
        finally:
            os.close(fd)

    async def size(self, sha256: str) -> int | None:
        return await self._run(self._size, sha256)

    def _size(self, sha256: str) -> int | None:
        try:
            return self.path_for(sha256).stat().st_size
        except FileNotFoundError:
            return None

    async def has(self, names: Sequence[str]) -> list[bool]:
        return await self._run(lambda: [self.path_for(n).is_file() for n in names])

    async def touch(self, names: Sequence[str]) -> list[bool]:
        def touch_all() -> list[bool]:
            found = []
            for name in names:
                try:
                    os.utime(self.path_for(name))
                    found.append(True)
                except FileNotFoundError:
                    found.append(False)
            return found

        return await self._run(touch_all)

    async def delete(self, sha256: str) -> bool:
        def rm() -> bool:
            try:
                self.path_for(sha256).unlink()
            except FileNotFoundError:
                return False
            return True

        return await self._run(rm)

    async def sweep(self, keep: Callable[[str], bool], older_than: float) -> int:
        return await self._run(self._sweep, keep, older_than)

    def _sweep(self, keep: Callable[[str], bool], older_than: float) -> int:
        deleted = 0
        for top in os.scandir(self.root):
            if len(top.name) != 2 or not top.is_dir():
                continue
            for mid in os.scandir(top.path):
                if not mid.is_dir():
                    continue
                for entry in os.scandir(mid.path):
                    try:
                        if entry.stat().st_mtime >= older_than:
                            continue
                        if entry.name.startswith("."):
                            if entry.name.endswith(TEMP_SUFFIX):
                                os.unlink(entry.path)  # a write abandoned by a crash
                            continue
                        if keep(entry.name):
                            continue
                        os.unlink(entry.path)
                        deleted += 1
                    except FileNotFoundError:
                        continue
        return deleted

    async def names(self) -> AsyncIterator[str]:
        for top in sorted(await self._run(os.listdir, self.root)):
            top_dir = self.root / top
            if len(top) != 2 or not top_dir.is_dir():
                continue
            for mid in sorted(await self._run(os.listdir, top_dir)):
                for name in await self._run(os.listdir, top_dir / mid):
                    if not name.startswith("."):
                        yield name

    async def close(self) -> None:
        self._pool.shutdown(wait=True)
