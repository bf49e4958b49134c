"""S3's XML documents: small builders for responses, a strict parser for request bodies."""

from __future__ import annotations

import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from xml.sax.saxutils import escape

from starlette.responses import Response

from xolo.core.checksums import checksum_type
from xolo.core.conditions import format_http_date
from xolo.core.errors import (
    Conflict,
    InvalidArgument,
    InvalidKeyName,
    MalformedXML,
    NotFound,
    NotModified,
    ServiceUnavailable,
    XoloError,
)
from xolo.service.multipart import ListedPart

NS = "http://s3.amazonaws.com/doc/2006-03-01/"
MAX_XML = 4 * 1024 * 1024
"""A CompleteMultipartUpload of 10 000 parts is about 1 MiB; leave room, refuse more."""


def iso(ts: float) -> str:
    """A POSIX time as S3 writes timestamps in XML: UTC, always with milliseconds and ``Z``."""
    return (
        datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.")
        + f"{int(ts * 1000) % 1000:03d}Z"
    )


def el(name: str, value: object | None = None) -> str:
    """One element, its value escaped; ``None`` is an empty element, a bool ``true``/``false``."""
    if value is None:
        return f"<{name}/>"
    if isinstance(value, bool):
        value = "true" if value else "false"
    return f"<{name}>{escape(str(value))}</{name}>"


def raw(name: str, *children: str) -> str:
    """One element around children that are XML already, so builders nest without escaping twice."""
    return f"<{name}>{''.join(children)}</{name}>"


def document(root: str, *children: str) -> str:
    """A response document: the XML declaration, and the root in the S3 namespace SDKs expect."""
    return (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">{"".join(children)}</{root}>'
    )


