"""The errors a client raises: xolo's one hierarchy, rebuilt from the server's error codes.

A failed request raises the class the server named (``NoSuchKey``, ``PreconditionFailed``, …),
found by its code in ``xolo.core.errors``; a code this client does not know becomes the class
of its HTTP status. Transport failures never escape as httpx exceptions::

    XoloError
    ├── BadRequest (400) …               InvalidArgument, InvalidTag, …
    ├── Unauthenticated (401)            also AuthenticationError
    ├── AccessDenied (403)               also PermissionDenied
    ├── NotFound (404)                   NoSuchBucket, NoSuchKey, NoSuchVersion, …
    ├── Conflict (409)                   BucketNotEmpty, BucketAlreadyExists, …
    ├── PreconditionFailed (412)
    ├── IntegrityError                   bytes that do not match their SHA-256
    └── ServiceUnavailable (503)         also RetryableError
        └── TransportError               no answer: refused, reset, timed out

``ServerError`` is XoloError itself: an answer of 500 with no code this client knows.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from xolo.core import errors as e
from xolo.core.errors import (
    AccessDenied,
    Conflict,
    IntegrityError,
    NotFound,
    PreconditionFailed,
    ServiceUnavailable,
    TransportError,
    Unauthenticated,
    XoloError,
)

AuthenticationError = Unauthenticated
PermissionDenied = AccessDenied
RetryableError = ServiceUnavailable
ServerError = XoloError

__all__ = [
    "AccessDenied",
    "AuthenticationError",
    "Conflict",
    "IntegrityError",
    "NotFound",
    "PermissionDenied",
    "PreconditionFailed",
    "RetryableError",
    "ServerError",
    "ServiceUnavailable",
    "TransportError",
    "Unauthenticated",
    "XoloError",
    "error_from_response",
]


def _by_code() -> dict[str, type[XoloError]]:
    found: dict[str, type[XoloError]] = {}
    for value in vars(e).values():
        if isinstance(value, type) and issubclass(value, XoloError):
            found.setdefault(value.code, value)
    return found


BY_CODE = _by_code()
"""Every error class of the hierarchy, by its code (each code names one class)."""

BY_STATUS: dict[int, type[XoloError]] = {
    400: e.BadRequest,
    401: Unauthenticated,
    403: AccessDenied,
    404: NotFound,
    405: e.MethodNotAllowed,
    409: Conflict,
    412: PreconditionFailed,
    416: e.InvalidRange,
    501: e.NotImplementedByXolo,
    503: ServiceUnavailable,
}


def error_from_response(status: int, body: bytes, headers: Mapping[str, str]) -> XoloError:
    """The error an answer stands for: the class its code names (the native API's
    ``{"error": {"code", "message"}}``, or its ``X-Xolo-Error-Code`` header on a HEAD), else
    the class of its status."""
    code, message = "", ""
    try:
        doc = json.loads(body) if body else {}
        if isinstance(doc, dict) and isinstance(doc.get("error"), dict):
            code = str(doc["error"].get("code") or "")
            message = str(doc["error"].get("message") or "")
    except ValueError:
        pass
    code = code or headers.get("x-xolo-error-code", "")
    cls = BY_CODE.get(code) or BY_STATUS.get(status) or XoloError
    details = {"status": str(status)}
    if headers.get("x-xolo-delete-marker") == "true":
        details["delete_marker"] = "true"
    if "retry-after" in headers:
        details["retry_after"] = headers["retry-after"]
    error = cls(message or f"the server answered {status}")
    error.details.update(details)
    return error
