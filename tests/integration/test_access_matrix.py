"""Every route of the native and S3 APIs, for every kind of caller, answered as the one access
policy says: allowed callers reach the handler, the others get 401 (no or bad credentials) or
403 (no grant), and no denied write changes anything (checked by listing and by the audit chain).

Callers: anonymous, read / write / admin on the bucket, root, admin on another bucket, a
disabled key, an expired token, a tampered token, a tampered signature, and presigned URLs used
for another method or key.
"""

from __future__ import annotations

import base64
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.server import ROOT_KEY, ROOT_SECRET, XoloServer
from xolo.core.credentials import SecretBox, TokenSigner

B = "matrix-bucket"
LEVEL = {"none": 0, "read": 1, "write": 2, "admin": 3, "root": 4}


@dataclass(frozen=True)
class Caller:
    name: str
    level: str
    """What it may do on bucket B: none, read, write, admin, root."""
    headers: Callable[[str, str], dict[str, str]]
    """Native credentials for (method, path)."""
    s3: tuple[str, str] | None
    """(access key, secret) for SigV4, or None (anonymous)."""
    bad: bool = False
    """Bad credentials (401 on the native API, whatever the route)."""


@dataclass(frozen=True)
class Route:
    name: str
    method: str
    path: str
    need: str
    """The level it takes: read, write, admin, root (admin on *), or key (any valid key)."""
    body: bytes | None = None
    json: Any = None


NATIVE = [
    Route("list buckets", "GET", "/v1/buckets", "key"),
    Route("token", "POST", "/v1/auth/token", "key"),
    Route("metrics", "GET", "/metrics", "key"),
    Route("openapi", "GET", "/openapi.json", "key"),
    Route("bucket info", "GET", f"/v1/buckets/{B}", "read"),
    Route("bucket settings", "PUT", f"/v1/buckets/{B}", "admin", json={"public_read": False}),
    Route("delete bucket", "DELETE", f"/v1/buckets/{B}", "admin"),
    Route("list objects", "GET", f"/v1/buckets/{B}/objects", "read"),
    Route("get object", "GET", f"/v1/buckets/{B}/objects/seed", "read"),
    Route("head object", "HEAD", f"/v1/buckets/{B}/objects/seed", "read"),
    Route("put object", "PUT", f"/v1/buckets/{B}/objects/new", "write", body=b"x"),
    Route("append", "POST", f"/v1/buckets/{B}/objects/seed", "write", body=b"+"),
    Route("delete object", "DELETE", f"/v1/buckets/{B}/objects/seed", "write"),
    Route(
        "declare upload",
        "POST",
        f"/v1/buckets/{B}/uploads",
        "write",
        json={"key": "u", "size": 1, "sha256": "0" * 64},
    ),
    Route("audit", "GET", f"/v1/buckets/{B}/audit", "admin"),
    Route("verify audit", "POST", f"/v1/buckets/{B}/audit/verify", "admin"),
    Route(
        "presign",
        "POST",
        "/v1/presign",
        "read",
        json={"method": "GET", "bucket": B, "key": "seed", "expires": 60},
    ),
    Route("keys", "GET", "/v1/admin/keys", "key"),
    Route("peers", "GET", "/v1/admin/peers", "root"),
    Route("tasks", "GET", "/v1/admin/tasks", "root"),
    Route("system audit", "GET", "/v1/admin/audit", "root"),
    Route("chunk has", "POST", "/v1/chunks/has", "root", json=[]),
]

S3 = [
    Route("ListBuckets", "GET", "/", "key"),
    Route("HeadBucket", "HEAD", f"/{B}", "read"),
    Route("ListObjectsV2", "GET", f"/{B}?list-type=2", "read"),
    Route("GetObject", "GET", f"/{B}/seed", "read"),
    Route("HeadObject", "HEAD", f"/{B}/seed", "read"),
    Route("PutObject", "PUT", f"/{B}/new-s3", "write", body=b"x"),
    Route("DeleteObject", "DELETE", f"/{B}/seed", "write"),
    Route("CreateMultipartUpload", "POST", f"/{B}/mp?uploads", "write"),
    Route("DeleteBucket", "DELETE", f"/{B}", "admin"),
]


def allowed(caller: Caller, route: Route) -> bool:
    if caller.bad:
        return False
    if route.need == "key":
        return caller.level != "anon"
    if route.need == "root":
        return caller.level == "root"
    return LEVEL.get(caller.level, 0) >= LEVEL[route.need]


def basic(key: str, secret: str) -> Callable[[str, str], dict[str, str]]:
    value = "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()
    return lambda method, path: {"authorization": value}


