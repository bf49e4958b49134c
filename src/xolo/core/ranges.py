"""HTTP byte ranges (RFC 9110 section 14), single range only."""

from __future__ import annotations

import re
from dataclasses import dataclass

from xolo.core.errors import InvalidArgument, InvalidRange

_SPEC = re.compile(r"^\s*(\d*)\s*-\s*(\d*)\s*$")


@dataclass(frozen=True, slots=True)
class ByteRange:
    """The one range of bytes a request reads, resolved against the object's size."""

    start: int
    end: int
    """Inclusive, as in the HTTP header."""

    @property
    def length(self) -> int:
        """How many bytes the range covers."""
        return self.end - self.start + 1

    def content_range(self, size: int) -> str:
        """The ``Content-Range`` header of a 206 answer for an object of ``size`` bytes."""
        return f"bytes {self.start}-{self.end}/{size}"


def parse_range(header: str | None, size: int) -> ByteRange | None:
    """Resolve a ``Range`` header against an object of ``size`` bytes.

    Returns ``None`` when no range was asked for. Raises :class:`InvalidRange` (416) when the
    header is malformed, asks for several ranges, or cannot be satisfied.
    """
    if header is None or not header.strip():
        return None
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or not spec:
        raise InvalidRange(
            f"range must look like 'bytes=a-b', 'bytes=a-' or 'bytes=-n', got {header[:100]!r}",
            size=size,
        )
    if "," in spec:
        raise InvalidRange("only a single range is supported", size=size)
    m = _SPEC.match(spec)
    if not m or (not m.group(1) and not m.group(2)):
        raise InvalidRange(f"malformed range {header[:100]!r}", size=size)
    first, last = m.group(1), m.group(2)
    if not first:
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise InvalidRange("range is not satisfiable", size=size)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        raise InvalidRange(f"range end {end} is before its start {start}", size=size)
    if start >= size:
        raise InvalidRange(f"range start {start} is beyond the object's {size} bytes", size=size)
    return ByteRange(start, min(end, size - 1))


_COPY_RANGE = re.compile(r"^bytes=(\d+)-(\d+)$")


def parse_copy_range(header: str, size: int) -> ByteRange:
    """An ``x-amz-copy-source-range`` as S3 judges it: exactly ``bytes=first-last``, both
    inside the source object, or InvalidArgument (never a 416: it names the source, not the
    response)."""
    m = _COPY_RANGE.match(header.strip())
    if not m:
        raise InvalidArgument(
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first "
            "and last are the zero-based offsets of the first and last bytes to copy"
        )
    first, last = int(m.group(1)), int(m.group(2))
    if first > last or last >= size:
        raise InvalidArgument(f"Range specified is not valid for source object of size: {size}")
    return ByteRange(first, last)
