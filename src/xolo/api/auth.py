"""Reading credentials off a request: HTTP Basic ``access_key:secret`` or a Bearer token."""

from __future__ import annotations

import base64
import binascii

from starlette.requests import Request

from xolo.core.errors import InvalidCredentials, Unauthenticated
from xolo.service.auth import Authenticator, Principal


def basic_credentials(header: str) -> tuple[str, str]:
    """Split Basic credentials into ``(access_key, secret)``; malformed ones are the caller's error
    (``InvalidCredentials``), not a server fault."""
    try:
        decoded = base64.b64decode(header.encode(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise InvalidCredentials("malformed Basic credentials") from None
    access_key, sep, secret = decoded.partition(":")
    if not sep:
        raise InvalidCredentials("malformed Basic credentials")
    return access_key, secret


async def authenticate(request: Request, auth: Authenticator) -> Principal:
    """The principal a request's Basic or Bearer Authorization proves, as ``auth`` checks it."""
    header = request.headers.get("authorization")
    if not header:
        raise Unauthenticated(
            "credentials are required: HTTP Basic access_key:secret, or a Bearer token"
        )
    scheme, _, value = header.partition(" ")
    scheme = scheme.lower()
    if scheme == "basic":
        return await auth.check_secret(*basic_credentials(value.strip()))
    if scheme == "bearer":
        return await auth.check_token(value.strip())
    raise InvalidCredentials(f"unsupported authorization scheme {scheme[:20]!r}")