def bearer(token: str) -> Callable[[str, str], dict[str, str]]:
    return lambda method, path: {"authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[XoloServer, list[Caller]]]:
    srv = XoloServer(tmp_path_factory.mktemp("matrix") / "data").start()
    with srv.client() as http:
        http.put(f"/v1/buckets/{B}")
        http.put("/v1/buckets/matrix-other")

        def key(grants: dict[str, str]) -> tuple[str, str]:
            doc = http.post("/v1/admin/keys", json={"grants": grants}).json()
            return doc["access_key"], doc["secret_key"]

        reader, writer, admin = key({B: "read"}), key({B: "write"}), key({B: "admin"})
        stranger, disabled = key({"matrix-other": "admin"}), key({B: "write"})
        http.patch(f"/v1/admin/keys/{disabled[0]}", json={"disabled": True})
        token = httpx.post(f"{srv.url}/v1/auth/token", auth=writer).json()["token"]
    signer = TokenSigner(SecretBox((srv.data / "master.key").read_bytes().strip()).token_key)
    expired, _ = signer.issue(writer[0], now=time.time() - 7200, ttl=60)
    tampered = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    callers = [
        Caller("anonymous", "anon", lambda m, p: {}, None),
        Caller("reader", "read", basic(*reader), reader),
        Caller("writer", "write", basic(*writer), writer),
        Caller("writer's token", "write", bearer(token), writer),
        Caller("bucket admin", "admin", basic(*admin), admin),
        Caller("root", "root", basic(ROOT_KEY, ROOT_SECRET), (ROOT_KEY, ROOT_SECRET)),
        Caller("admin of another bucket", "none", basic(*stranger), stranger),
        Caller("disabled key", "write", basic(*disabled), disabled, bad=True),
        Caller("expired token", "write", bearer(expired), None, bad=True),
        Caller("tampered token", "write", bearer(tampered), None, bad=True),
        Caller(
            "tampered signature",
            "root",
            basic(ROOT_KEY, ROOT_SECRET + "x"),
            (ROOT_KEY, ROOT_SECRET + "x"),
            bad=True,
        ),
    ]
    yield srv, callers
    srv.stop()


def reset(srv: XoloServer) -> None:
    with srv.client() as http:
        http.put(f"/v1/buckets/{B}")
        http.put(f"/v1/buckets/{B}/objects/seed", content=b"seed")


def snapshot(srv: XoloServer) -> tuple[Any, ...]:
    with srv.client() as http:
        listing = http.get(f"/v1/buckets/{B}/objects").json()["objects"]
        chain = http.get(f"/v1/buckets/{B}/audit").json()["entries"]
        keys = http.get("/v1/admin/keys").json()["keys"]
    return (
        [(o["key"], o["etag"]) for o in listing],
        len(chain),
        sorted((k["access_key"], k["disabled"]) for k in keys),
    )


def native_call(srv: XoloServer, caller: Caller, route: Route) -> httpx.Response:
    headers = caller.headers(route.method, route.path)
    return httpx.request(
        route.method, srv.url + route.path, headers=headers, content=route.body,
        json=route.json, timeout=30,
    )  # fmt: skip


def s3_call(srv: XoloServer, caller: Caller, route: Route) -> httpx.Response:
    url = srv.s3_url + route.path
    body = route.body or b""
    if caller.s3 is None:
        return httpx.request(route.method, url, content=body, timeout=30)
    req = AWSRequest(method=route.method, url=url, data=body)
    req.headers["x-amz-content-sha256"] = "UNSIGNED-PAYLOAD"
    SigV4Auth(Credentials(*caller.s3), "s3", "us-east-1").add_auth(req)
    return httpx.request(route.method, url, content=body, headers=dict(req.headers), timeout=30)


def check(srv: XoloServer, callers: list[Caller], routes: list[Route], call: Any, s3: bool) -> None:
    denied_answers: list[str] = []
    for want_allowed in (False, True):  # every denied request first, on an untouched bucket
        for caller in callers:
            for route in routes:
                if allowed(caller, route) != want_allowed:
                    continue
                reset(srv)
                before = snapshot(srv)
                r = call(srv, caller, route)
                label = f"{caller.name} → {route.name}: {r.status_code}"
                if want_allowed:
                    assert r.status_code not in (401, 403), label + " " + r.text[:200]
                    assert r.status_code < 500, label
                    continue
                expected = {403} if s3 else {401} if caller.bad or caller.level == "anon" else {403}
                assert r.status_code in expected, label + " " + r.text[:200]
                assert snapshot(srv) == before, label + " changed something"
                denied_answers.append(label)
    assert len(denied_answers) > len(routes)  # the matrix really has refusals in it


def test_every_native_route_for_every_caller(world: tuple[XoloServer, list[Caller]]) -> None:
    srv, callers = world
    check(srv, callers, NATIVE, native_call, s3=False)


def test_every_s3_route_for_every_caller(world: tuple[XoloServer, list[Caller]]) -> None:
    srv, callers = world
    s3_callers = [c for c in callers if c.s3 is not None or c.level == "anon"]
    check(srv, s3_callers, S3, s3_call, s3=True)


def test_presigned_urls_used_for_another_method_or_key_change_nothing(
    world: tuple[XoloServer, list[Caller]],
) -> None:
    srv, _ = world
    reset(srv)
    with srv.client() as http:
        url = http.post(
            "/v1/presign", json={"method": "GET", "bucket": B, "key": "seed", "expires": 60}
        ).json()["url"]
    before = snapshot(srv)
    for method in ("PUT", "POST", "DELETE"):
        assert httpx.request(method, url, content=b"x").status_code == 403, method
    assert httpx.get(url.replace("/objects/seed", "/objects/other")).status_code == 403
    assert (
        httpx.put(url.replace("/objects/seed", "/objects/other"), content=b"x").status_code == 403
    )
    assert snapshot(srv) == before
    assert httpx.get(url).content == b"seed"
