"""Access keys, sealed secrets and bearer tokens.

Secrets are sealed (authenticated encryption, Fernet) rather than hashed because SigV4 needs
the plain secret to check a signature; the sealing key lives outside the metadata file, so a
copy of the database alone reveals no secret.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import string
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.fernet import Fernet, InvalidToken

from xolo.core.errors import InvalidCredentials

_KEY_ALPHABET = string.ascii_uppercase + string.digits


def new_access_key() -> str:
    """20 characters, like AWS access key ids, so S3 tools accept it."""
    return "XO" + "".join(secrets.choice(_KEY_ALPHABET) for _ in range(18))


def new_secret() -> str:
    """40 letters and digits (about 238 bits): as long as AWS secrets, and safe in any shell."""
    return "".join(secrets.choice(string.ascii_letters + string.digits) for _ in range(40))


def new_master_key() -> bytes:
    """A fresh master key: it seals the secrets and keys tokens and the audit chain."""
    return Fernet.generate_key()


class SecretBox:
    """Seals secrets for storage and derives the token-signing key, from one master key."""

    def __init__(self, master_key: bytes) -> None:
        self._fernet = Fernet(master_key)
        self.token_key = hmac.new(master_key, b"xolo bearer tokens v1", hashlib.sha256).digest()

    def seal(self, secret: str) -> bytes:
        """A secret sealed for storage; only this master key opens it again."""
        return self._fernet.encrypt(secret.encode())

    def open(self, sealed: bytes) -> str:
        """The plain secret back (SigV4 needs it); InvalidCredentials under another master key."""
        try:
            return self._fernet.decrypt(sealed).decode()
        except InvalidToken:
            raise InvalidCredentials(
                "a stored secret cannot be unsealed with this master key"
            ) from None


class TokenSigner:
    """Short-lived signed tokens (JWT, HS256) naming the access key they were issued from, with
    claims of their own: a bearer token's grants, a presigned URL's method, bucket and key."""

    ISSUER = "xolo"

    def __init__(self, key: bytes) -> None:
        self._key = key

    def issue(
        self, access_key: str, *, now: float, ttl: float, claims: Mapping[str, Any] | None = None
    ) -> tuple[str, float]:
        """A token for ``access_key`` with ``claims``, and when it expires (in whole seconds)."""
        expires = now + ttl
        body = {"sub": access_key, "iat": int(now), "exp": int(expires), "iss": self.ISSUER}
        body.update(claims or {})
        return jwt.encode(body, self._key, algorithm="HS256"), float(int(expires))

    def verify(self, token: str, *, now: float) -> dict[str, Any]:
        """The token's claims; InvalidCredentials when it is forged, malformed or expired."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                self._key,
                algorithms=["HS256"],
                issuer=self.ISSUER,
                options={"require": ["sub", "exp", "iat"], "verify_exp": False},
            )
        except jwt.InvalidTokenError:
            raise InvalidCredentials("the token is not valid") from None
        if claims["exp"] <= now:
            raise InvalidCredentials("the token has expired")
        return claims
