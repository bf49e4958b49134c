"""AWS Signature Version 4, as S3 checks it: pure functions, no I/O.

References: the SigV4 signing process and S3's chunked upload signing (seed signature, then one
signature per chunk chained from the previous one, then optionally a trailer signature).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
import urllib.parse
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache

from xolo.core.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    AuthorizationQueryParametersError,
    RequestTimeTooSkewed,
)

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
MAX_SKEW = dt.timedelta(minutes=15)
MAX_PRESIGN_EXPIRES = 7 * 24 * 3600

_CREDENTIAL = re.compile(r"^([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request$")
_SAFE = "-_.~"


@dataclass(frozen=True, slots=True)
class Credential:
    """The credential a request names: the access key and the scope its signing key is for."""

    access_key: str
    date: str
    region: str
    service: str

    @property
    def scope(self) -> str:
        """The credential scope, as it appears in the string to sign."""
        return f"{self.date}/{self.region}/{self.service}/aws4_request"


@dataclass(frozen=True, slots=True)
class SignedRequest:
    """What a request claims: its credential, signed headers, signature and times."""

    credential: Credential
    signed_headers: tuple[str, ...]
    signature: str
    amz_date: str
    payload_hash: str
    presigned_expires: int | None = None


def parse_credential(value: str) -> Credential:
    """The parts of a ``Credential=`` value; AuthorizationHeaderMalformed unless all are there."""
    m = _CREDENTIAL.match(value)
    if not m:
        raise AuthorizationHeaderMalformed(
            "the credential must be access_key/YYYYMMDD/region/service/aws4_request"
        )
    return Credential(*m.groups())


def parse_authorization(header: str, headers: Mapping[str, str]) -> SignedRequest:
    """What a SigV4 ``Authorization`` header claims, with the x-amz-date and payload hash it
    needs from the other headers."""
    algorithm, _, rest = header.strip().partition(" ")
    if algorithm != ALGORITHM:
        raise AuthorizationHeaderMalformed(f"the authorization algorithm must be {ALGORITHM}")
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if sep:
            parts[name.strip()] = value.strip()
    try:
        credential = parse_credential(parts["Credential"])
        signed = tuple(parts["SignedHeaders"].split(";"))
        signature = parts["Signature"]
    except KeyError as missing:
        raise AuthorizationHeaderMalformed(f"the authorization header lacks {missing}") from None
    amz_date = headers.get("x-amz-date") or ""
    if not amz_date:
        raise AuthorizationHeaderMalformed("x-amz-date is required with SigV4")
    payload = headers.get("x-amz-content-sha256")
    if not payload:
        raise AuthorizationHeaderMalformed("x-amz-content-sha256 is required with SigV4")
    return SignedRequest(credential, signed, signature, amz_date, payload)


def parse_presigned(query: Mapping[str, str]) -> SignedRequest:
    """What a presigned URL's query claims; its payload is always unsigned."""
    if query.get("X-Amz-Algorithm") != ALGORITHM:
        raise AuthorizationHeaderMalformed(f"X-Amz-Algorithm must be {ALGORITHM}")
    try:
        credential = parse_credential(query["X-Amz-Credential"])
        expires = check_expires(query["X-Amz-Expires"])
        signed = tuple(query["X-Amz-SignedHeaders"].split(";"))
        return SignedRequest(
            credential,
            signed,
            query["X-Amz-Signature"],
            query["X-Amz-Date"],
            UNSIGNED_PAYLOAD,
            presigned_expires=expires,
        )
    except KeyError as missing:
        raise AuthorizationHeaderMalformed(f"the presigned URL lacks {missing}") from None


def check_expires(value: str) -> int:
    """``X-Amz-Expires`` as S3 judges it: a whole number of seconds from 0 to a week (0 is
    accepted here and has expired by the time it is used)."""
    try:
        expires = int(value)
    except ValueError:
        raise AuthorizationQueryParametersError("X-Amz-Expires should be a number") from None
    if expires < 0:
        raise AuthorizationQueryParametersError("X-Amz-Expires must be non-negative")
    if expires > MAX_PRESIGN_EXPIRES:
        raise AuthorizationQueryParametersError(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given "
            f"X-Amz-Expires must be less than {MAX_PRESIGN_EXPIRES} seconds"
        )
    return expires


def parse_amz_date(value: str) -> dt.datetime:
    """``YYYYMMDDTHHMMSSZ``, sliced by hand: strptime showed up in profiles of small GETs."""
    try:
        if len(value) != 16 or value[8] != "T" or value[15] != "Z":
            raise ValueError
        return dt.datetime(
            int(value[0:4]),
            int(value[4:6]),
            int(value[6:8]),
            int(value[9:11]),
            int(value[11:13]),
            int(value[13:15]),
            tzinfo=dt.UTC,
        )
    except ValueError:
        raise AuthorizationHeaderMalformed(f"malformed x-amz-date {value[:40]!r}") from None


