"""How routers and peers prove to each other that they belong to one cluster.

Every router→peer request carries ``X-Xolo-Cluster: t=<unix time>,n=<nonce>,s=<hex HMAC>[,b=<body
SHA-256>]``, the HMAC-SHA256 under the cluster secret of the method, path, sorted query, time,
nonce, the URL of the process it is meant for (the *audience*: a peer's advertised URL) and the
SHA-256 of the body. A receiver accepts a signature within ``MAX_SKEW`` seconds of its clock,
never the same nonce twice within that window, only when it is the audience, and only with the
body the signature names, so a captured request can be neither replayed (to this peer or to
another) nor given another body (a doom naming other chunks). Chunk bodies on ``PUT`` are the
one exception: a peer stores only bytes that hash to the chunk's name, so they are streamed
without a digest.

Signed chunk URLs (for clients that talk to peers directly) carry ``x-xolo-expires`` and
``x-xolo-signature`` (HMAC of method, chunk name and expiry): one method on one chunk until the
expiry, nothing else.

The cluster secret is given to every process (``--cluster-secret``/``XOLO_CLUSTER_SECRET``), or
derived from the root secret, so a cluster started with root credentials alone is still closed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import urllib.parse
from collections.abc import Mapping

from xolo.core.errors import AccessDenied, InvalidCredentials

HEADER = "x-xolo-cluster"
MAX_SKEW = 300.0
"""Seconds a signed request stays valid either side of the peer's clock."""


def derive_cluster_secret(root_secret: str) -> str:
    """The cluster secret of a cluster that was given only root credentials."""
    return hmac.new(root_secret.encode(), b"xolo cluster secret v1", hashlib.sha256).hexdigest()


def canonical_query(query: str | Mapping[str, str]) -> str:
    """The query as signed: decoded pairs, sorted, so sender and receiver agree whatever
    the order and encoding on the wire."""
    pairs = (
        urllib.parse.parse_qsl(query, keep_blank_values=True)
        if isinstance(query, str)
        else list(query.items())
    )
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def _mac(secret: str, *parts: str) -> str:
    return hmac.new(secret.encode(), "\n".join(parts).encode(), hashlib.sha256).hexdigest()


def sign_request(
    secret: str,
    method: str,
    path: str,
    query: str,
    *,
    now: float,
    audience: str = "",
    body: bytes | None = b"",
) -> str:
    """The ``X-Xolo-Cluster`` header value for one request to ``audience`` (a peer's URL; empty
    for any router) carrying ``body`` (None for a chunk ``PUT``, whose body names itself)."""
    stamp, nonce = str(int(now)), secrets.token_hex(8)
    digest = "" if body is None else hashlib.sha256(body).hexdigest()
    mac = _mac(secret, *_signed(method, path, query, stamp, nonce, audience, digest))
    return f"t={stamp},n={nonce},s={mac}" + (f",b={digest}" if digest else "")


def _signed(
    method: str, path: str, query: str, stamp: str, nonce: str, audience: str, digest: str
) -> tuple[str, ...]:
    """What a cluster signature covers, in order."""
    return (
        "v2",
        method.upper(),
        path,
        canonical_query(query),
        stamp,
        nonce,
        audience.rstrip("/"),
        digest,
    )


class NonceCache:
    """Nonces seen within the skew window; a repeat is a replay."""

    def __init__(self) -> None:
        self._seen: dict[str, float] = {}

    def first_use(self, nonce: str, stamp: float, now: float) -> bool:
        """Record ``nonce``; False when it was seen already (a replay). Past 100,000 entries,
        those older than the skew window are dropped first."""
        if len(self._seen) > 100_000:
            self._seen = {n: t for n, t in self._seen.items() if t > now - MAX_SKEW}
        if nonce in self._seen:
            return False
        self._seen[nonce] = stamp
        return True


