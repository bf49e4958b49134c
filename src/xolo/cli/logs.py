"""Logging that never writes a credential: the access log's query strings are redacted.

Presigned URLs carry their credentials in the query (``x-xolo-presign``, ``X-Amz-Signature``,
``Signature``), so a plain access log would hand every presigned URL to whoever reads the logs.
"""

from __future__ import annotations

import logging
import re

_SENSITIVE = re.compile(
    r"(?i)([?&][^=&]*(?:presign|signature|token|secret|credential)[^=&]*=)[^&\s]*"
)


def redact(path: str) -> str:
    """``path`` with the value of every credential-bearing query parameter replaced."""
    return _SENSITIVE.sub(r"\1[redacted]", path)


class RedactQuery(logging.Filter):
    """For uvicorn's access log records: (client, method, path, http version, status)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Redact the record's path in place; every record is still logged."""
        args = record.args
        if isinstance(args, tuple) and len(args) >= 3 and isinstance(args[2], str):
            record.args = (*args[:2], redact(args[2]), *args[3:])
        return True


def install() -> None:
    """Redact the access log of this process (idempotent)."""
    logger = logging.getLogger("uvicorn.access")
    if not any(isinstance(f, RedactQuery) for f in logger.filters):
        logger.addFilter(RedactQuery())
