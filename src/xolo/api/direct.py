"""Direct transfers over the native API: a plan of signed chunk URLs, then a manifest commit.

``POST /v1/buckets/{bucket}/direct`` with ``{"chunks": [[sha256, size], ...]}`` answers, per
chunk, ``have`` (enough copies exist: send nothing) or ``urls``: signed ``PUT`` URLs on the
peers placement chose (or on this server, for ``xolo serve``), valid ``ttl`` seconds. ``PUT
/v1/buckets/{bucket}/manifests/{key}`` with ``{"chunks": [...], "plan", "receipts", "proofs",
"content_type", "metadata"}`` (and ``If-Match``/``If-None-Match``) commits the object once
every chunk has its copies and its evidence (``service/direct.py``).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from xolo.api.http import iso_time, json_body, write_condition
from xolo.api.native import object_json
from xolo.core.errors import InvalidArgument, MalformedJSON
from xolo.core.records import ChunkRef
from xolo.service.auth import ClusterGuard, Principal
from xolo.service.direct import Evidence
from xolo.service.objects import ObjectService

URL_TTL = 900.0
"""Seconds a signed chunk URL of a plan stays valid."""


def _chunks(doc: Any) -> list[ChunkRef]:
    if not isinstance(doc, Mapping) or not isinstance(doc.get("chunks"), list):
        raise MalformedJSON('expected {"chunks": [[sha256, size], ...], ...}')
    refs = []
    for entry in doc["chunks"]:
        if (
            not isinstance(entry, list)
            or len(entry) != 2
            or not isinstance(entry[0], str)
            or not isinstance(entry[1], int)
            or isinstance(entry[1], bool)
        ):
            raise MalformedJSON("each chunk is [sha256, size]")
        refs.append(ChunkRef(sha256=entry[0], size=entry[1]))
    return refs


def _evidence(doc: Mapping[str, Any]) -> Evidence:
    """The commit's evidence: its plan token and, per chunk, a receipt or a proof."""
    plan = doc.get("plan")
    if not isinstance(plan, str):
        raise InvalidArgument(
            'a direct commit carries the plan token its chunks were sent under ("plan")'
        )
    found: list[dict[str, str]] = []
    for name in ("receipts", "proofs"):
        value = doc.get(name) or {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in value.items()
        ):
            raise MalformedJSON(f"{name} must map chunk names to strings")
        found.append(dict(value))
    return Evidence(plan=plan, receipts=found[0], proofs=found[1])


class DirectAPI:
    """Handlers of the two direct-transfer routes."""

    def __init__(self, service: ObjectService, guard: ClusterGuard) -> None:
        self.service = service
        self.guard = guard

    async def _require_write(self, request: Request, bucket: str) -> None:
        principal: Principal | None = request.state.principal
        await self.service.policy.require(principal, "write", bucket)

    async def plan(self, request: Request) -> Response:
        """Answer, per chunk, ``have`` or signed ``PUT`` URLs, all tied to one plan token whose
        receipts the commit will check."""
        bucket = request.path_params["bucket"]
        await self._require_write(request, bucket)
        plan = await self.service.plan_direct(bucket, _chunks(await json_body(request)))
        token, challenge = self.guard.issue_plan(bucket=bucket, ttl=URL_TTL)
        ticket = urllib.parse.urlencode({"x-xolo-plan": token})
        here = str(request.base_url).rstrip("/")
        expires_at = 0.0
        chunks = []
        for chunk in plan.chunks:
            urls = []
            for base in chunk.urls if chunk.urls else (() if chunk.have else (here,)):
                query, expires_at = self.guard.sign_chunk_url(
                    method="PUT", sha256=chunk.sha256, ttl=URL_TTL
                )
                urls.append(f"{base}/v1/chunks/{chunk.sha256}?{query}&{ticket}")
            chunks.append(
                {"sha256": chunk.sha256, "size": chunk.size, "have": chunk.have, "urls": urls}
            )
        return JSONResponse(
            {
                "copies": plan.copies if any(c.urls for c in plan.chunks) else 1,
                "write_quorum": plan.write_quorum,
                "expires_at": iso_time(expires_at) if expires_at else None,
                "plan": token,
                "challenge": challenge,
                "chunks": chunks,
            }
        )

    async def read(self, request: Request) -> Response:
        """Where each chunk of an object version may be read directly: signed GET URLs."""
        bucket = request.path_params["bucket"]
        key = request.path_params["key"]
        version_id = request.query_params.get("version_id")
        principal: Principal | None = request.state.principal

        async def acl() -> str | None:
            return await self.service.object_acl(bucket, key, version_id=version_id)

        await self.service.policy.require_object_read(principal, bucket, acl)
        found = await self.service.read_direct(bucket, key, version_id=version_id)
        here = str(request.base_url).rstrip("/")
        chunks = []
        for ref, bases in found.chunks:
            query, _ = self.guard.sign_chunk_url(method="GET", sha256=ref.sha256, ttl=URL_TTL)
            urls = [f"{b}/v1/chunks/{ref.sha256}?{query}" for b in (bases or (here,))]
            chunks.append({"sha256": ref.sha256, "size": ref.size, "urls": urls})
        doc = object_json(found.record)
        doc["inline"] = found.record.inline is not None
        doc["chunks"] = chunks
        return JSONResponse(doc)

    async def staging(self, request: Request) -> Response:
        """``POST /v1/buckets/{bucket}/staging`` with ``{"staging": "tmp/batch/", "final":
        "data/"}``: the whole batch appears under ``final`` at once."""
        bucket = request.path_params["bucket"]
        await self._require_write(request, bucket)
        doc = await json_body(request)
        if not isinstance(doc, Mapping) or set(doc) != {"staging", "final"}:
            raise MalformedJSON('expected {"staging": "PREFIX/", "final": "PREFIX/"}')
        if not all(isinstance(doc[k], str) for k in doc):
            raise MalformedJSON("staging and final are key prefixes (strings)")
        moved = await self.service.commit_staging(bucket, doc["staging"], doc["final"])
        return JSONResponse({"moved": len(moved), "keys": [r.key for r in moved]})

    async def commit(self, request: Request) -> Response:
        """Commit the manifest of chunks already sent, once the service has checked their
        copies and evidence; unknown fields are refused."""
        bucket = request.path_params["bucket"]
        key = request.path_params["key"]
        await self._require_write(request, bucket)
        doc = await json_body(request)
        refs = _chunks(doc)
        unknown = set(doc) - {"chunks", "content_type", "metadata", "plan", "receipts", "proofs"}
        if unknown:
            raise InvalidArgument(f"unknown fields: {sorted(unknown)}")
        evidence = _evidence(doc)
        metadata = doc.get("metadata") or {}
        if not isinstance(metadata, Mapping):
            raise MalformedJSON("metadata must be a JSON object of strings")
        record = await self.service.commit_direct(
            bucket,
            key,
            refs,
            content_type=doc.get("content_type"),
            metadata=metadata,
            condition=write_condition(request),
            evidence=evidence,
            guard=self.guard,
        )
        return JSONResponse(object_json(record), headers={"etag": f'"{record.etag}"'})
