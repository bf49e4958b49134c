"""AWS Signature Version 2 for S3 (HMAC-SHA1), as boto3 still uses for presigned URLs by default.

Supported for compatibility: presigned query strings (AWSAccessKeyId, Signature, Expires) and
``Authorization: AWS key:signature`` headers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import urllib.parse
from collections.abc import Iterable

SUBRESOURCES = frozenset(
    {
        "acl",
        "cors",
        "delete",
        "lifecycle",
        "location",
        "logging",
        "notification",
        "partNumber",
        "policy",
        "requestPayment",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
        "restore",
        "tagging",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
    }
)
"""Query parameters that are part of the signed resource."""


def canonical_resource(resource_path: str, raw_query: str) -> str:
    """The bucket-qualified path as sent, plus the signed subresources in order."""
    pairs = []
    for item in raw_query.split("&") if raw_query else ():
        name, sep, value = item.partition("=")
        name = urllib.parse.unquote(name)
        if name in SUBRESOURCES:
            pairs.append((name, urllib.parse.unquote(value) if sep else None))
    if not pairs:
        return resource_path
    pairs.sort()
    return resource_path + "?" + "&".join(n if v is None else f"{n}={v}" for n, v in pairs)


def string_to_sign(
    method: str,
    headers: Iterable[tuple[str, str]],
    *,
    expires: str | None,
    resource: str,
) -> str:
    """Presigned URLs sign ``Expires`` in the date line; headers sign ``Date``, or nothing when
    ``x-amz-date`` is sent (it is signed among the x-amz-* headers instead)."""
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(value.strip())
    amz = "".join(
        f"{name}:{','.join(values[name])}\n" for name in sorted(values) if name.startswith("x-amz-")
    )
    if expires is not None:
        date_line = expires
    else:
        date_line = "" if "x-amz-date" in values else values.get("date", [""])[0]
    first = values.get("content-md5", [""])[0], values.get("content-type", [""])[0]
    return f"{method}\n{first[0]}\n{first[1]}\n{date_line}\n{amz}{resource}"


def signature(secret: str, to_sign: str) -> str:
    """The V2 signature of ``to_sign``: base64 HMAC-SHA1 under the secret."""
    return base64.b64encode(
        hmac.new(secret.encode(), to_sign.encode(), hashlib.sha1).digest()
    ).decode()


def matches(expected: str, given: str) -> bool:
    """Compare signatures in constant time, so timing reveals nothing of the expected one."""
    return hmac.compare_digest(expected.encode(), given.encode())
