"""Keys, tokens and presigned URLs on a real server: secrets shown once, grants enforced,
revocation within a second, bucket admins managing only their own keys, presigned URLs valid
for exactly one method on one object, failed authentications counted."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import httpx
import pytest

from tests.cluster import wait_for
from tests.server import ROOT_KEY, ROOT_SECRET, XoloServer

REVOCATION_SECONDS = 1.0


def create_key(http: httpx.Client, grants: dict[str, str]) -> dict[str, Any]:
    r = http.post("/v1/admin/keys", json={"grants": grants})
    assert r.status_code == 201, r.text
    return dict(r.json())


def as_key(server: XoloServer, doc: dict[str, Any]) -> httpx.Client:
    return httpx.Client(base_url=server.url, auth=(doc["access_key"], doc["secret_key"]))


@pytest.fixture
def buckets(http: httpx.Client) -> tuple[str, str]:
    for name in ("k-photos", "k-inbox"):
        http.put(f"/v1/buckets/{name}")
    return "k-photos", "k-inbox"


def test_a_new_key_shows_its_secret_once_and_works_only_where_granted(
    server: XoloServer, http: httpx.Client, buckets: tuple[str, str]
) -> None:
    photos, inbox = buckets
    doc = create_key(http, {photos: "read", inbox: "write"})
    assert set(doc) >= {"access_key", "secret_key", "grants"}
    assert doc["grants"] == {photos: "read", inbox: "write"}
    listed = http.get("/v1/admin/keys").json()["keys"]
    shown = [k for k in listed if k["access_key"] == doc["access_key"]]
    assert shown and "secret_key" not in shown[0]
    assert doc["secret_key"] not in http.get(f"/v1/admin/keys/{doc['access_key']}").text
    with as_key(server, doc) as key:
        assert key.get(f"/v1/buckets/{photos}/objects").status_code == 200
        assert key.put(f"/v1/buckets/{photos}/objects/x", content=b"no").status_code == 403
        assert key.put(f"/v1/buckets/{inbox}/objects/x", content=b"yes").status_code == 200
        assert key.get("/v1/admin/keys").json()["keys"] == []  # it administers nothing
        names = [b["name"] for b in key.get("/v1/buckets").json()["buckets"]]
        assert sorted(names) == sorted([photos, inbox])


def test_a_disabled_or_deleted_key_stops_working_within_a_second(
    server: XoloServer, http: httpx.Client, buckets: tuple[str, str]
) -> None:
    photos, _ = buckets
    doc = create_key(http, {photos: "read"})
    with as_key(server, doc) as key:
        token = key.post("/v1/auth/token").json()["token"]
        bearer = {"authorization": f"Bearer {token}"}
        assert key.get(f"/v1/buckets/{photos}/objects").status_code == 200
        r = http.patch(f"/v1/admin/keys/{doc['access_key']}", json={"disabled": True})
        assert r.status_code == 200 and r.json()["disabled"] is True
        started = time.monotonic()
        wait_for(
            "the disabled key to be refused",
            lambda: key.get(f"/v1/buckets/{photos}/objects").status_code == 401,
            timeout=REVOCATION_SECONDS,
        )
        assert time.monotonic() - started <= REVOCATION_SECONDS
        r = httpx.get(f"{server.url}/v1/buckets/{photos}/objects", headers=bearer)
        assert r.status_code == 401  # the token outlives nothing its key lost
        http.patch(f"/v1/admin/keys/{doc['access_key']}", json={"disabled": False})
        wait_for(
            "the key to work again",
            lambda: key.get(f"/v1/buckets/{photos}/objects").status_code == 200,
            timeout=REVOCATION_SECONDS,
        )
        assert http.delete(f"/v1/admin/keys/{doc['access_key']}").status_code == 204
        wait_for(
            "the deleted key to be refused",
            lambda: key.get(f"/v1/buckets/{photos}/objects").status_code == 401,
            timeout=REVOCATION_SECONDS,
        )


def test_a_revoked_grant_is_gone_from_tokens_too(
    server: XoloServer, http: httpx.Client, buckets: tuple[str, str]
) -> None:
    photos, inbox = buckets
    doc = create_key(http, {photos: "read", inbox: "read"})
    with as_key(server, doc) as key, httpx.Client(base_url=server.url) as bearer:
        token = key.post("/v1/auth/token").json()["token"]
        bearer.headers["authorization"] = f"Bearer {token}"
        assert bearer.get(f"/v1/buckets/{inbox}/objects").status_code == 200
        r = http.delete(f"/v1/admin/keys/{doc['access_key']}/grants/{inbox}")
        assert r.status_code == 200 and r.json()["grants"] == {photos: "read"}
        wait_for(
            "the token to lose the grant",
            lambda: bearer.get(f"/v1/buckets/{inbox}/objects").status_code == 403,
            timeout=REVOCATION_SECONDS,
        )
        assert bearer.get(f"/v1/buckets/{photos}/objects").status_code == 200
        # a grant added later does not widen a token issued before it
        http.put(f"/v1/admin/keys/{doc['access_key']}/grants/{inbox}", json={"level": "write"})
        wait_for(
            "the key itself to gain the grant",
            lambda: key.put(f"/v1/buckets/{inbox}/objects/t", content=b"k").status_code == 200,
            timeout=REVOCATION_SECONDS,
        )
        assert bearer.put(f"/v1/buckets/{inbox}/objects/t", content=b"x").status_code == 403


def test_a_bucket_admin_manages_only_keys_within_its_buckets(
    server: XoloServer, http: httpx.Client, buckets: tuple[str, str]
) -> None:
    photos, inbox = buckets
    boss = create_key(http, {photos: "admin"})
    other = create_key(http, {inbox: "read"})
    with as_key(server, boss) as admin:
        made = admin.post("/v1/admin/keys", json={"grants": {photos: "read"}})
        assert made.status_code == 201
        assert admin.post("/v1/admin/keys", json={"grants": {inbox: "read"}}).status_code == 403
        assert admin.post("/v1/admin/keys", json={"grants": {"*": "read"}}).status_code == 403
        seen = {k["access_key"] for k in admin.get("/v1/admin/keys").json()["keys"]}
        assert made.json()["access_key"] in seen and boss["access_key"] in seen
        assert other["access_key"] not in seen and ROOT_KEY not in seen
        for path in (f"/v1/admin/keys/{other['access_key']}", f"/v1/admin/keys/{ROOT_KEY}"):
            assert admin.get(path).status_code == 403
            assert admin.patch(path, json={"disabled": True}).status_code == 403
            assert admin.delete(path).status_code == 403
        child = made.json()["access_key"]
        r = admin.put(f"/v1/admin/keys/{child}/grants/{inbox}", json={"level": "read"})
        assert r.status_code == 403  # may not grant beyond its own buckets
        assert admin.delete(f"/v1/admin/keys/{child}").status_code == 204
    assert http.get(f"/v1/admin/keys/{other['access_key']}").json()["disabled"] is False


def test_bad_grants_are_refused_and_create_nothing(http: httpx.Client) -> None:
    before = len(http.get("/v1/admin/keys").json()["keys"])
    for body in (
        {"grants": {"photos": "owner"}},
        {"grants": {"Bad_Name": "read"}},
        {"grants": []},
        {"grants": {}},
        {"grants": {"k-photos": "read"}, "extra": 1},
    ):
        assert http.post("/v1/admin/keys", json=body).status_code == 400, body
    assert len(http.get("/v1/admin/keys").json()["keys"]) == before


def presign(http: httpx.Client, **doc: Any) -> str:
    r = http.post("/v1/presign", json=doc)
    assert r.status_code == 200, r.text
    return str(r.json()["url"])


def test_a_presigned_url_allows_one_method_on_one_object(
    server: XoloServer, http: httpx.Client, buckets: tuple[str, str]
) -> None:
    photos, inbox = buckets
    http.put(f"/v1/buckets/{photos}/objects/cat.jpg", content=b"meow")
    http.put(f"/v1/buckets/{photos}/objects/dog.jpg", content=b"woof")
    get_url = presign(http, method="GET", bucket=photos, key="cat.jpg", expires=60)
    assert httpx.get(get_url).content == b"meow"
    assert httpx.head(get_url).status_code == 200
    assert httpx.put(get_url, content=b"overwritten").status_code == 403
    assert httpx.delete(get_url).status_code == 403
    other_key = get_url.replace("cat.jpg", "dog.jpg")
    assert httpx.get(other_key).status_code == 403
    other_bucket = get_url.replace(f"/buckets/{photos}/", f"/buckets/{inbox}/")
    assert httpx.get(other_bucket).status_code == 403
    tampered = get_url[:-3] + ("abc" if not get_url.endswith("abc") else "xyz")
    assert httpx.get(tampered).status_code == 403
    assert http.get(f"/v1/buckets/{photos}/objects/cat.jpg").content == b"meow"  # unchanged
    put_url = presign(http, method="PUT", bucket=photos, key="new.txt", expires=60)
    assert httpx.put(put_url, content=b"uploaded").status_code == 200
    assert httpx.get(put_url).status_code == 403
    assert http.get(f"/v1/buckets/{photos}/objects/new.txt").content == b"uploaded"
    delete_url = presign(http, method="DELETE", bucket=photos, key="new.txt", expires=60)
    assert httpx.delete(delete_url).status_code == 204


def test_presigning_is_refused_beyond_the_callers_grants_and_limits(
    server: XoloServer, http: httpx.Client, buckets: tuple[str, str]
) -> None:
    photos, _ = buckets
    reader = create_key(http, {photos: "read"})
    with as_key(server, reader) as key:
        doc = {"method": "PUT", "bucket": photos, "key": "k", "expires": 60}
        assert key.post("/v1/presign", json=doc).status_code == 403
        doc["method"] = "GET"
        assert key.post("/v1/presign", json=doc).status_code == 200
    for bad in (
        {"method": "POST", "bucket": photos, "key": "k", "expires": 60},
        {"method": "GET", "bucket": photos, "key": "k", "expires": 7 * 86400 + 1},
        {"method": "GET", "bucket": photos, "key": "k", "expires": 0},
    ):
        assert http.post("/v1/presign", json=bad).status_code == 400, bad


def test_failed_authentications_are_counted_in_metrics(
    server: XoloServer, http: httpx.Client
) -> None:
    def failures() -> float:
        text = http.get("/metrics").text
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("xolo_auth_failures_total{")
        )

    before = failures()
    httpx.get(f"{server.url}/v1/buckets", auth=("XOWRONGKEY0000000000", "nope"))
    httpx.get(f"{server.url}/v1/buckets", headers={"authorization": "Bearer not.a.token"})
    httpx.get(f"{server.s3_url}/", headers={"authorization": "AWS XOWRONG:bad"})
    assert failures() == before + 3


def test_the_admin_key_commands(server: XoloServer, buckets: tuple[str, str]) -> None:
    photos, _ = buckets
    env = dict(os.environ, XOLO_ACCESS_KEY=ROOT_KEY, XOLO_SECRET_KEY=ROOT_SECRET)

    def xolo(*args: str) -> str:
        r = subprocess.run(
            [sys.executable, "-m", "xolo", "admin", "--url", server.url, "key", *args],
            capture_output=True, text=True, timeout=60, env=env,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        return r.stdout

    out = xolo("create", "--grant", f"{photos}=read")
    access = out.split("access key: ")[1].split()[0]
    assert access in xolo("ls")
    assert '"write"' in xolo("grant", access, f"{photos}=write")
    assert xolo("revoke", access, photos).strip() == "{}"
    assert "disabled" in xolo("disable", access)
    assert "deleted" in xolo("rm", access)
    assert access not in xolo("ls")
