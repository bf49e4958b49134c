"""Small request/response helpers shared by the HTTP surfaces."""

from __future__ import annotations

import base64
import email.errors
import email.header
import itertools
import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from xolo.core.conditions import WriteCondition
from xolo.core.errors import IncompleteBody, InvalidArgument, MalformedJSON, SizeMismatch

PATHSEND = "http.response.pathsend"
"""The ASGI extension by which a server sends a file's bytes itself (``os.sendfile``): offered
in ``scope["extensions"]`` by xolo's server (``cli/sendfile.py``) on plain TCP, and by Granian.
Starlette's ``FileResponse`` uses it whenever it is offered."""

MAX_JSON_BODY = 1024 * 1024
"""JSON control documents are small; anything larger is a mistake or an attack."""


def iso_time(ts: float) -> str:
    """A POSIX time as the ISO 8601 UTC text (milliseconds, ``Z``) the JSON responses carry."""
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def content_length(request: Request) -> int | None:
    """The declared Content-Length, or ``None``; a non-numeric one is a 400, not a crash."""
    value = request.headers.get("content-length")
    if value is None:
        return None
    if not value.isdigit():
        raise InvalidArgument("Content-Length must be a non-negative integer")
    return int(value)


async def body_stream(request: Request) -> AsyncIterator[bytes]:
    """The request body, checked against Content-Length: a short body is an error, not an object."""
    expected = content_length(request)
    received = 0
    try:
        async for piece in request.stream():
            if not piece:
                continue
            received += len(piece)
            if expected is not None and received > expected:
                raise SizeMismatch(f"the body is longer than its Content-Length of {expected}")
            yield piece
    except ClientDisconnect:
        raise IncompleteBody(
            f"the connection closed after {received} bytes of the body"
            + (f" (Content-Length {expected})" if expected is not None else "")
        ) from None
    if expected is not None and received != expected:
        raise IncompleteBody(f"the body has {received} bytes, Content-Length said {expected}")


async def control_body(request: Request) -> bytes:
    """A control request's whole body, for checking its signature before it is parsed
    (Starlette keeps it for ``json_body``); refused past ``MAX_JSON_BODY`` by Content-Length.
    Read only for callers whose signature already checked (cluster members)."""
    if (content_length(request) or 0) > MAX_JSON_BODY:
        raise MalformedJSON(f"a JSON request body may be at most {MAX_JSON_BODY} bytes")
    return await request.body()


async def json_body(request: Request) -> Any:
    """A JSON control document from the body (``None`` if empty), refused past ``MAX_JSON_BODY``."""
    buf = bytearray()
    async for piece in body_stream(request):
        buf += piece
        if len(buf) > MAX_JSON_BODY:
            raise MalformedJSON(f"a JSON request body may be at most {MAX_JSON_BODY} bytes")
    if not buf.strip():
        return None
    try:
        return json.loads(buf)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise MalformedJSON(f"the body is not valid JSON: {exc}") from None


def write_condition(request: Request) -> WriteCondition:
    """The ``If-Match`` / ``If-None-Match`` preconditions of a write, for compare-and-swap."""
    return WriteCondition(
        if_match=request.headers.get("if-match"),
        if_none_match=request.headers.get("if-none-match"),
    )


MAX_COUNTER = 2**63 - 1
"""The largest sequence number or page size a query may name: the stores keep signed 64-bit
integers, so a larger one is bad input (400), not a driver overflow (500)."""


def bounded_int(raw: str, *, name: str, minimum: int = 0, maximum: int = MAX_COUNTER) -> int:
    """Parse a decimal query value within ``[minimum, maximum]`` or raise ``InvalidArgument``;
    one rule for every integer a request carries, so no surface passes a value the stores
    cannot hold."""
    if not raw.isascii() or not raw.isdigit() or len(raw) > 19:
        raise InvalidArgument(f"{name} must be an integer from {minimum} to {maximum}")
    value = int(raw)
    if not minimum <= value <= maximum:
        raise InvalidArgument(f"{name} must be an integer from {minimum} to {maximum}")
    return value


def int_param(
    request: Request, name: str, *, minimum: int = 0, maximum: int = MAX_COUNTER
) -> int | None:
    """The integer query parameter ``name`` (absent or empty is ``None``), bounded as
    ``bounded_int`` says."""
    value = request.query_params.get(name)
    if value is None or value == "":
        return None
    return bounded_int(value, name=f"query parameter {name!r}", minimum=minimum, maximum=maximum)


class _RequestIds:
    """Unique request ids without a syscall each: a random process prefix and a counter."""

    def __init__(self) -> None:
        self._prefix = secrets.token_hex(4)
        self._next = itertools.count(1).__next__

    def __call__(self) -> str:
        return f"{self._prefix}{self._next():08x}"


new_request_id = _RequestIds()


def close_if_body_unread(request: Request, response: Response) -> None:
    """Answering before reading the body (an early error, or a refused ``Expect: 100-continue``)
    leaves the connection's framing unknown: the client may or may not still send the body.
    Closing is the only safe end, or the next request would be read as this one's body."""
    if getattr(request, "_stream_consumed", False):
        return
    h = request.headers
    if "transfer-encoding" in h or h.get("content-length", "0") not in ("0", ""):
        response.headers["connection"] = "close"


def header_text(value: str) -> str:
    """The text a client meant by a header value: its raw bytes read as UTF-8 (servers hand
    headers over decoded as Latin-1), and RFC 2047 encoded words (``=?UTF-8?B?…?=``) decoded,
    as S3 treats user metadata. Bytes that are not UTF-8 stay Latin-1."""
    try:
        text = value.encode("latin-1").decode("utf-8")
    except (UnicodeEncodeError, UnicodeDecodeError):
        text = value
    if "=?" not in text:
        return text
    try:
        parts = email.header.decode_header(text)
    except (ValueError, email.errors.HeaderParseError):
        return text
    return "".join(
        p.decode(charset or "utf-8", "replace") if isinstance(p, bytes) else p
        for p, charset in parts
    )


def header_value(text: str) -> str:
    """Text for a response header: as it is when it is printable US-ASCII, otherwise one RFC
    2047 encoded word, as S3 returns non-ASCII metadata (headers carry ASCII safely only)."""
    if all(" " <= c <= "~" or c == "\t" for c in text):
        return text
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="
