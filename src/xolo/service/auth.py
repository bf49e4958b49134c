"""Who is calling, and may they do this.

Keys carry grants (read < write < admin, per bucket, or on ``*``); root keys may do anything.
Cluster members prove themselves with signed requests (``ClusterGuard``).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from xolo.core.cluster_auth import NonceCache, verify_chunk_url, verify_request
from xolo.core.credentials import SecretBox, TokenSigner, new_access_key, new_secret
from xolo.core.errors import AccessDenied, InvalidCredentials
from xolo.core.records import AccessKey
from xolo.meta.base import KeyStore

LEVELS = {"read": 1, "write": 2, "admin": 3}
"""Grant levels in order: each includes the ones below it."""

KEY_CACHE_SECONDS = 5.0
"""How long an unsealed key is reused before the store is asked again (revocation delay)."""


@dataclass(frozen=True, slots=True)
class Principal:
    access_key: str
    is_root: bool = False
    grants: Mapping[str, str] = field(default_factory=dict)

    def can(self, level: str, bucket: str | None = None) -> bool:
        if self.is_root:
            return True
        need = LEVELS[level]
        granted = max(
            LEVELS.get(self.grants.get(bucket or "", ""), 0),
            LEVELS.get(self.grants.get("*", ""), 0),
        )
        return granted >= need

    def require(self, level: str, bucket: str | None = None) -> None:
        if not self.can(level, bucket):
            raise AccessDenied(
                f"this key may not {level} {('bucket ' + bucket) if bucket else 'here'}"
            )


class Authenticator:
    def __init__(
        self,
        meta: KeyStore,
        box: SecretBox,
        *,
        token_ttl: float = 3600.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._meta = meta
        self._box = box
        self._signer = TokenSigner(box.token_key)
        self._clock = clock
        self.token_ttl = token_ttl
        self._cache: dict[str, tuple[float, AccessKey, str]] = {}

    async def ensure_root(
        self, access_key: str | None = None, secret: str | None = None
    ) -> tuple[str, str] | None:
        """Make sure a root key exists; returns the credentials when it created or reset one.

        Given credentials (from the environment) always win over what is stored.
        """
        if access_key or secret:
            if not (access_key and secret):
                raise ValueError("set both the root access key and the root secret, or neither")
            current = await self._meta.get_key(access_key)
            if current and current.is_root and self._box.open(current.sealed_secret) == secret:
                return None
            await self._meta.put_key(
                AccessKey(
                    access_key=access_key,
                    sealed_secret=self._box.seal(secret),
                    created=self._clock(),
                    is_root=True,
                )
            )
            self._cache.pop(access_key, None)
            return access_key, secret
        if any(k.is_root for k in await self._meta.list_keys()):
            return None
        access_key, secret = new_access_key(), new_secret()
        await self._meta.put_key(
            AccessKey(
                access_key=access_key,
                sealed_secret=self._box.seal(secret),
                created=self._clock(),
                is_root=True,
            )
        )
        return access_key, secret

    async def create_key(self, grants: Mapping[str, str]) -> tuple[str, str]:
        """A new non-root key with per-bucket grants (bucket or ``*`` → read, write or admin)."""
        for bucket, level in grants.items():
            if level not in LEVELS:
                raise ValueError(f"grant level for {bucket!r} must be read, write or admin")
        access_key, secret = new_access_key(), new_secret()
        await self._meta.put_key(
            AccessKey(
                access_key=access_key,
                sealed_secret=self._box.seal(secret),
                created=self._clock(),
                grants=dict(grants),
            )
        )
        return access_key, secret

    async def _lookup(self, access_key: str) -> tuple[AccessKey, str]:
        now = self._clock()
        hit = self._cache.get(access_key)
        if hit and now - hit[0] < KEY_CACHE_SECONDS:
            return hit[1], hit[2]
        record = await self._meta.get_key(access_key)
        if record is None:
            self._cache.pop(access_key, None)
            raise InvalidCredentials("unknown access key or wrong secret")
        secret = self._box.open(record.sealed_secret)
        self._cache[access_key] = (now, record, secret)
        return record, secret

    async def secret_for(self, access_key: str) -> tuple[Principal, str]:
        """The principal and its plain secret, for signature schemes such as SigV4."""
        record, secret = await self._lookup(access_key)
        return Principal(record.access_key, record.is_root, record.grants), secret

    async def check_secret(self, access_key: str, secret: str) -> Principal:
        principal, expected = await self.secret_for(access_key)
        if not hmac.compare_digest(expected.encode(), secret.encode()):
            raise InvalidCredentials("unknown access key or wrong secret")
        return principal

    def issue_token(self, principal: Principal, ttl: float | None = None) -> tuple[str, float]:
        ttl = self.token_ttl if ttl is None else ttl
        return self._signer.issue(principal.access_key, now=self._clock(), ttl=ttl)

    async def check_token(self, token: str) -> Principal:
        access_key = self._signer.verify(token, now=self._clock())
        principal, _ = await self.secret_for(access_key)
        return principal


class ClusterGuard:
    """Who may use a volume's chunk API besides keys with admin on ``*``: routers and peers of
    the cluster (signed requests), and bearers of a signed chunk URL (one method, one chunk).

    Without a cluster secret (a lone ``xolo serve``) only keys are accepted.
    """

    def __init__(self, *, secret: str | None, clock: Callable[[], float] = time.time) -> None:
        self._secret = secret
        self._clock = clock
        self._nonces = NonceCache()

    @property
    def secret(self) -> str | None:
        return self._secret

    def check_signature(self, *, method: str, path: str, query: str, header: str) -> None:
        """Raise InvalidCredentials (401) unless ``header`` is a fresh cluster signature."""
        if self._secret is None:
            raise InvalidCredentials("this server is not part of a cluster")
        verify_request(
            self._secret, method, path, query, header, now=self._clock(), nonces=self._nonces
        )

    def check_chunk_url(self, *, method: str, sha256: str, query: Mapping[str, str]) -> None:
        """Raise AccessDenied (403) unless the query signs this method on this chunk."""
        if self._secret is None:
            raise AccessDenied("signed chunk URLs need a cluster secret")
        verify_chunk_url(self._secret, method, sha256, query, now=self._clock())
