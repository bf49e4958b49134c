"""SigV4 against AWS's published example of a chunked upload (seed and chunk signatures), and the
aws-chunked decoder checking those signatures."""

from __future__ import annotations

import pytest

from xolo.core import sigv4
from xolo.core.awschunked import ChunkedDecoder
from xolo.core.errors import IncompleteBody, InvalidRequest

SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
HEADERS = [
    ("host", "s3.amazonaws.com"),
    ("x-amz-date", "20130524T000000Z"),
    ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
    ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
    ("content-encoding", "aws-chunked"),
    ("x-amz-decoded-content-length", "66560"),
    ("content-length", "66824"),
]
AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
    "SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;"
    "x-amz-decoded-content-length;x-amz-storage-class,"
    "Signature=4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
)
CHUNK_SIGNATURES = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
]


def body(signatures: list[str]) -> bytes:
    sizes = [65536, 1024, 0]
    return b"".join(
        f"{size:x};chunk-signature={sig}\r\n".encode() + b"a" * size + b"\r\n"
        for size, sig in zip(sizes, signatures, strict=True)
    )


def test_seed_signature_matches_aws_example() -> None:
    signed = sigv4.parse_authorization(AUTH, dict(HEADERS))
    canonical = sigv4.canonical_request(
        "PUT", "/examplebucket/chunkObject.txt", "", HEADERS, signed
    )
    assert sigv4.request_signature(SECRET, signed, canonical) == signed.signature


def decoder() -> ChunkedDecoder:
    signed = sigv4.parse_authorization(AUTH, dict(HEADERS))
    key = sigv4.signing_key(SECRET, "20130524", "us-east-1", "s3")
    state = {"previous": signed.signature}

    def on_chunk(digest: str, signature: str) -> None:
        expected = sigv4.chunk_signature(key, signed, state["previous"], digest)
        if expected != signature:
            raise ValueError("chunk signature mismatch")
        state["previous"] = signature

    return ChunkedDecoder(signed=True, on_chunk=on_chunk)


def test_chunk_signatures_match_aws_example() -> None:
    d = decoder()
    raw = body(CHUNK_SIGNATURES)
    assert len(raw) == 66824
    out = b"".join(piece for i in range(0, len(raw), 1000) for piece in d.feed(raw[i : i + 1000]))
    d.feed(b"\r\n")
    d.finish()
    assert out == b"a" * 66560


def test_a_tampered_chunk_is_refused() -> None:
    d = decoder()
    raw = bytearray(body(CHUNK_SIGNATURES))
    raw[200] = ord("b")
    with pytest.raises(ValueError, match="chunk signature"):
        d.feed(bytes(raw))


def test_malformed_and_truncated_bodies() -> None:
    with pytest.raises(InvalidRequest):
        ChunkedDecoder(signed=False).feed(b"zz\r\n")
    with pytest.raises(InvalidRequest):
        ChunkedDecoder(signed=True).feed(b"5\r\nhello\r\n")
    d = ChunkedDecoder(signed=False)
    d.feed(b"5\r\nhel")
    with pytest.raises(IncompleteBody):
        d.finish()
    with pytest.raises(InvalidRequest):
        ChunkedDecoder(signed=False).feed(b"2\r\nhello\r\n")


def test_presigned_and_skew_rules() -> None:
    import datetime as dt

    from xolo.core.errors import AccessDenied, RequestTimeTooSkewed

    signed = sigv4.parse_presigned(
        {
            "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
            "X-Amz-Credential": "AK/20260101/us-east-1/s3/aws4_request",
            "X-Amz-Date": "20260101T000000Z",
            "X-Amz-Expires": "60",
            "X-Amz-SignedHeaders": "host",
            "X-Amz-Signature": "00",
        }
    )
    start = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    sigv4.check_time(signed, start + dt.timedelta(seconds=59))
    with pytest.raises(AccessDenied):
        sigv4.check_time(signed, start + dt.timedelta(seconds=61))
    header = sigv4.SignedRequest(
        signed.credential, ("host",), "00", "20260101T000000Z", "UNSIGNED-PAYLOAD"
    )
    sigv4.check_time(header, start + dt.timedelta(minutes=14))
    with pytest.raises(RequestTimeTooSkewed):
        sigv4.check_time(header, start + dt.timedelta(minutes=16))
