"""Secrets and tokens never appear in logs or error bodies.

This runs last (its directory sorts last): it makes its own server with access logs on and
debug logging, uses every kind of credential correctly and wrongly, then scans that server's
log, every body it answered, and the logs of every server, router and peer the whole test run
started, for the secrets it knows and for anything shaped like a bearer token or a secret key.
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.contract.stores import CLUSTER_SECRET
from tests.server import ROOT_KEY, ROOT_SECRET, XoloServer

JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")


def scan(text: str, secrets: list[str]) -> list[str]:
    found = [s[:6] + "…" for s in secrets if s and s in text]
    found += [m[:12] + "…" for m in JWT.findall(text)]
    return found


def test_no_secret_or_token_is_in_any_log_or_error_body(
    tmp_path: Path, tmp_path_factory: pytest.TempPathFactory
) -> None:
    srv = XoloServer(tmp_path / "data", extra_args=("--access-log", "--log-level", "debug")).start()
    bodies: list[str] = []
    secrets = [ROOT_SECRET, CLUSTER_SECRET]
    try:
        with srv.client() as http:
            http.put("/v1/buckets/leaky")
            made = http.post("/v1/admin/keys", json={"grants": {"leaky": "write"}}).json()
            secrets.append(made["secret_key"])
            token = httpx.post(f"{srv.url}/v1/auth/token", auth=srv.auth).json()["token"]
            secrets.append(token)
            url = http.post(
                "/v1/presign", json={"method": "GET", "bucket": "leaky", "key": "k", "expires": 60}
            ).json()["url"]
            secrets.append(url.split("x-xolo-presign=")[1])
            hook = http.post(
                "/v1/admin/notify",
                json={"kind": "webhook", "url": "http://127.0.0.1:9/x", "bucket": "leaky"},
            ).json()
            secrets.append(hook["secret"])
        attempts = [
            httpx.get(f"{srv.url}/v1/buckets", auth=(made["access_key"], ROOT_SECRET)),
            httpx.get(f"{srv.url}/v1/buckets", auth=(ROOT_KEY, made["secret_key"] + "x")),
            httpx.get(f"{srv.url}/v1/buckets", headers={"authorization": f"Bearer {token}x"}),
            httpx.get(f"{srv.url}/v1/buckets", headers={"authorization": f"Basic {ROOT_SECRET}"}),
            httpx.get(url.replace("/k?", "/other?")),
            httpx.put(url, content=b"x"),
            httpx.get(f"{srv.url}/v1/buckets?token={token}", auth=(ROOT_KEY, "wrong")),
        ]
        req = AWSRequest(method="GET", url=f"{srv.s3_url}/leaky", data=b"")
        req.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
        SigV4Auth(Credentials(ROOT_KEY, made["secret_key"]), "s3", "us-east-1").add_auth(req)
        attempts.append(httpx.get(f"{srv.s3_url}/leaky", headers=dict(req.headers)))
        assert all(r.status_code in (401, 403) for r in attempts), [r.status_code for r in attempts]
        bodies += [r.text for r in attempts]
    finally:
        srv.stop()
    assert srv.log(), "the server wrote no log to scan"
    assert "GET /v1/buckets" in srv.log()  # the access log is on
    leaks = {f"body {i}": scan(b, secrets) for i, b in enumerate(bodies)}
    leaks["this server's log"] = scan(srv.log(), secrets)
    base = tmp_path_factory.getbasetemp()
    logs = [*base.rglob("*-server.log"), *base.rglob("logs/*.log"), *base.rglob("peer*.log")]
    for log in logs:
        leaks[str(log.relative_to(base))] = scan(log.read_text(errors="replace"), secrets)
    assert {k: v for k, v in leaks.items() if v} == {}