def verify_request(
    secret: str,
    method: str,
    path: str,
    query: str,
    header: str,
    *,
    now: float,
    nonces: NonceCache,
    audience: str = "",
) -> str:
    """Raise InvalidCredentials unless ``header`` signs this request for ``audience``, fresh
    and unreplayed; the SHA-256 of the body it signs ("" for a chunk body), which the receiver
    checks with ``check_signed_body`` once it has read the body."""
    fields = dict(part.partition("=")[::2] for part in header.split(","))
    stamp, nonce, mac = fields.get("t", ""), fields.get("n", ""), fields.get("s", "")
    digest = fields.get("b", "")
    if not (stamp.isdigit() and nonce and mac):
        raise InvalidCredentials("malformed cluster credentials")
    expected = _mac(secret, *_signed(method, path, query, stamp, nonce, audience, digest))
    if not hmac.compare_digest(expected, mac):
        raise InvalidCredentials("the cluster signature does not match")
    if abs(now - int(stamp)) > MAX_SKEW:
        raise InvalidCredentials("the cluster signature has expired (check the clocks)")
    if not nonces.first_use(nonce, float(stamp), now):
        raise InvalidCredentials("this cluster signature was already used")
    return digest


def check_signed_body(digest: str, body: bytes) -> None:
    """Raise InvalidCredentials unless ``body`` is the one a cluster signature named."""
    if not hmac.compare_digest(hashlib.sha256(body).hexdigest(), digest):
        raise InvalidCredentials("the body is not the one the cluster signature covers")


def sign_chunk_url(secret: str, method: str, sha256: str, *, expires: int) -> str:
    """The query string that lets its bearer do ``method`` on one chunk until ``expires``."""
    mac = _mac(secret, "chunk-url", method.upper(), sha256, str(expires))
    return urllib.parse.urlencode({"x-xolo-expires": expires, "x-xolo-signature": mac})


def verify_chunk_url(
    secret: str, method: str, sha256: str, query: Mapping[str, str], *, now: float
) -> None:
    """Raise AccessDenied unless the query signs ``method`` on this chunk and is unexpired."""
    expires, mac = query.get("x-xolo-expires", ""), query.get("x-xolo-signature", "")
    if not expires.isdigit():
        raise AccessDenied("the signed chunk URL is malformed")
    expected = _mac(secret, "chunk-url", method.upper(), sha256, expires)
    if not hmac.compare_digest(expected, mac):
        raise AccessDenied("the signed chunk URL does not match this request")
    if int(expires) < now:
        raise AccessDenied("the signed chunk URL has expired")


# -- direct uploads: who sent a chunk, or who holds its bytes ---------------------------------
#
# A direct commit names chunks by SHA-256. A name alone must not be enough to put a chunk into
# an object (whoever learnt a name could then read the bytes), so each chunk of a commit comes
# with evidence: a peer's receipt that this plan's client sent the bytes, or, for a chunk the
# plan said the cluster already had, a proof computed from the bytes with the plan's challenge.


def issue_plan(secret: str, bucket: str, *, expires: int) -> str:
    """A plan token for one bucket until ``expires``: ``expires.challenge.mac``. The challenge
    is random; only the router's cluster secret makes a token that checks."""
    challenge = secrets.token_hex(16)
    return f"{expires}.{challenge}.{_mac(secret, 'plan', bucket, str(expires), challenge)}"


def check_plan(secret: str, token: str, bucket: str, *, now: float) -> str:
    """The challenge of a plan token made for ``bucket`` and unexpired; AccessDenied else."""
    parts = token.split(".") if isinstance(token, str) else []
    if len(parts) != 3 or not parts[0].isdigit():
        raise AccessDenied("the direct-transfer plan token is malformed")
    expires, challenge, mac = parts
    expected = _mac(secret, "plan", bucket, expires, challenge)
    if not hmac.compare_digest(expected.encode(), mac.encode()):
        raise AccessDenied("the direct-transfer plan token was not made for this bucket")
    if int(expires) < now:
        raise AccessDenied("the direct-transfer plan has expired: ask for a new one")
    return challenge


def chunk_receipt(secret: str, sha256: str, plan: str) -> str:
    """What a peer answers a direct chunk PUT with once it holds bytes that hash to the name."""
    return _mac(secret, "receipt", sha256, plan)


def possession_proof(challenge: str, data: bytes | bytearray | memoryview) -> str:
    """SHA-256 of the challenge's bytes followed by the chunk's: computable only with both."""
    try:
        digest = hashlib.sha256(bytes.fromhex(challenge))
    except ValueError:
        raise AccessDenied("the direct-transfer challenge is malformed") from None
    digest.update(data)
    return digest.hexdigest()
