"""Who is calling, and may they do this.

Keys carry grants (read < write < admin, per bucket, or on ``*``); root keys may do anything.
Cluster members prove themselves with signed requests (``ClusterGuard``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from xolo.core.audit import SYSTEM, Change
from xolo.core.cluster_auth import (
    NonceCache,
    check_plan,
    check_signed_body,
    chunk_receipt,
    issue_plan,
    sign_chunk_url,
    verify_chunk_url,
    verify_request,
)
from xolo.core.credentials import SecretBox, TokenSigner, new_access_key, new_secret
from xolo.core.errors import AccessDenied, InvalidArgument, InvalidCredentials
from xolo.core.names import check_bucket_name
from xolo.core.records import AccessKey
from xolo.meta.base import KeyStore
from xolo.service.context import actor

LEVELS = {"read": 1, "write": 2, "admin": 3}
"""Grant levels in order: each includes the ones below it."""

KEY_CACHE_SECONDS = 0.5
"""How long an unsealed key is reused before the store is asked again: a key disabled or
deleted through any router stops working everywhere within this time."""

MAX_PRESIGN = 7 * 24 * 3600
"""The longest a presigned URL may live (S3's limit too)."""

PRESIGN_LEVELS = {"GET": "read", "HEAD": "read", "PUT": "write", "DELETE": "write"}


def check_grants(grants: object) -> dict[str, str]:
    """A grants document, validated: bucket name (or ``*``) → read, write or admin."""
    if not isinstance(grants, Mapping):
        raise InvalidArgument('grants must be an object like {"photos": "read"}')
    out: dict[str, str] = {}
    for bucket, level in grants.items():
        if not isinstance(bucket, str) or not isinstance(level, str) or level not in LEVELS:
            raise InvalidArgument(f"the grant for {bucket!r} must be read, write or admin")
        if bucket != "*":
            check_bucket_name(bucket)
        out[bucket] = level
    return out


def key_change(op: str, key: AccessKey, *, time: float | None = None) -> Change:
    """The system chain's entry for a key change: which key, and a digest of its grants and
    state after the change (never its secret)."""
    state = json.dumps(
        {"grants": dict(key.grants), "disabled": key.disabled, "root": key.is_root},
        sort_keys=True,
    )
    return Change(
        op=op,
        bucket=SYSTEM,
        key=key.access_key,
        sha256=hashlib.sha256(state.encode()).hexdigest(),
        time=key.created if time is None else time,
        actor=actor(),
    )


def level_on(grants: Mapping[str, str], bucket: str | None) -> int:
    """The level ``grants`` give on ``bucket`` (``*`` counts for every bucket)."""
    return max(LEVELS.get(grants.get(bucket or "", ""), 0), LEVELS.get(grants.get("*", ""), 0))


@dataclass(frozen=True, slots=True)
class Principal:
    """A caller that proved who it is: a key, with its grants, perhaps narrowed by the token
    or presigned URL it came with (``limit``: grants it may not exceed)."""

    access_key: str
    is_root: bool = False
    grants: Mapping[str, str] = field(default_factory=dict)
    limit: Mapping[str, str] | None = None

    def can(self, level: str, bucket: str | None = None) -> bool:
        """Whether the grants (root: any) reach ``level`` on ``bucket``, never beyond
        ``limit`` when the principal has one."""
        need = LEVELS[level]
        if self.limit is not None and level_on(self.limit, bucket) < need:
            return False
        return self.is_root or level_on(self.grants, bucket) >= need

    def require(self, level: str, bucket: str | None = None) -> None:
        """``can``, or AccessDenied."""
        if not self.can(level, bucket):
            raise AccessDenied(
                f"this key may not {level} {('bucket ' + bucket) if bucket else 'here'}"
            )


class Authenticator:
    """Checks credentials (secrets, tokens, presigned URLs) against the key store, and mints
    keys, tokens and presigned URLs. Nothing it raises contains a secret."""

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

    @property
    def box(self) -> SecretBox:
        """The master key's sealing box (for other secrets kept in the store)."""
        return self._box

    @property
    def keys(self) -> KeyStore:
        """The key store this authenticator reads (for key management)."""
        return self._meta

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
            if (
                current
                and current.is_root
                and not current.disabled
                and self._box.open(current.sealed_secret) == secret
            ):
                return None
            await self._store(access_key, secret, is_root=True, grants={})
            return access_key, secret
        if any(k.is_root and not k.disabled for k in await self._meta.list_keys()):
            return None
        access_key, secret = new_access_key(), new_secret()
        await self._store(access_key, secret, is_root=True, grants={})
        return access_key, secret

    async def _store(
        self, access_key: str, secret: str, *, is_root: bool, grants: Mapping[str, str]
    ) -> AccessKey:
        key = AccessKey(
            access_key=access_key,
            sealed_secret=self._box.seal(secret),
            created=self._clock(),
            is_root=is_root,
            grants=dict(grants),
        )
        await self._meta.put_key(
            key, change=key_change("key.root" if is_root else "key.create", key)
        )
        self.forget(access_key)
        return key

    async def create_key(self, grants: Mapping[str, str]) -> tuple[str, str]:
        """A new non-root key with per-bucket grants (bucket or ``*`` → read, write or admin)."""
        checked = check_grants(grants)
        access_key, secret = new_access_key(), new_secret()
        await self._store(access_key, secret, is_root=False, grants=checked)
        return access_key, secret

    def forget(self, access_key: str) -> None:
        """Drop a cached key (this router changed it; others see the change within
        KEY_CACHE_SECONDS)."""
        self._cache.pop(access_key, None)

    async def _lookup(self, access_key: str) -> tuple[AccessKey, str]:
        now = self._clock()
        hit = self._cache.get(access_key)
        if hit and now - hit[0] < KEY_CACHE_SECONDS:
            record, secret = hit[1], hit[2]
        else:
            found = await self._meta.get_key(access_key)
            if found is None:
                self._cache.pop(access_key, None)
                raise InvalidCredentials("unknown access key or wrong secret")
            record, secret = found, self._box.open(found.sealed_secret)
            self._cache[access_key] = (now, record, secret)
        if record.disabled:
            raise InvalidCredentials("this access key is disabled")
        return record, secret

    async def secret_for(self, access_key: str) -> tuple[Principal, str]:
        """The principal and its plain secret, for signature schemes such as SigV4."""
        record, secret = await self._lookup(access_key)
        return Principal(record.access_key, record.is_root, record.grants), secret

    async def check_secret(self, access_key: str, secret: str) -> Principal:
        """The principal of a key given with its plain secret (HTTP Basic), compared in
        constant time; InvalidCredentials otherwise."""
        principal, expected = await self.secret_for(access_key)
        if not hmac.compare_digest(expected.encode(), secret.encode()):
            raise InvalidCredentials("unknown access key or wrong secret")
        return principal

    def issue_token(self, principal: Principal, ttl: float | None = None) -> tuple[str, float]:
        """A bearer token carrying the principal's grants as they are now."""
        ttl = self.token_ttl if ttl is None else ttl
        grants = (
            None
            if principal.is_root and principal.limit is None
            else dict(principal.limit if principal.limit is not None else principal.grants)
        )
        return self._signer.issue(
            principal.access_key, now=self._clock(), ttl=ttl, claims={"grants": grants}
        )

    async def check_token(self, token: str) -> Principal:
        """The principal of a bearer token: never more than its key can do now (a disabled or
        deleted key, or a revoked grant, takes effect on tokens too)."""
        claims = self._signer.verify(token, now=self._clock())
        if claims.get("use") == "presign":
            raise InvalidCredentials("a presigned URL's token is not a bearer token")
        principal, _ = await self.secret_for(str(claims["sub"]))
        grants = claims.get("grants")
        return dataclasses.replace(principal, limit=grants if isinstance(grants, dict) else None)

    def presign(
        self, principal: Principal, *, method: str, bucket: str, key: str, expires: int
    ) -> tuple[str, float]:
        """A token for one method on one object, until ``expires`` seconds from now."""
        method = method.upper()
        if method not in PRESIGN_LEVELS:
            raise InvalidArgument(f"method must be one of {', '.join(PRESIGN_LEVELS)}")
        if (
            isinstance(expires, bool)
            or not isinstance(expires, int)
            or not 1 <= expires <= MAX_PRESIGN
        ):
            raise InvalidArgument(
                f"expires must be a whole number of seconds from 1 to {MAX_PRESIGN}"
            )
        check_bucket_name(bucket)
        principal.require(PRESIGN_LEVELS[method], bucket)
        claims = {"use": "presign", "m": method, "b": bucket, "k": key}
        return self._signer.issue(
            principal.access_key, now=self._clock(), ttl=expires, claims=claims
        )

    async def check_presign(self, token: str, *, method: str, bucket: str, key: str) -> Principal:
        """The principal of a presigned request; AccessDenied when the URL was made for another
        method, bucket or key, or has expired."""
        try:
            claims = self._signer.verify(token, now=self._clock())
        except InvalidCredentials as exc:
            raise AccessDenied(f"the presigned URL is not valid: {exc.message}") from None
        signed_method, asked = claims.get("m"), method.upper()
        same_method = asked == signed_method or (asked == "HEAD" and signed_method == "GET")
        if (
            claims.get("use") != "presign"
            or not same_method
            or (claims.get("b"), claims.get("k")) != (bucket, key)
        ):
            raise AccessDenied("the presigned URL was made for another request")
        principal, _ = await self.secret_for(str(claims["sub"]))
        level = PRESIGN_LEVELS[str(claims["m"])]
        return dataclasses.replace(principal, limit={bucket: level})


class ClusterGuard:
    """Who may use a volume's chunk API besides keys with admin on ``*``: routers and peers of
    the cluster (signed requests), and bearers of a signed chunk URL (one method, one chunk).

    Without a cluster secret (a lone ``xolo serve``) only keys are accepted.
    """

    def __init__(
        self,
        *,
        secret: str | None,
        audience: str = "",
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._secret = secret
        self._audience = audience
        self._clock = clock
        self._nonces = NonceCache()

    @property
    def secret(self) -> str | None:
        """The cluster secret; None on a lone ``xolo serve``."""
        return self._secret

    def check_signature(
        self, *, method: str, path: str, query: str, header: str, streamed: bool = False
    ) -> str:
        """Raise InvalidCredentials (401) unless ``header`` is a fresh cluster signature meant
        for this process (its audience); the body digest it signs, which the caller checks
        with ``check_body`` once it has read the body (only a signed caller gets that far). A
        ``streamed`` body (a chunk ``PUT``, checked against the chunk's name) is not signed."""
        if self._secret is None:
            raise InvalidCredentials("this server is not part of a cluster")
        digest = verify_request(
            self._secret,
            method,
            path,
            query,
            header,
            now=self._clock(),
            nonces=self._nonces,
            audience=self._audience,
        )
        if streamed and digest:
            raise InvalidCredentials("a chunk body is not signed: it is checked by its name")
        if not streamed and not digest:
            raise InvalidCredentials("the cluster signature does not cover the body")
        return digest

    def check_body(self, digest: str, body: bytes) -> None:
        """Raise InvalidCredentials unless ``body`` is the one the signature named."""
        check_signed_body(digest, body)

    def sign_chunk_url(self, *, method: str, sha256: str, ttl: float) -> tuple[str, float]:
        """The query string of a URL that allows ``method`` on one chunk for ``ttl`` seconds,
        and when it expires (what a router hands a client for a direct upload)."""
        if self._secret is None:
            raise AccessDenied("signed chunk URLs need a cluster secret")
        expires = int(self._clock() + ttl)
        return sign_chunk_url(self._secret, method, sha256, expires=expires), float(expires)

    def check_chunk_url(self, *, method: str, sha256: str, query: Mapping[str, str]) -> None:
        """Raise AccessDenied (403) unless the query signs this method on this chunk."""
        if self._secret is None:
            raise AccessDenied("signed chunk URLs need a cluster secret")
        verify_chunk_url(self._secret, method, sha256, query, now=self._clock())

    def _cluster_secret(self) -> str:
        if self._secret is None:
            raise AccessDenied("direct transfers need a cluster secret")
        return self._secret

    def issue_plan(self, *, bucket: str, ttl: float) -> tuple[str, str]:
        """A direct-transfer plan token for ``bucket`` and its challenge (core/cluster_auth)."""
        token = issue_plan(self._cluster_secret(), bucket, expires=int(self._clock() + ttl))
        return token, token.split(".")[1]

    def check_plan(self, *, token: str, bucket: str) -> str:
        """The challenge of a valid, unexpired plan token for ``bucket``; AccessDenied else."""
        return check_plan(self._cluster_secret(), token, bucket, now=self._clock())

    def receipt(self, *, sha256: str, plan: str) -> str:
        """The receipt a volume gives for a chunk sent under ``plan``."""
        return chunk_receipt(self._cluster_secret(), sha256, plan)

    def receipt_matches(self, *, sha256: str, plan: str, receipt: str) -> bool:
        """Whether ``receipt`` is a volume's receipt for this chunk under this plan."""
        return hmac.compare_digest(
            self.receipt(sha256=sha256, plan=plan).encode(), receipt.encode()
        )
