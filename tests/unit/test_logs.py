"""The access log redacts credentials carried in query strings, and nothing else."""

from __future__ import annotations

from xolo.cli.logs import redact


def test_credential_parameters_are_redacted_and_others_kept() -> None:
    path = (
        "/v1/buckets/b/objects/k?x-xolo-presign=eyJhbGc.abc.def&prefix=a&"
        "X-Amz-Signature=deadbeef&X-Amz-Credential=AK/2026&Signature=zz&token=t&limit=5"
    )
    out = redact(path)
    for secret in ("eyJhbGc.abc.def", "deadbeef", "AK/2026", "Signature=zz", "token=t"):
        assert secret not in out
    assert "prefix=a" in out and "limit=5" in out and out.startswith("/v1/buckets/b/objects/k?")
    assert out.count("[redacted]") == 5
    assert redact("/plain/path") == "/plain/path"
