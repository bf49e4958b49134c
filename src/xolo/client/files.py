"""File-like and mapping views of a bucket, over the blocking client: a seekable reader backed
by ranged reads, ``MutableMapping[str, bytes]``, and pathlib-style references."""

from __future__ import annotations

import fnmatch
import io
from collections.abc import Callable, Iterator, MutableMapping
from typing import TYPE_CHECKING, Any

from xolo.core.errors import NoSuchKey

if TYPE_CHECKING:
    from xolo.client.base import ObjectInfo
    from xolo.client.sync import Client

READAHEAD = 1024 * 1024
"""Bytes one ranged read fetches at least, so small reads (zipfile's) do not each cost a trip."""


class ObjectFile(io.RawIOBase):
    """A read-only, seekable binary file over one object version, read by ranges."""

    def __init__(self, *, size: int, read_range: Callable[[int, int], bytes], name: str) -> None:
        super().__init__()
        self.size = size
        self.name = name
        self._read_range = read_range
        self._pos = 0
        self._buf_start = 0
        self._buf = b""

    def readable(self) -> bool:
        """Always: the file is read-only."""
        return True

    def seekable(self) -> bool:
        """Always: reads are ranged."""
        return True

    def tell(self) -> int:
        """The current position."""
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        """Move the position (no I/O until the next read)."""
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError("negative seek position")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: Any) -> int:
        """Fill ``buffer`` from the position, fetching at least ``READAHEAD`` bytes per trip."""
        view = memoryview(buffer).cast("B")
        if self._pos >= self.size or not len(view):
            return 0
        want = min(len(view), self.size - self._pos)
        lo = self._pos - self._buf_start
        if not (lo >= 0 and lo + want <= len(self._buf)):
            end = min(self.size, self._pos + max(want, READAHEAD)) - 1
            self._buf = self._read_range(self._pos, end)
            self._buf_start, lo = self._pos, 0
        chunk = self._buf[lo : lo + want]
        view[: len(chunk)] = chunk
        self._pos += len(chunk)
        return len(chunk)


class BucketMapping(MutableMapping[str, bytes]):
    """A bucket as a dict of bytes: ``m[key]``, ``m[key] = b"..."``, ``del m[key]``, ``in``,
    iteration over keys (lazily, page by page) and ``len`` (a count of the listing)."""

    def __init__(self, client: Client, bucket: str) -> None:
        self._client = client
        self.bucket = bucket

    def __getitem__(self, key: str) -> bytes:
        try:
            return self._client.get(self.bucket, key)
        except NoSuchKey:
            raise KeyError(key) from None

    def __setitem__(self, key: str, value: bytes) -> None:
        self._client.put(self.bucket, key, value)

    def __delitem__(self, key: str) -> None:
        if not self._client.exists(self.bucket, key):
            raise KeyError(key)
        self._client.delete(self.bucket, key)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self._client.exists(self.bucket, key)

    def __iter__(self) -> Iterator[str]:
        return (e.key for e in self._client.list(self.bucket))

    def __len__(self) -> int:
        return sum(1 for _ in self._client.list(self.bucket))


class XoloPath:
    """A pathlib-style reference to a key (or a ``/``-separated "directory") in a bucket."""

    def __init__(self, client: Client, bucket: str, key: str) -> None:
        self._client = client
        self.bucket = bucket
        self.key = key.strip("/")

    def __truediv__(self, part: str) -> XoloPath:
        return XoloPath(self._client, self.bucket, f"{self.key}/{part}" if self.key else part)

    def __repr__(self) -> str:
        return f"XoloPath('{self.bucket}/{self.key}')"

    def __str__(self) -> str:
        return f"xolo://{self.bucket}/{self.key}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, XoloPath) and (self.bucket, self.key) == (other.bucket, other.key)

    def __hash__(self) -> int:
        return hash((self.bucket, self.key))

    @property
    def name(self) -> str:
        """The last part of the key."""
        return self.key.rpartition("/")[2]

    @property
    def parent(self) -> XoloPath:
        """The reference one level up."""
        return XoloPath(self._client, self.bucket, self.key.rpartition("/")[0])

    def read_bytes(self) -> bytes:
        """The object's bytes."""
        return self._client.get(self.bucket, self.key)

    def read_text(self, encoding: str = "utf-8") -> str:
        """The object's bytes as text."""
        return self.read_bytes().decode(encoding)

    def write_bytes(self, data: bytes) -> ObjectInfo:
        """Store bytes at this key."""
        return self._client.put(self.bucket, self.key, data)

    def write_text(self, text: str, encoding: str = "utf-8") -> ObjectInfo:
        """Store text at this key."""
        return self._client.put(self.bucket, self.key, text.encode(encoding))

    def exists(self) -> bool:
        """Whether an object has this key, or keys lie below it."""
        if self._client.exists(self.bucket, self.key):
            return True
        return self.is_dir()

    def is_dir(self) -> bool:
        """Whether keys lie below this one (``key/...``)."""
        prefix = f"{self.key}/" if self.key else ""
        return (
            next(iter(self._client.list(self.bucket, prefix=prefix, page_size=1)), None) is not None
        )

    def is_file(self) -> bool:
        """Whether an object has exactly this key."""
        return bool(self.key) and self._client.exists(self.bucket, self.key)

    def stat(self) -> ObjectInfo:
        """The object's information."""
        return self._client.head(self.bucket, self.key)

    def unlink(self, missing_ok: bool = False) -> None:
        """Delete the object (FileNotFoundError when absent, unless ``missing_ok``)."""
        if not missing_ok and not self._client.exists(self.bucket, self.key):
            raise FileNotFoundError(str(self))
        self._client.delete(self.bucket, self.key)

    def open(self, mode: str = "rb") -> io.BufferedReader:
        """A buffered, seekable reader over the object."""
        if mode != "rb":
            raise ValueError("xolo objects open read-only, in binary: mode 'rb'")
        return io.BufferedReader(self._client.open(self.bucket, self.key))

    def iterdir(self) -> Iterator[XoloPath]:
        """The objects and directories one level below."""
        prefix = f"{self.key}/" if self.key else ""
        for entry in self._client.ls(self.bucket, prefix):
            yield XoloPath(self._client, self.bucket, entry.key)

    def glob(self, pattern: str) -> Iterator[XoloPath]:
        """Keys below this one matching ``pattern`` (relative; ``**`` crosses ``/``)."""
        prefix = f"{self.key}/" if self.key else ""
        recursive = "**" in pattern
        source = (
            self._client.list(self.bucket, prefix=prefix)
            if recursive
            else self._client.list(self.bucket, prefix=prefix, delimiter="/")
        )
        for entry in source:
            rel = entry.key[len(prefix) :].rstrip("/")
            if _match(rel, pattern):
                yield XoloPath(self._client, self.bucket, entry.key)

    def rglob(self, pattern: str) -> Iterator[XoloPath]:
        """Keys at any depth below matching ``pattern``."""
        return self.glob(f"**/{pattern}")


def _match(rel: str, pattern: str) -> bool:
    if pattern.startswith("**/"):
        tail = pattern[3:]
        parts = rel.split("/")
        return any(fnmatch.fnmatchcase("/".join(parts[i:]), tail) for i in range(len(parts)))
    return "/" not in rel and fnmatch.fnmatchcase(rel, pattern)