def check_time(request: SignedRequest, now: dt.datetime) -> None:
    """Header signatures must be within 15 minutes of now; presigned URLs within their expiry."""
    when = parse_amz_date(request.amz_date)
    if request.credential.date != request.amz_date[:8]:
        raise AuthorizationHeaderMalformed("the credential date does not match x-amz-date")
    if request.presigned_expires is None:
        if abs(now - when) > MAX_SKEW:
            raise RequestTimeTooSkewed(
                "the difference between the request time and the server's time is too large"
            )
        return
    if when - now > MAX_SKEW:
        raise RequestTimeTooSkewed("the presigned URL's date is in the future")
    if request.presigned_expires == 0 or now > when + dt.timedelta(
        seconds=request.presigned_expires
    ):
        raise AccessDenied("Request has expired")


def uri_encode(value: str, *, slash: bool) -> str:
    """SigV4's URI encoding: all but unreserved characters escaped (``/`` kept if ``slash``)."""
    return urllib.parse.quote(value, safe=_SAFE + ("/" if slash else ""))


def canonical_uri(raw_path: str) -> str:
    """S3 signs the path encoded once; re-encode each segment so any valid client encoding
    compares equal, keeping an encoded slash (``%2F``, a slash inside a key) encoded."""
    segments = raw_path.split("/")
    return "/".join(uri_encode(urllib.parse.unquote(s), slash=False) for s in segments) or "/"


def canonical_query(raw_query: str, *, drop_signature: bool) -> str:
    """The query string as signed: decoded, re-encoded and sorted, without the signature itself
    when presigned."""
    pairs: list[tuple[str, str]] = []
    for item in raw_query.split("&") if raw_query else ():
        if not item:
            continue
        name, _, value = item.partition("=")
        name, value = urllib.parse.unquote(name), urllib.parse.unquote(value)
        if drop_signature and name == "X-Amz-Signature":
            continue
        pairs.append((uri_encode(name, slash=False), uri_encode(value, slash=False)))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_headers(headers: Iterable[tuple[str, str]], signed: tuple[str, ...]) -> str:
    """The signed headers' lines, in the order signed, values trimmed and runs of spaces folded."""
    wanted = set(signed)
    values: dict[str, list[str]] = {}
    for name, value in headers:
        lname = name.lower()
        if lname in wanted:
            values.setdefault(lname, []).append(" ".join(value.strip().split()))
    return "".join(f"{name}:{','.join(values.get(name, []))}\n" for name in signed)


def canonical_request(
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Iterable[tuple[str, str]],
    request: SignedRequest,
) -> str:
    """The canonical request the signature covers, rebuilt from what was received."""
    return "\n".join(
        [
            method,
            canonical_uri(raw_path),
            canonical_query(raw_query, drop_signature=request.presigned_expires is not None),
            canonical_headers(headers, request.signed_headers),
            ";".join(request.signed_headers),
            request.payload_hash,
        ]
    )


@lru_cache(maxsize=1024)
def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """The key for one day, region and service; cached, as every request of that day reuses it."""
    key = _hmac(("AWS4" + secret).encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sign(key: bytes, string_to_sign: str) -> str:
    """The hex HMAC-SHA256 signature of ``string_to_sign`` under a signing key."""
    return hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()


def request_signature(secret: str, request: SignedRequest, canonical: str) -> str:
    """The signature a request should carry, given its secret and canonical request."""
    c = request.credential
    to_sign = "\n".join(
        [
            ALGORITHM,
            request.amz_date,
            c.scope,
            hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest(),
        ]
    )
    return sign(signing_key(secret, c.date, c.region, c.service), to_sign)


def chunk_signature(key: bytes, request: SignedRequest, previous: str, chunk_sha256: str) -> str:
    """The signature of one aws-chunked chunk, chained from the previous signature."""
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-PAYLOAD",
            request.amz_date,
            request.credential.scope,
            previous,
            EMPTY_SHA256,
            chunk_sha256,
        ]
    )
    return sign(key, to_sign)


def trailer_signature(key: bytes, request: SignedRequest, previous: str, trailer: bytes) -> str:
    """The signature of an aws-chunked body's trailer, chained from the last chunk's signature."""
    to_sign = "\n".join(
        [
            "AWS4-HMAC-SHA256-TRAILER",
            request.amz_date,
            request.credential.scope,
            previous,
            hashlib.sha256(trailer).hexdigest(),
        ]
    )
    return sign(key, to_sign)


def matches(expected: str, given: str) -> bool:
    """Compare signatures in constant time, so timing reveals nothing of the expected one."""
    return hmac.compare_digest(expected.encode(), given.encode())
