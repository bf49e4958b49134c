"""SigV4 canonicalisation against botocore's own signer, for generated requests: any method,
path, query and header values (non-ASCII included), each sent as UTF-8 bytes the way an HTTP
client puts them on the wire; xolo must compute the signature the client computed."""

from __future__ import annotations

import datetime as dt
import urllib.parse

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from hypothesis import given, settings
from hypothesis import strategies as st

from xolo.core import sigv4

KEY, SECRET = "XOPROPERTYKEY0000001", "property-test-secret-0000000000000000000"

# No control characters, no surrogates: what can appear in a URL path or a header value.
text = st.text(
    alphabet=st.characters(blacklist_categories=("Cc", "Cs"), blacklist_characters="\x7f"),
    min_size=1,
    max_size=20,
)
segment = text.filter(lambda s: s not in (".", ".."))
header_value = text.map(str.strip).filter(bool)


@given(
    method=st.sampled_from(["GET", "PUT", "HEAD", "DELETE", "POST"]),
    segments=st.lists(segment, min_size=1, max_size=4),
    query=st.dictionaries(text, st.text(max_size=10), max_size=4),
    meta=st.dictionaries(st.from_regex(r"\A[a-z0-9-]{1,12}\Z"), header_value, max_size=4),
)
@settings(max_examples=300, deadline=None)
def test_xolo_computes_the_signature_botocore_computed(
    method: str, segments: list[str], query: dict[str, str], meta: dict[str, str]
) -> None:
    path = "/bucket/" + "/".join(urllib.parse.quote(s, safe="") for s in segments)
    url = f"http://127.0.0.1:9002{path}"
    if query:
        url += "?" + urllib.parse.urlencode(query, quote_via=urllib.parse.quote)
    headers = {f"x-amz-meta-{k}": v for k, v in meta.items()}
    headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    request = AWSRequest(method=method, url=url, headers=headers)
    S3SigV4Auth(Credentials(KEY, SECRET), "s3", "us-east-1").add_auth(request)
    prepared = request.prepare()
    # What the server sees: the raw path and query, and each header's UTF-8 bytes.
    split = urllib.parse.urlsplit(prepared.url)
    wire = [
        (name.lower(), value.encode("utf-8").decode("utf-8", "surrogateescape"))
        for name, value in prepared.headers.items()
    ]
    wire.append(("host", split.netloc))
    signed = sigv4.parse_authorization(prepared.headers["Authorization"], dict(wire))
    canonical = sigv4.canonical_request(method, split.path, split.query, wire, signed)
    assert sigv4.request_signature(SECRET, signed, canonical) == signed.signature
    sigv4.check_time(signed, dt.datetime.now(dt.UTC))
