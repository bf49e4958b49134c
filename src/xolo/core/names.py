"""Validation of bucket names, object keys, metadata and tags.

Each violation raises an error whose message names the rule that was broken, so a client can
fix its request without reading our source.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
import urllib.parse
from collections.abc import Mapping

from xolo.core.errors import (
    InvalidArgument,
    InvalidBucketName,
    InvalidKeyName,
    InvalidMetadata,
    InvalidTag,
    TooManyTags,
)

MAX_KEY_BYTES = 1024
"""S3's limit; keys longer than this cannot round-trip through S3 clients."""

MAX_METADATA_BYTES = 2048
"""S3's limit on user metadata (names plus values), so objects stay S3-portable."""

MAX_TAGS = 10
MAX_TAG_KEY = 128
MAX_TAG_VALUE = 256
"""Tag limits follow S3 object tagging."""

MAX_CONTENT_TYPE = 256

_BUCKET_CHARS = re.compile(r"^[a-z0-9][a-z0-9.-]*[a-z0-9]$")
_META_NAME = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]+$")
_RESERVED_BUCKET_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_BUCKET_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")


def check_bucket_name(name: str) -> str:
    """Apply S3's DNS-compatible bucket naming rules."""
    if not 3 <= len(name) <= 63:
        raise InvalidBucketName(f"bucket name must be 3 to 63 characters long, got {len(name)}")
    if not _BUCKET_CHARS.match(name):
        raise InvalidBucketName(
            "bucket name may hold only lowercase letters, digits, '.' and '-', "
            "and must begin and end with a letter or digit"
        )
    if ".." in name:
        raise InvalidBucketName("bucket name must not contain two adjacent periods")
    if ".-" in name or "-." in name:
        raise InvalidBucketName("bucket name must not have a period next to a hyphen")
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        pass
    else:
        raise InvalidBucketName("bucket name must not be formatted as an IP address")
    if name.startswith(_RESERVED_BUCKET_PREFIXES):
        raise InvalidBucketName(f"bucket name must not start with {_RESERVED_BUCKET_PREFIXES}")
    if name.endswith(_RESERVED_BUCKET_SUFFIXES):
        raise InvalidBucketName(f"bucket name must not end with {_RESERVED_BUCKET_SUFFIXES}")
    return name


def check_key(key: str) -> bytes:
    """Validate an object key and return its UTF-8 encoding (the form stores sort by)."""
    try:
        raw = key.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidKeyName("key must be valid UTF-8") from None
    if not raw:
        raise InvalidKeyName("key must not be empty")
    if len(raw) > MAX_KEY_BYTES:
        raise InvalidKeyName(f"key must be at most {MAX_KEY_BYTES} bytes of UTF-8, got {len(raw)}")
    if b"\x00" in raw:
        raise InvalidKeyName("key must not contain the NUL character")
    return raw


def check_metadata(metadata: Mapping[str, str]) -> dict[str, str]:
    """Validate user metadata; names are case-insensitive and stored lowercased. Values are
    text without control characters: non-ASCII text is allowed and travels in headers as RFC
    2047 encoded words, as S3 does; the limit counts UTF-8 bytes."""
    out: dict[str, str] = {}
    total = 0
    for name, value in metadata.items():
        lname = name.lower()
        if not _META_NAME.match(lname):
            raise InvalidMetadata(f"metadata name {name!r} must be an HTTP header token")
        if not isinstance(value, str) or any(
            (c < " " and c != "\t") or "\x7f" <= c <= "\x9f" or "\ud800" <= c <= "\udfff"
            for c in value
        ):
            raise InvalidMetadata(
                f"metadata value for {name!r} must be text without control characters"
            )
        total += len(lname.encode()) + len(value.encode())
        out[lname] = value
    if total > MAX_METADATA_BYTES:
        raise InvalidMetadata(
            f"user metadata must total at most {MAX_METADATA_BYTES} bytes, got {total}"
        )
    return out


def check_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Validate object tags against S3's tagging limits: at most 10, keys of 1 to 128
    characters not starting with ``aws:``, values of at most 256."""
    if len(tags) > MAX_TAGS:
        raise TooManyTags(f"Object tags cannot be greater than {MAX_TAGS} (got {len(tags)})")
    for k, v in tags.items():
        if not isinstance(k, str) or not isinstance(v, str):
            raise InvalidTag("tag keys and values must be strings")
        if not 1 <= len(k) <= MAX_TAG_KEY:
            raise InvalidTag(f"a tag key must be 1 to {MAX_TAG_KEY} characters")
        if len(v) > MAX_TAG_VALUE:
            raise InvalidTag(f"a tag value must be at most {MAX_TAG_VALUE} characters")
        if k.lower().startswith("aws:"):
            raise InvalidTag("a tag key may not start with 'aws:' (reserved)")
    return dict(tags)


def tags_from_query(text: str | None) -> dict[str, str]:
    """Tags from S3's ``x-amz-tagging`` form (``k1=v1&k2=v2``, URL-encoded); a key given twice
    is refused, as S3 does, rather than silently keeping one value."""
    tags: dict[str, str] = {}
    for k, v in urllib.parse.parse_qsl(text or "", keep_blank_values=True):
        if k in tags:
            raise InvalidTag(f"the tag key {k!r} is given more than once")
        tags[k] = v
    return check_tags(tags)


def check_content_type(content_type: str) -> str:
    """A content type, refused when too long or holding control characters (it becomes a header)."""
    if len(content_type) > MAX_CONTENT_TYPE or any(ord(c) < 0x20 for c in content_type):
        raise InvalidMetadata(
            f"content type must be at most {MAX_CONTENT_TYPE} printable characters"
        )
    return content_type


REPRESENTATION_HEADERS = (
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
)
"""Headers stored with an object and returned on reads, as S3 does."""


def check_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """Representation headers to store, lower-cased; any other header or unsafe value is refused."""
    out: dict[str, str] = {}
    for name, value in headers.items():
        lname = name.lower()
        if lname not in REPRESENTATION_HEADERS:
            raise InvalidMetadata(f"{name!r} is not a stored representation header")
        if len(value) > 1024 or not all(c == "\t" or " " <= c <= "~" for c in value):
            raise InvalidMetadata(f"{name} must be at most 1024 printable US-ASCII characters")
        out[lname] = value
    return out


_PEER_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


def check_peer_id(peer_id: str) -> str:
    """A peer id: 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit (it
    appears in URLs, logs and placement hashes)."""
    if not _PEER_ID.match(peer_id):
        raise InvalidArgument(
            "a peer id is 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return peer_id


def new_upload_id(nbytes: int = 24) -> str:
    """A random URL-safe upload id that starts with a letter or a digit: command lines read an
    argument that starts with ``-`` as an option, so ``aws s3api upload-part --upload-id -K…``
    failed for one id in 32."""
    while True:
        candidate = secrets.token_urlsafe(nbytes)
        if candidate[0].isalnum():
            return candidate
