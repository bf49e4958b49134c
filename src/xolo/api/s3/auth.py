"""Who sent an S3 request (SigV4 in headers or a presigned query), and its body as meant.

The body is decoded from ``aws-chunked`` when the client streamed it, with every chunk
signature checked as the chunk ends, and any checksum trailer collected for the service to
verify before it commits.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hashlib
import urllib.parse
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

from starlette.requests import Request

from xolo.api.http import body_stream
from xolo.core import sigv2, sigv4
from xolo.core.awschunked import ChunkedDecoder
from xolo.core.checksums import ALGORITHMS, ObjectDigest
from xolo.core.errors import (
    AccessDenied,
    AuthorizationHeaderMalformed,
    BadDigest,
    IncompleteBody,
    InvalidAccessKeyId,
    InvalidArgument,
    InvalidCredentials,
    InvalidDigest,
    InvalidRequest,
    SignatureDoesNotMatch,
)
from xolo.service.auth import Authenticator, Principal

CHECKSUM_PREFIX = "x-amz-checksum-"


def wire_headers(request: Request) -> list[tuple[str, str]]:
    """The headers exactly as their bytes arrived: a client signs the UTF-8 text it sent, so
    values are read as UTF-8, and bytes that are not UTF-8 survive as surrogate escapes (the
    canonical request is encoded back the same way, byte for byte)."""
    return [
        (k.decode("latin-1"), v.decode("utf-8", "surrogateescape"))
        for k, v in request.scope["headers"]
    ]


def refuse_unsigned_amz_headers(request: Request, signed: Sequence[str]) -> None:
    """A presigned URL's bearer may not add ``x-amz-*`` headers its signature does not cover
    (a copy source, an ACL, ...): that would turn a URL for one upload into another operation.
    AWS refuses them the same way."""
    covered = set(signed)
    extra = sorted(
        name for name in request.headers if name.startswith("x-amz-") and name not in covered
    )
    if extra:
        raise AccessDenied(
            f"There were headers present in the request which were not signed: {extra[0]}"
        )


STREAMING = {
    sigv4.STREAMING_SIGNED,
    sigv4.STREAMING_SIGNED_TRAILER,
    sigv4.STREAMING_UNSIGNED_TRAILER,
}


@dataclass
class S3Caller:
    """Who sent an S3 request; for SigV4 also what a streamed body's chunk signatures must match."""

    principal: Principal | None
    signed: sigv4.SignedRequest | None = None
    signing_key: bytes | None = None