def xml_response(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """An XML body as a response, with the media type S3 clients expect."""
    return Response(
        body.encode(), status_code=status, headers=headers, media_type="application/xml"
    )


def encode_key(value: str, url: bool) -> str:
    """A key (or prefix, marker) as ``encoding-type=url`` listings give it, as AWS was seen to:
    form encoding with ``/`` kept, so a space is ``+``, a ``+`` is ``%2B`` and a control
    character such as U+0001 is ``%01``, which XML 1.0 could not carry."""
    return urllib.parse.quote_plus(value, safe="/") if url else value


# -- errors -------------------------------------------------------------------------------------

_RENAMES: dict[str, tuple[str, int]] = {
    "Unauthenticated": ("AccessDenied", 403),
    "InvalidCredentials": ("AccessDenied", 403),
    "InvalidKeyName": ("InvalidArgument", 400),
    "InvalidMetadata": ("InvalidArgument", 400),
    "InvalidChunkName": ("InvalidArgument", 400),
    "MalformedJSON": ("MalformedXML", 400),
    "SizeMismatch": ("IncompleteBody", 400),
    "ConcurrentUpdate": ("OperationAborted", 409),
    "BadRequest": ("InvalidRequest", 400),
    "TooManyTags": ("BadRequest", 400),
}


def s3_code(exc: XoloError) -> tuple[str, int]:
    """The S3 code and status for an error; native-only codes map to their S3 equivalents."""
    if isinstance(exc, InvalidKeyName) and "1024" in exc.message:
        return "KeyTooLongError", 400
    if exc.code in _RENAMES:
        return _RENAMES[exc.code]
    if type(exc) is NotFound:
        return "NoSuchKey", 404
    if type(exc) is Conflict:
        return "OperationAborted", 409
    if isinstance(exc, ServiceUnavailable):
        return "ServiceUnavailable", 503  # S3 has one code for every retryable unavailability
    return exc.code, exc.status


def error_response(exc: XoloError, resource: str, request_id: str, *, head: bool) -> Response:
    """The S3 error document for ``exc``, with the S3 code and status; headers only for HEAD, and a
    bare 304 for ``NotModified``."""
    headers = {"x-amz-request-id": request_id, "x-amz-id-2": request_id}
    if isinstance(exc, NotModified):
        return Response(status_code=304, headers=headers)
    code, status = s3_code(exc)
    if exc.details.get("delete_marker") == "true":
        headers["x-amz-delete-marker"] = "true"
        headers["x-amz-version-id"] = exc.details.get("version_id", "null")
        if "modified" in exc.details:
            headers["last-modified"] = format_http_date(float(exc.details["modified"]))
    if head:
        return Response(status_code=status, headers=headers)
    body = document(
        "Error",
        el("Code", code),
        el("Message", exc.message),
        el("Resource", resource),
        el("RequestId", request_id),
    )
    # S3 error documents carry no namespace.
    body = body.replace(f' xmlns="{NS}"', "", 1)
    return xml_response(body, status, headers)


# -- parsing ------------------------------------------------------------------------------------


def parse(body: bytes, root: str) -> ET.Element:
    """A request body parsed as the ``root`` document, namespaces dropped; anything too large,
    ill-formed or of another kind is MalformedXML."""
    if len(body) > MAX_XML:
        raise MalformedXML("the XML document is too large")
    try:
        doc = ET.fromstring(body)
    except ET.ParseError:
        raise MalformedXML("the XML you provided was not well-formed") from None
    for node in doc.iter():
        if isinstance(node.tag, str) and "}" in node.tag:
            node.tag = node.tag.split("}", 1)[1]
    if doc.tag != root:
        raise MalformedXML(f"expected a <{root}> document")
    return doc


def text(node: ET.Element, name: str) -> str | None:
    """The text of ``node``'s child ``name``: ``None`` when absent, so absent and empty differ."""
    child = node.find(name)
    return None if child is None else (child.text or "")


CHECKSUM_ELEMENTS = {
    "ChecksumCRC32": "crc32",
    "ChecksumCRC32C": "crc32c",
    "ChecksumCRC64NVME": "crc64nvme",
    "ChecksumSHA1": "sha1",
    "ChecksumSHA256": "sha256",
}
"""The XML element of each checksum algorithm."""


def parse_complete(body: bytes) -> list[ListedPart]:
    """CompleteMultipartUpload's document: the parts listed, with ETags and any part checksums."""
    doc = parse(body, "CompleteMultipartUpload")
    parts = []
    for part in doc.findall("Part"):
        number, etag = text(part, "PartNumber"), text(part, "ETag")
        if number is None or etag is None:
            raise MalformedXML("each Part needs a PartNumber and an ETag")
        sums = {
            algorithm: value
            for element, algorithm in CHECKSUM_ELEMENTS.items()
            if (value := text(part, element)) is not None
        }
        try:
            parts.append(ListedPart(number=int(number), etag=etag, checksums=sums))
        except ValueError:
            raise MalformedXML("PartNumber must be an integer") from None
    return parts


def checksum_elements(checksums: Mapping[str, str]) -> list[str]:
    """The ``Checksum*`` elements (and ``ChecksumType``) of a stored set of checksums."""
    names = {a: e for e, a in CHECKSUM_ELEMENTS.items()}
    out = [el(names[a], v) for a, v in checksums.items() if a in names]
    if out:
        out.append(el("ChecksumType", checksum_type(next(iter(checksums.values())))))
    return out


def parse_delete(body: bytes) -> tuple[list[tuple[str, str | None]], bool]:
    """DeleteObjects' document: (key, version id or None) per object, and Quiet."""
    doc = parse(body, "Delete")
    keys: list[tuple[str, str | None]] = []
    for obj in doc.findall("Object"):
        key = text(obj, "Key")
        if key is None:
            raise MalformedXML("each Object needs a Key")
        keys.append((key, text(obj, "VersionId")))
    if not keys:
        raise MalformedXML("the Delete document names no object")
    if len(keys) > 1000:
        raise MalformedXML("at most 1000 objects may be deleted at once")
    quiet = (text(doc, "Quiet") or "").strip().lower() == "true"
    return keys, quiet


def parse_versioning(body: bytes) -> str:
    """PutBucketVersioning's document: the Status (Enabled or Suspended)."""
    doc = parse(body, "VersioningConfiguration")
    status = text(doc, "Status")
    if status not in ("Enabled", "Suspended"):
        raise MalformedXML("VersioningConfiguration needs a Status of Enabled or Suspended")
    return status


def parse_location(body: bytes) -> str | None:
    """CreateBucket's optional document: its LocationConstraint, ``None`` without a body."""
    if not body.strip():
        return None
    doc = parse(body, "CreateBucketConfiguration")
    return text(doc, "LocationConstraint")


def owner(access_key: str) -> str:
    """The ``Owner`` element S3 documents carry; the access key stands for ID and display name."""
    return raw("Owner", el("ID", access_key), el("DisplayName", access_key))


def join(items: Iterable[str]) -> str:
    """Concatenate built elements, so a generator of children reads as one argument."""
    return "".join(items)


def check_int(value: str | None, name: str, default: int, *, low: int = 0, high: int = 1000) -> int:
    """An integer query or header value, ``default`` when absent; below ``low`` is an error, above
    ``high`` is lowered to it, as S3 caps page sizes."""
    if value is None or value == "":
        return default
    try:
        number = int(value)
    except ValueError:
        raise InvalidArgument(f"{name} must be an integer") from None
    if number < low:
        raise InvalidArgument(f"{name} must be at least {low}")
    return min(number, high)
