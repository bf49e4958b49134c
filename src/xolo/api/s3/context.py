"""What every S3 handler needs: the service, the caller, and access checks."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from starlette.requests import Request

from xolo.api.metrics import Metrics
from xolo.api.s3.auth import S3Body, S3Caller
from xolo.service.objects import ObjectService
from xolo.service.policy import Level

DEFAULT_REGION = "us-east-1"


@dataclass
class S3Request:
    """One S3 request as handlers see it: the bucket and key it names, its caller, the service."""

    request: Request
    caller: S3Caller
    bucket: str
    key: str
    service: ObjectService
    region: str
    metrics: Metrics

    @cached_property
    def query(self) -> dict[str, str]:
        """The query parameters, parsed once; S3 routes on them (``?acl``, ``?uploads``, ...)."""
        return dict(self.request.query_params)

    def body(self) -> S3Body:
        """The request body as S3 clients send it (``aws-chunked`` decoded, checksums checked)."""
        return S3Body.of(self.request, self.caller)

    @property
    def owner_id(self) -> str:
        """The id to show as owner in S3 documents: the caller's access key, or ``anonymous``."""
        principal = self.caller.principal
        return principal.access_key if principal else "anonymous"

    async def require_object_read(self, version_id: str | None) -> None:
        """Read access to this request's object: the bucket's, or the object's own ACL."""

        async def acl() -> str | None:
            return await self.service.object_acl(self.bucket, self.key, version_id=version_id)

        await self.service.policy.require_object_read(self.caller.principal, self.bucket, acl)

    async def require(self, level: Level, bucket: str | None = None) -> None:
        """Ask the service's access policy (anonymous refusals are answered as AccessDenied)."""
        bucket = bucket if bucket is not None else self.bucket
        await self.service.policy.require(self.caller.principal, level, bucket or None)
