"""What a client tells about its requests: ``logging`` (logger ``xolo.client``, DEBUG) with
secrets, tokens and signatures redacted, and OpenTelemetry spans when ``opentelemetry-api`` is
installed (nothing is imported or done otherwise)."""

from __future__ import annotations

import logging
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

log = logging.getLogger("xolo.client")

SECRET_PARAMS = frozenset(
    {
        "x-xolo-signature",
        "x-xolo-presign",
        "x-amz-signature",
        "x-amz-credential",
        "x-amz-security-token",
        "signature",
        "awsaccesskeyid",
    }
)
"""Query parameters whose values are credentials: logged as ``REDACTED``."""

tracer: Any = None
SPAN_KIND: dict[str, Any] = {}
try:  # pragma: no cover - depends on the environment
    from opentelemetry.trace import SpanKind, get_tracer

    tracer = get_tracer("xolo.client")
    SPAN_KIND = {"kind": SpanKind.CLIENT}
except ImportError:  # pragma: no cover
    pass


def redact_url(url: str) -> str:
    """The URL without its credentials: userinfo dropped, secret query values replaced."""
    parts = urllib.parse.urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = urllib.parse.parse_qsl(parts.query, keep_blank_values=True)
    safe = [(k, "REDACTED" if k.lower() in SECRET_PARAMS else v) for k, v in query]
    return urllib.parse.urlunsplit(
        (parts.scheme, netloc, parts.path, urllib.parse.urlencode(safe), "")
    )


@contextmanager
def observed(method: str, url: str) -> Iterator[dict[str, Any]]:
    """Log one request (method, redacted URL, status, milliseconds) and, with OpenTelemetry,
    record it as a client span. The caller puts the status in the yielded dict."""
    shown = redact_url(url)
    outcome: dict[str, Any] = {}
    started = time.perf_counter()
    span_cm = (
        tracer.start_as_current_span(
            f"xolo {method}",
            attributes={"http.request.method": method, "url.full": shown},
            **SPAN_KIND,
        )
        if tracer is not None
        else None
    )
    span = span_cm.__enter__() if span_cm is not None else None
    try:
        yield outcome
    finally:
        ms = (time.perf_counter() - started) * 1000
        status = outcome.get("status")
        if span is not None and status is not None:
            span.set_attribute("http.response.status_code", status)
        if span_cm is not None:
            span_cm.__exit__(None, None, None)
        log.debug("%s %s -> %s in %.1f ms", method, shown, status or "no answer", ms)
