"""Canned ACLs over S3: Put/GetBucketAcl and Put/GetObjectAcl, as AWS's grant documents.

Only canned ACLs are set (the ``x-amz-acl`` header); a body of explicit grants is refused as
NotImplemented. What each ACL allows is decided by the service's access policy.
"""

from __future__ import annotations

from starlette.responses import Response

from xolo.api.s3 import xml
from xolo.api.s3.context import S3Request
from xolo.api.s3.objects import version_headers, version_query
from xolo.core.acl import (
    AUTHENTICATED_READ,
    PRIVATE,
    PUBLIC_READ,
    PUBLIC_READ_WRITE,
)
from xolo.core.errors import NotImplementedByXolo

XSI = "http://www.w3.org/2001/XMLSchema-instance"
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"

_GROUP_GRANTS: dict[str, list[tuple[str, str]]] = {
    PRIVATE: [],
    PUBLIC_READ: [(ALL_USERS, "READ")],
    PUBLIC_READ_WRITE: [(ALL_USERS, "READ"), (ALL_USERS, "WRITE")],
    AUTHENTICATED_READ: [(AUTHENTICATED_USERS, "READ")],
}


def _grantee(kind: str, *children: str) -> str:
    return f'<Grantee xmlns:xsi="{XSI}" xsi:type="{kind}">{"".join(children)}</Grantee>'


def policy_document(owner: str, acl: str) -> str:
    """The AccessControlPolicy a canned ACL stands for: the owner's FULL_CONTROL, then the
    groups it opens to."""
    grants = [
        xml.raw(
            "Grant",
            _grantee("CanonicalUser", xml.el("ID", owner), xml.el("DisplayName", owner)),
            xml.el("Permission", "FULL_CONTROL"),
        )
    ]
    for uri, permission in _GROUP_GRANTS.get(acl, []):
        grants.append(
            xml.raw(
                "Grant", _grantee("Group", xml.el("URI", uri)), xml.el("Permission", permission)
            )
        )
    return xml.document(
        "AccessControlPolicy", xml.owner(owner), xml.raw("AccessControlList", *grants)
    )


async def _canned(r: S3Request) -> str:
    acl = r.request.headers.get("x-amz-acl")
    body = await r.body().read(xml.MAX_XML)
    if acl is None or body.strip() or any(n.startswith("x-amz-grant-") for n in r.request.headers):
        raise NotImplementedByXolo("only canned ACLs (x-amz-acl) are supported, not grant lists")
    return acl


async def get_bucket_acl(r: S3Request) -> Response:
    """GetBucketAcl: the bucket's canned ACL as AWS's AccessControlPolicy document."""
    await r.require("admin")
    acl = await r.service.bucket_acl(r.bucket)
    owner = (await r.service.get_bucket(r.bucket)).owner or r.owner_id
    return xml.xml_response(policy_document(owner, acl))


async def put_bucket_acl(r: S3Request) -> Response:
    """PutBucketAcl: set the bucket's canned ACL from ``x-amz-acl``."""
    await r.require("admin")
    await r.service.set_bucket_acl(r.bucket, await _canned(r))
    return Response()


async def get_object_acl(r: S3Request) -> Response:
    """GetObjectAcl: an object version's canned ACL (private if none) as a policy document."""
    await r.require("admin")
    record = await r.service.head_object(r.bucket, r.key, version_id=version_query(r))
    owner = (await r.service.get_bucket(r.bucket)).owner or r.owner_id
    return xml.xml_response(
        policy_document(owner, record.acl or PRIVATE),
        headers=version_headers(record, asked="versionId" in r.query),
    )


async def put_object_acl(r: S3Request) -> Response:
    """PutObjectAcl: set an object version's canned ACL from ``x-amz-acl``; write access will do."""
    await r.require("write")
    record = await r.service.set_object_acl(
        r.bucket, r.key, await _canned(r), version_id=version_query(r)
    )
    return Response(headers=version_headers(record, asked="versionId" in r.query))
