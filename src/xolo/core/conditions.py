"""Conditional requests (RFC 9110 section 13): evaluated once here for every surface."""

from __future__ import annotations

import email.utils
from dataclasses import dataclass

from xolo.core.errors import ConcurrentUpdate, NoSuchKey, NotModified, PreconditionFailed


def parse_http_date(value: str | None) -> float | None:
    """An HTTP date as a POSIX timestamp; an unparseable date is ignored, as RFC 9110 says."""
    if not value:
        return None
    try:
        return email.utils.parsedate_to_datetime(value).timestamp()
    except (TypeError, ValueError, IndexError):
        return None


def format_http_date(ts: float) -> str:
    """A timestamp in the HTTP date form (IMF-fixdate, GMT) headers such as Last-Modified use."""
    return email.utils.formatdate(ts, usegmt=True)


def _tags(header: str) -> list[str]:
    out = []
    for part in header.split(","):
        tag = part.strip()
        if tag.startswith("W/"):
            tag = tag[2:]
        out.append(tag.strip('"'))
    return out


def etag_in(header: str, etag: str) -> bool:
    """Whether ``etag`` is named by an If-Match / If-None-Match header (``*`` matches any)."""
    tags = _tags(header)
    return "*" in tags or etag in tags


def check_read(
    *,
    etag: str,
    modified: float,
    if_match: str | None = None,
    if_none_match: str | None = None,
    if_modified_since: str | None = None,
    if_unmodified_since: str | None = None,
) -> None:
    """Raise PreconditionFailed (412) or NotModified (304) for a GET or HEAD."""
    whole_seconds = int(modified)
    if if_match is not None:
        if not etag_in(if_match, etag):
            raise PreconditionFailed("If-Match did not match the object's ETag")
    else:
        since = parse_http_date(if_unmodified_since)
        if since is not None and whole_seconds > since:
            raise PreconditionFailed("the object was modified after If-Unmodified-Since")
    if if_none_match is not None:
        if etag_in(if_none_match, etag):
            raise NotModified(etag=etag, modified=repr(modified))
    else:
        since = parse_http_date(if_modified_since)
        if since is not None and whole_seconds <= since:
            raise NotModified(etag=etag, modified=repr(modified))


@dataclass(frozen=True, slots=True)
class WriteCondition:
    """Preconditions of a mutation, checked by the metadata store inside its transaction.

    ``expect_version`` is internal: an append commits only if the object is still the version
    it read (``""`` meaning "still absent").
    """

    if_match: str | None = None
    if_none_match: str | None = None
    expect_version: str | None = None

    def check(self, current_etag: str | None, current_version: str | None) -> None:
        """Raise unless the current object (its ETag and version; None when absent) meets
        the conditions. ``If-Match`` on an absent key is NoSuchKey, as S3 answers it."""
        if self.if_match is not None and current_etag is None:
            raise NoSuchKey("If-Match was given, and the key does not exist")
        if self.if_match is not None and not etag_in(self.if_match, current_etag or ""):
            raise PreconditionFailed("If-Match did not match the current object")
        if (
            self.if_none_match is not None
            and current_etag is not None
            and etag_in(self.if_none_match, current_etag)
        ):
            raise PreconditionFailed("If-None-Match: the object already exists")
        if self.expect_version is not None and (current_version or "") != self.expect_version:
            raise ConcurrentUpdate()


NO_CONDITION = WriteCondition()
