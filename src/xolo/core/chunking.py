"""Cutting a byte stream into fixed-size chunks with one copy per chunk."""

from __future__ import annotations


class Rechunker:
    """Buffers incoming pieces and hands out full chunks of exactly ``size`` bytes."""

    __slots__ = ("_buf", "size")

    def __init__(self, size: int) -> None:
        if size <= 0:
            raise ValueError("chunk size must be positive")
        self.size = size
        self._buf = bytearray()

    def __len__(self) -> int:
        return len(self._buf)

    def feed(self, data: bytes | bytearray | memoryview) -> list[bytes]:
        """Add a piece; returns the full chunks it completes, keeping the rest for the next."""
        self._buf += data
        out = []
        while len(self._buf) >= self.size:
            with memoryview(self._buf) as view:
                out.append(bytes(view[: self.size]))  # one copy, not two
            # CPython drops bytes from the front of a bytearray without moving the rest.
            del self._buf[: self.size]
        return out

    def finish(self) -> bytes:
        """The short last chunk (possibly empty), emptying the buffer."""
        rest = bytes(self._buf)
        self._buf.clear()
        return rest