class S3Authenticator:
    """Checks S3 signatures (SigV4 or SigV2, in a header or a presigned query) against the keys the
    shared ``Authenticator`` holds, so S3 clients use the same credentials."""

    def __init__(
        self,
        auth: Authenticator,
        *,
        region: str,
        domain: str | None = None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self._auth = auth
        self.region = region
        self.domain = domain
        self._clock = clock

    async def authenticate(self, request: Request) -> S3Caller:
        """The caller a request's signature proves; an unsigned request is an anonymous caller, left
        to the access policy."""
        header = request.headers.get("authorization")
        query = request.scope.get("query_string", b"").decode("latin-1")
        if header:
            if header.startswith("AWS "):
                access_key, _, given = header[4:].strip().rpartition(":")
                return await self._v2(request, query, access_key, given, expires=None)
            signed = sigv4.parse_authorization(header, request.headers)
        elif "AWSAccessKeyId=" in query and "Signature=" in query:
            params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
            return await self._v2(
                request,
                query,
                params["AWSAccessKeyId"],
                params["Signature"],
                expires=params.get("Expires"),
            )
        elif "X-Amz-Algorithm=" in query:
            params = dict(urllib.parse.parse_qsl(query, keep_blank_values=True))
            signed = sigv4.parse_presigned(params)
        else:
            return S3Caller(None)
        credential = signed.credential
        if credential.service != "s3":
            raise AuthorizationHeaderMalformed(
                f"the service must be 's3', not {credential.service!r}"
            )
        if credential.region != self.region:
            raise AuthorizationHeaderMalformed(
                f"the region {credential.region!r} is wrong; expecting {self.region!r}"
            )
        sigv4.check_time(signed, self._clock())
        try:
            principal, secret = await self._auth.secret_for(credential.access_key)
        except InvalidCredentials:
            raise InvalidAccessKeyId(
                "the access key id you provided does not exist in our records"
            ) from None
        raw_path = request.scope.get("raw_path") or request.scope["path"].encode()
        canonical = sigv4.canonical_request(
            request.method,
            raw_path.decode("latin-1").split("?", 1)[0],
            query,
            wire_headers(request),
            signed,
        )
        expected = sigv4.request_signature(secret, signed, canonical)
        if not sigv4.matches(expected, signed.signature):
            raise SignatureDoesNotMatch(
                "the request signature we calculated does not match the signature you provided; "
                "check your key and signing method"
            )
        if signed.presigned_expires is not None:
            refuse_unsigned_amz_headers(request, signed.signed_headers)
        key = sigv4.signing_key(secret, credential.date, credential.region, credential.service)
        return S3Caller(principal, signed, key)

    async def _v2(
        self, request: Request, query: str, access_key: str, given: str, *, expires: str | None
    ) -> S3Caller:
        """Signature Version 2: a presigned query (with Expires) or an ``AWS key:sig`` header."""
        if expires is not None:
            if not expires.isdigit():
                raise AuthorizationHeaderMalformed("Expires must be a POSIX time")
            if self._clock().timestamp() > int(expires):
                raise AccessDenied("Request has expired")
            date = expires
        else:
            date = request.headers.get("date", "")
            if not date and not request.headers.get("x-amz-date"):
                raise AccessDenied(
                    "a Signature Version 2 request needs a Date or x-amz-date header"
                )
        try:
            principal, secret = await self._auth.secret_for(access_key)
        except InvalidCredentials:
            raise InvalidAccessKeyId(
                "the access key id you provided does not exist in our records"
            ) from None
        raw_path = (request.scope.get("raw_path") or request.scope["path"].encode()).decode(
            "latin-1"
        )
        resource = self._v2_resource(request, raw_path.split("?", 1)[0])
        to_sign = sigv2.string_to_sign(
            request.method,
            wire_headers(request),
            expires=expires,
            resource=sigv2.canonical_resource(resource, query),
        )
        if not sigv2.matches(sigv2.signature(secret, to_sign), given):
            raise SignatureDoesNotMatch(
                "the request signature we calculated does not match the signature you provided"
            )
        return S3Caller(principal)

    def _v2_resource(self, request: Request, path: str) -> str:
        """SigV2 signs /bucket/key even for virtual-host requests."""
        host = request.headers.get("host", "").rsplit(":", 1)[0].lower()
        if self.domain and host.endswith("." + self.domain):
            return "/" + host[: -len(self.domain) - 1] + path
        return path


@dataclass
class S3Body:
    """The body of one request: streamed, decoded, with its announced checksums."""

    request: Request
    caller: S3Caller
    algorithms: frozenset[str] = frozenset()
    expected: dict[str, str] = field(default_factory=dict)
    payload_sha256: str | None = None
    content_md5: str | None = None

    @classmethod
    def of(cls, request: Request, caller: S3Caller) -> S3Body:
        """The body of ``request`` with the checksums its headers and trailers announce, checked for
        form before any byte is read."""
        h = request.headers
        algorithms: set[str] = set()
        expected: dict[str, str] = {}
        for name, value in h.items():
            if name.startswith(CHECKSUM_PREFIX) and name not in (
                "x-amz-checksum-mode",
                "x-amz-checksum-type",
            ):
                algorithm = name[len(CHECKSUM_PREFIX) :]
                _check_algorithm(algorithm)
                algorithms.add(algorithm)
                expected[algorithm] = value.strip()
        for trailer in filter(
            None, (t.strip().lower() for t in h.get("x-amz-trailer", "").split(","))
        ):
            if not trailer.startswith(CHECKSUM_PREFIX):
                raise InvalidRequest(f"unsupported trailer {trailer!r}")
            algorithms.add(_check_algorithm(trailer[len(CHECKSUM_PREFIX) :]))
        sdk = h.get("x-amz-sdk-checksum-algorithm")
        if sdk:
            algorithms.add(_check_algorithm(sdk.lower()))
        payload = h.get("x-amz-content-sha256", "")
        content_md5 = h.get("content-md5")
        if content_md5 is not None:
            try:
                if len(base64.b64decode(content_md5, validate=True)) != 16:
                    raise ValueError
            except (binascii.Error, ValueError):
                raise InvalidDigest("the Content-MD5 you specified is not valid") from None
        return cls(
            request,
            caller,
            frozenset(algorithms),
            expected,
            payload.lower() if len(payload) == 64 else None,
            content_md5,
        )

    def __aiter__(self) -> AsyncIterator[bytes]:
        return self._stream()

    async def _stream(self) -> AsyncIterator[bytes]:
        payload = self.request.headers.get("x-amz-content-sha256", "")
        raw = body_stream(self.request)
        if payload not in STREAMING:
            async for piece in raw:
                yield piece
            return
        decoder = self._decoder(payload)
        decoded = 0
        async for piece in raw:
            for out in decoder.feed(piece):
                decoded += len(out)
                yield out
        decoder.finish()
        announced = self.request.headers.get("x-amz-decoded-content-length")
        if announced is not None and announced.isdigit() and int(announced) != decoded:
            raise IncompleteBody(
                f"the decoded body has {decoded} bytes, "
                f"x-amz-decoded-content-length said {announced}"
            )
        for name, value in decoder.trailers.items():
            if name.startswith(CHECKSUM_PREFIX):
                self.expected[_check_algorithm(name[len(CHECKSUM_PREFIX) :])] = value

    def _decoder(self, payload: str) -> ChunkedDecoder:
        signed = payload != sigv4.STREAMING_UNSIGNED_TRAILER
        caller = self.caller
        if signed and (caller.signed is None or caller.signing_key is None):
            raise AccessDenied("a signed streaming body needs a signed request")
        state = {"previous": caller.signed.signature if caller.signed else ""}

        def on_chunk(chunk_sha256: str, signature: str) -> None:
            assert caller.signed is not None and caller.signing_key is not None
            expected = sigv4.chunk_signature(
                caller.signing_key, caller.signed, state["previous"], chunk_sha256
            )
            if not sigv4.matches(expected, signature):
                raise SignatureDoesNotMatch("a chunk signature of the streamed body does not match")
            state["previous"] = signature

        def on_trailer(trailer: bytes, signature: str) -> None:
            assert caller.signed is not None and caller.signing_key is not None
            expected = sigv4.trailer_signature(
                caller.signing_key, caller.signed, state["previous"], trailer
            )
            if not sigv4.matches(expected, signature):
                raise SignatureDoesNotMatch(
                    "the trailer signature of the streamed body does not match"
                )

        return ChunkedDecoder(signed=signed, on_chunk=on_chunk, on_trailer=on_trailer)

    async def read(self, limit: int, *, checksums_name_object: bool = False) -> bytes:
        """A small control body (XML), verified against every digest the client sent; with
        ``checksums_name_object`` (CompleteMultipartUpload) the ``x-amz-checksum-*`` headers
        describe the object being completed, not this body, and are left to the caller."""
        buf = bytearray()
        async for piece in self:
            buf += piece
            if len(buf) > limit:
                raise InvalidArgument(f"the request body may be at most {limit} bytes")
        data = bytes(buf)
        if (
            self.payload_sha256 is not None
            and hashlib.sha256(data).hexdigest() != self.payload_sha256
        ):
            raise BadDigest("the x-amz-content-sha256 you specified did not match the body")
        md5 = base64.b64encode(hashlib.md5(data).digest()).decode()
        if self.content_md5 is not None and md5 != self.content_md5:
            raise BadDigest("the Content-MD5 you specified did not match what we received")
        if self.expected and not checksums_name_object:
            digest = ObjectDigest(extra=self.algorithms)
            digest.update(data)
            for algorithm, value in self.expected.items():
                if digest.checksum(algorithm) != value:
                    raise BadDigest(
                        f"the x-amz-checksum-{algorithm} you specified did not match the body"
                    )
        return data


def _check_algorithm(name: str) -> str:
    algorithm = name.lower()
    if algorithm not in ALGORITHMS:
        raise InvalidRequest(
            f"checksum algorithm {name!r} is not supported; use one of {ALGORITHMS}"
        )
    return algorithm
