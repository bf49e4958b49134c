"""Turning errors into responses: ``{"error": {"code", "message", "request_id"}}``."""

from __future__ import annotations

import json
import logging

from starlette.responses import Response

from xolo.core.conditions import format_http_date
from xolo.core.errors import InvalidRange, NotModified, XoloError

log = logging.getLogger("xolo.api")


def error_response(exc: XoloError, request_id: str, *, head: bool = False) -> Response:
    """The response for ``exc``: the JSON error document (its code in a header too, for HEAD), or a
    bare 304 for ``NotModified``."""
    headers = {"x-request-id": request_id}
    if isinstance(exc, NotModified):
        etag = exc.details.get("etag")
        if etag:
            headers["etag"] = f'"{etag}"'
        modified = exc.details.get("modified")
        if modified:
            headers["last-modified"] = format_http_date(float(modified))
        return Response(status_code=304, headers=headers)
    # The code travels in a header too, so the answer to a HEAD (no body) still names it.
    headers["x-xolo-error-code"] = exc.code
    if exc.details.get("delete_marker") == "true":
        headers["x-xolo-delete-marker"] = "true"
        headers["x-xolo-version-id"] = exc.details.get("version_id", "null")
    if isinstance(exc, InvalidRange) and exc.size is not None:
        headers["content-range"] = f"bytes */{exc.size}"
    body = json.dumps(
        {"error": {"code": exc.code, "message": exc.message, "request_id": request_id}}
    ).encode()
    if head:
        return Response(status_code=exc.status, headers=headers)
    return Response(body, status_code=exc.status, headers=headers, media_type="application/json")


def internal_error(exc: BaseException, request_id: str) -> Response:
    """Log an unexpected failure under its request id; answer a generic 500 that leaks nothing."""
    log.exception("request %s failed", request_id, exc_info=exc)
    return error_response(XoloError("internal error; see the server log"), request_id)
