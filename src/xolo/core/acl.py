"""Canned ACLs: the few access grants S3 clients set by name, and what each allows.

Custom grant lists are not supported (S3 answers them NotImplemented here); the canned ones
cover what tools send. A bucket's ACL decides who may list and read it; an object's ACL may
open that one version to anonymous or authenticated readers even in a private bucket.
"""

from __future__ import annotations

from xolo.core.errors import InvalidArgument

PRIVATE = "private"
PUBLIC_READ = "public-read"
PUBLIC_READ_WRITE = "public-read-write"
AUTHENTICATED_READ = "authenticated-read"

BUCKET_ACLS = (PRIVATE, PUBLIC_READ, PUBLIC_READ_WRITE, AUTHENTICATED_READ)
OBJECT_ACLS = (
    PRIVATE,
    PUBLIC_READ,
    PUBLIC_READ_WRITE,
    AUTHENTICATED_READ,
    "bucket-owner-read",
    "bucket-owner-full-control",
)
"""Object ACLs S3 accepts; the two ``bucket-owner-*`` ones grant nothing beyond private here,
since the bucket's owner already has full control."""


def check_bucket_acl(acl: str) -> str:
    """The ACL a bucket may be given, refused by name when S3 does not define it for buckets."""
    if acl not in BUCKET_ACLS:
        raise InvalidArgument(f"unknown canned ACL {acl!r}; known: {', '.join(BUCKET_ACLS)}")
    return acl


def check_object_acl(acl: str) -> str:
    """The ACL an object may be given; objects also take the two ``bucket-owner-*`` ones."""
    if acl not in OBJECT_ACLS:
        raise InvalidArgument(f"unknown canned ACL {acl!r}; known: {', '.join(OBJECT_ACLS)}")
    return acl


def anonymous_reads(acl: str | None) -> bool:
    """Whether anyone, signed or not, may read under this ACL."""
    return acl in (PUBLIC_READ, PUBLIC_READ_WRITE)


def anonymous_writes(acl: str | None) -> bool:
    """Whether unsigned callers may write under this ACL (only ``public-read-write`` lets them)."""
    return acl == PUBLIC_READ_WRITE


def authenticated_reads(acl: str | None) -> bool:
    """Whether any caller with a valid key (of any grants) may read under this ACL."""
    return acl in (PUBLIC_READ, PUBLIC_READ_WRITE, AUTHENTICATED_READ)


def effective_bucket_acl(acl: str, public_read: bool) -> str:
    """The canned ACL a bucket behaves by, from its configured ACL and its ``public_read``
    setting (which the native API changes alone): the setting wins where they disagree, so
    turning ``public_read`` off always closes the bucket to anonymous callers."""
    if public_read:
        return acl if anonymous_reads(acl) else PUBLIC_READ
    return AUTHENTICATED_READ if acl == AUTHENTICATED_READ else PRIVATE
