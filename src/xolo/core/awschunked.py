"""Decoding S3's ``aws-chunked`` content encoding, incrementally and with bounded memory.

Signed::   <hex size>;chunk-signature=<sig>\\r\\n<data>\\r\\n ... 0;chunk-signature=<sig>\\r\\n
Unsigned:  <hex size>\\r\\n<data>\\r\\n ... 0\\r\\n
then either ``\\r\\n`` or trailer lines (``x-amz-checksum-crc32:<b64>\\r\\n``, and for signed
trailers ``x-amz-trailer-signature:<sig>\\r\\n``) and a final ``\\r\\n``.

Decoded bytes are handed out as they arrive; signatures are checked through callbacks when a
chunk (or the trailer) ends, which is always before the caller commits anything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from xolo.core.errors import IncompleteBody, InvalidRequest

MAX_LINE = 4096
"""A chunk header or trailer line; anything longer is not a valid encoding."""

ChunkCheck = Callable[[str, str], None]
"""(sha256 hex of the chunk's data, the chunk's signature) → raises if wrong."""
TrailerCheck = Callable[[bytes, str], None]
"""(canonical trailer bytes, the trailer signature) → raises if wrong."""


class ChunkedDecoder:
    """Decodes one ``aws-chunked`` body as its bytes arrive, checking each chunk's signature as
    it ends and collecting the trailers."""

    def __init__(
        self,
        *,
        signed: bool,
        on_chunk: ChunkCheck | None = None,
        on_trailer: TrailerCheck | None = None,
    ) -> None:
        self._signed = signed
        self._on_chunk = on_chunk
        self._on_trailer = on_trailer
        self._buf = bytearray()
        self._state = "header"
        self._remaining = 0
        self._signature = ""
        self._hasher = hashlib.sha256()
        self.trailers: dict[str, str] = {}
        self._trailer_lines: list[bytes] = []
        self.done = False

    def feed(self, data: bytes) -> list[bytes]:
        """Take more of the encoded body; returns the decoded data it completes (possibly none)."""
        if self.done:
            if data.strip(b"\r\n"):
                raise InvalidRequest("bytes after the end of the aws-chunked body")
            return []
        self._buf += data
        out: list[bytes] = []
        while not self.done:
            if self._state == "data":
                if not self._buf:
                    break
                take = min(self._remaining, len(self._buf))
                piece = bytes(self._buf[:take])
                del self._buf[:take]
                self._remaining -= take
                if self._signed:
                    self._hasher.update(piece)
                out.append(piece)
                if self._remaining == 0:
                    self._state = "data-end"
                continue
            line = self._line()
            if line is None:
                break
            if self._state == "header":
                self._header(line)
            elif self._state == "data-end":
                if line:
                    raise InvalidRequest("an aws-chunked chunk is longer than its declared size")
                self._end_chunk()
                self._state = "header"
            elif self._state == "trailer":
                self._trailer(line)
        return out

    def _line(self) -> bytes | None:
        at = self._buf.find(b"\r\n")
        if at < 0:
            if len(self._buf) > MAX_LINE:
                raise InvalidRequest("an aws-chunked header line is too long")
            return None
        line = bytes(self._buf[:at])
        del self._buf[: at + 2]
        return line

    def _header(self, line: bytes) -> None:
        size_text, _, ext = line.partition(b";")
        try:
            size = int(size_text, 16)
        except ValueError:
            raise InvalidRequest("malformed aws-chunked chunk header") from None
        signature = ""
        if ext:
            name, _, value = ext.partition(b"=")
            if name.strip() == b"chunk-signature":
                signature = value.strip().decode()
        if self._signed and not signature:
            raise InvalidRequest("a signed aws-chunked chunk lacks its chunk-signature")
        self._signature = signature
        self._hasher = hashlib.sha256()
        if size == 0:
            self._end_chunk()
            self._state = "trailer"
        else:
            self._remaining = size
            self._state = "data"

    def _end_chunk(self) -> None:
        if self._signed and self._on_chunk is not None:
            self._on_chunk(self._hasher.hexdigest(), self._signature)

    def _trailer(self, line: bytes) -> None:
        if not line:
            self.done = True
            if self._on_trailer is not None and "x-amz-trailer-signature" in self.trailers:
                canonical = b"".join(t + b"\n" for t in self._trailer_lines)
                self._on_trailer(canonical, self.trailers["x-amz-trailer-signature"])
            return
        name, sep, value = line.partition(b":")
        if not sep:
            raise InvalidRequest("malformed aws-chunked trailer")
        key = name.strip().lower().decode()
        self.trailers[key] = value.strip().decode()
        if key != "x-amz-trailer-signature":
            self._trailer_lines.append(name.strip().lower() + b":" + value.strip())

    def finish(self) -> None:
        """Refuse a body cut short before its last chunk and trailer, so it is not kept."""
        if not self.done:
            raise IncompleteBody("the aws-chunked body ended early")
