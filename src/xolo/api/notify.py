"""Notification targets of the change feed: ``/v1/admin/notify`` (admin on the bucket)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from xolo.api.http import iso_time, json_body
from xolo.core.errors import InvalidArgument, MalformedJSON
from xolo.core.records import NotifyTarget
from xolo.service.auth import Principal
from xolo.service.notify import NotifyAdmin

FIELDS = {"kind", "url", "bucket", "prefix", "types", "subject", "after"}


def target_json(t: NotifyTarget) -> dict[str, Any]:
    """A notification target as the admin API shows it, with its delivery state; not its secret."""
    return {
        "id": t.id,
        "kind": t.kind,
        "url": t.target,
        "subject": t.subject,
        "bucket": t.bucket,
        "prefix": t.prefix,
        "types": list(t.types),
        "cursor": t.cursor,
        "state": t.state,
        "failures": t.failures,
        "last_error": t.last_error,
        "next_try": iso_time(t.next_try) if t.next_try else None,
        "created": iso_time(t.created),
    }


class NotifyAPI:
    """Handlers for managing where events are delivered."""

    def __init__(self, admin: NotifyAdmin) -> None:
        self._admin = admin

    async def targets(self, request: Request) -> Response:
        """Answer ``/v1/admin/notify``: GET lists the caller's targets, POST creates one (a
        webhook's signing secret is shown once)."""
        caller: Principal | None = request.state.principal
        if request.method == "GET":
            return JSONResponse(
                {"targets": [target_json(t) for t in await self._admin.list(caller)]}
            )
        doc = await json_body(request)
        if not isinstance(doc, Mapping):
            raise MalformedJSON("expected {kind, url, bucket, prefix?, types?, subject?, after?}")
        unknown = set(doc) - FIELDS
        if unknown:
            raise InvalidArgument(f"unknown fields: {sorted(unknown)}")
        strings = {k: doc.get(k) for k in ("kind", "url", "bucket")}
        if not all(isinstance(v, str) for v in strings.values()):
            raise InvalidArgument("kind, url and bucket must be strings")
        types = doc.get("types") or []
        after = doc.get("after")
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise InvalidArgument("types must be a list of event types")
        if after is not None and (not isinstance(after, int) or after < 0):
            raise InvalidArgument("after must be a sequence number")
        made, secret = await self._admin.create(
            caller,
            kind=str(doc["kind"]),
            target=str(doc["url"]),
            bucket=str(doc["bucket"]),
            prefix=str(doc.get("prefix") or ""),
            types=types,
            subject=doc.get("subject") if isinstance(doc.get("subject"), str) else None,
            after=after,
        )
        body = target_json(made)
        if secret is not None:
            body["secret"] = secret  # shown this once: webhooks check X-Xolo-Signature with it
        return JSONResponse(body, status_code=201, headers={"cache-control": "no-store"})

    async def target(self, request: Request) -> Response:
        """Answer ``/v1/admin/notify/{target_id}``: GET shows it, PATCH ``{"state": "active"}``
        revives a dead one, DELETE removes it."""
        caller: Principal | None = request.state.principal
        target_id = request.path_params["target_id"]
        if request.method == "DELETE":
            await self._admin.delete(caller, target_id)
            return Response(status_code=204)
        if request.method == "PATCH":
            doc = await json_body(request)
            if doc != {"state": "active"}:
                raise InvalidArgument(
                    'the one change is {"state": "active"} (revive a dead target)'
                )
            return JSONResponse(target_json(await self._admin.revive(caller, target_id)))
        return JSONResponse(target_json(await self._admin.get(caller, target_id)))
