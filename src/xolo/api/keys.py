"""Key management (``/v1/admin/keys``) and native presigned URLs (``/v1/presign``).

Translations only: who may manage which key is decided in ``service/keys.py``, what a presigned
URL allows in ``service/auth.py``.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from xolo.api.http import iso_time, json_body
from xolo.core.errors import InvalidArgument, MalformedJSON
from xolo.core.names import check_key
from xolo.service.auth import Authenticator, Principal
from xolo.service.keys import KeyAdmin, KeyView

PRESIGN_PARAM = "x-xolo-presign"


def key_json(key: KeyView) -> dict[str, Any]:
    """A key as the admin API shows it; never its secret."""
    return {
        "access_key": key.access_key,
        "grants": dict(key.grants),
        "root": key.is_root,
        "disabled": key.disabled,
        "created": iso_time(key.created),
    }


def _caller(request: Request) -> Principal:
    principal: Principal | None = request.state.principal
    assert principal is not None  # these routes require credentials
    return principal


async def _object(request: Request) -> Mapping[str, Any]:
    doc = await json_body(request)
    if doc is None:
        return {}
    if not isinstance(doc, Mapping):
        raise MalformedJSON("expected a JSON object")
    return doc


class KeysAPI:
    """Handlers for key management and presigning."""

    def __init__(self, *, admin: KeyAdmin, auth: Authenticator) -> None:
        self._admin = admin
        self._auth = auth

    async def keys(self, request: Request) -> Response:
        """Answer ``/v1/admin/keys``: GET lists the keys the caller may manage, POST creates one and
        returns its secret, this once."""
        caller = _caller(request)
        if request.method == "POST":
            doc = await _object(request)
            unknown = set(doc) - {"grants"}
            if unknown:
                raise InvalidArgument(f"unknown fields: {sorted(unknown)}")
            key, secret = await self._admin.create(caller, doc.get("grants"))
            body = {**key_json(key), "secret_key": secret}
            return JSONResponse(body, status_code=201, headers={"cache-control": "no-store"})
        return JSONResponse({"keys": [key_json(k) for k in await self._admin.list(caller)]})

    async def key(self, request: Request) -> Response:
        """Answer ``/v1/admin/keys/{access_key}``: GET shows the key, PATCH changes its grants or
        disables it, DELETE removes it."""
        caller = _caller(request)
        access_key = request.path_params["access_key"]
        if request.method == "DELETE":
            await self._admin.delete(caller, access_key)
            return Response(status_code=204)
        if request.method == "PATCH":
            doc = await _object(request)
            unknown = set(doc) - {"grants", "disabled"}
            if unknown:
                raise InvalidArgument(f"unknown fields: {sorted(unknown)}")
            key = await self._admin.update(
                caller, access_key, grants=doc.get("grants"), disabled=doc.get("disabled")
            )
            return JSONResponse(key_json(key))
        return JSONResponse(key_json(await self._admin.get(caller, access_key)))

    async def grant(self, request: Request) -> Response:
        """Answer ``/v1/admin/keys/{access_key}/grants/{bucket}``: PUT ``{"level"}`` grants access
        to the bucket, DELETE revokes it."""
        caller = _caller(request)
        access_key, bucket = request.path_params["access_key"], request.path_params["bucket"]
        if request.method == "DELETE":
            key = await self._admin.revoke(caller, access_key, bucket)
        else:
            level = (await _object(request)).get("level")
            if not isinstance(level, str):
                raise InvalidArgument('expected {"level": "read" | "write" | "admin"}')
            key = await self._admin.grant(caller, access_key, bucket, level)
        return JSONResponse(key_json(key))

    async def presign(self, request: Request) -> Response:
        """Answer ``POST /v1/presign``: a URL that lets anyone holding it use one method on one
        object as the caller, until it expires."""
        caller = _caller(request)
        doc = await _object(request)
        unknown = set(doc) - {"method", "bucket", "key", "expires"}
        if unknown:
            raise InvalidArgument(f"unknown fields: {sorted(unknown)}")
        method, bucket, key = doc.get("method"), doc.get("bucket"), doc.get("key")
        expires = doc.get("expires", 3600)
        if not all(isinstance(v, str) for v in (method, bucket, key)):
            raise InvalidArgument("method, bucket and key must be strings")
        assert isinstance(method, str) and isinstance(bucket, str) and isinstance(key, str)
        check_key(key)
        if not isinstance(expires, int):
            raise InvalidArgument("expires must be a whole number of seconds")
        token, expires_at = self._auth.presign(
            caller, method=method, bucket=bucket, key=key, expires=expires
        )
        base = str(request.base_url).rstrip("/")
        path = f"/v1/buckets/{bucket}/objects/{urllib.parse.quote(key, safe='/')}"
        url = f"{base}{path}?{urllib.parse.urlencode({PRESIGN_PARAM: token})}"
        return JSONResponse(
            {"url": url, "method": method.upper(), "expires_at": iso_time(expires_at)}
        )
