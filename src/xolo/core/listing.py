"""Pure pieces of listing: byte-order bounds, delimiter folding and opaque cursors.

Keys sort by their UTF-8 bytes (as S3 does), so every bound here is ``bytes``.
"""

from __future__ import annotations

import base64
import binascii

from xolo.core.errors import InvalidArgument

MAX_PAGE = 1000


def prefix_end(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string that starts with ``prefix``."""
    trimmed = prefix.rstrip(b"\xff")
    if not trimmed:
        return None
    return trimmed[:-1] + bytes([trimmed[-1] + 1])


def after(key: bytes) -> bytes:
    """The smallest byte string strictly greater than ``key``."""
    return key + b"\x00"


def common_prefix(key: bytes, prefix: bytes, delimiter: bytes) -> bytes | None:
    """The common prefix ``key`` folds into, or None when it is listed as itself."""
    if not delimiter:
        return None
    at = key.find(delimiter, len(prefix))
    if at < 0:
        return None
    return key[: at + len(delimiter)]


def encode_cursor(last: bytes, *, is_prefix: bool) -> str:
    """An opaque cursor that resumes after ``last`` (after all of it, for a common prefix)."""
    return base64.urlsafe_b64encode((b"p" if is_prefix else b"k") + last).decode().rstrip("=")


def decode_cursor(cursor: str) -> bytes:
    """The inclusive start bound a cursor stands for."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (binascii.Error, ValueError):
        raise InvalidArgument("cursor is not one this server issued") from None
    kind, last = raw[:1], raw[1:]
    if kind == b"k":
        return after(last)
    if kind == b"p":
        end = prefix_end(last)
        if end is None:
            raise InvalidArgument("cursor is not one this server issued")
        return end
    raise InvalidArgument("cursor is not one this server issued")


def check_page_size(limit: int | None) -> int:
    """The page size a listing asked for, or the largest when it asked for none."""
    if limit is None:
        return MAX_PAGE
    if not 1 <= limit <= MAX_PAGE:
        raise InvalidArgument(f"limit must be between 1 and {MAX_PAGE}")
    return limit
