"""The audit chain on a real server: every mutation from the native and S3 surfaces is recorded
in its bucket's chain (keys in the system chain), a refused write records nothing, and altering,
deleting, inserting or reordering one row of the SQLite file is detected and pinpointed."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.compat.conftest import client as s3_client
from tests.server import ROOT_KEY, ROOT_SECRET, XoloServer


@pytest.fixture(scope="module")
def audited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XoloServer]:
    srv = XoloServer(tmp_path_factory.mktemp("audit") / "data").start()
    yield srv
    srv.stop()


def entries(http: httpx.Client, bucket: str) -> list[dict[str, Any]]:
    r = http.get(f"/v1/buckets/{bucket}/audit")
    assert r.status_code == 200, r.text
    return list(r.json()["entries"])


def verify(http: httpx.Client, bucket: str) -> dict[str, Any]:
    r = http.post(f"/v1/buckets/{bucket}/audit/verify")
    assert r.status_code == 200, r.text
    return dict(r.json())


def fill(srv: XoloServer, bucket: str) -> None:
    """One of every mutation, through both surfaces."""
    with srv.client() as http:
        assert http.put(f"/v1/buckets/{bucket}").status_code == 201
        http.put(f"/v1/buckets/{bucket}/objects/a", content=b"first")
        http.post(f"/v1/buckets/{bucket}/objects/a", content=b" and more")
        http.put(f"/v1/buckets/{bucket}/objects/b", headers={"x-xolo-copy-source": f"{bucket}/a"})
        http.put(f"/v1/buckets/{bucket}", json={"public_read": True})
    s3 = s3_client(srv)
    s3.put_object(Bucket=bucket, Key="c", Body=b"via s3")
    up = s3.create_multipart_upload(Bucket=bucket, Key="m")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="m", UploadId=up, PartNumber=1, Body=b"p")["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket, Key="m", UploadId=up,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )  # fmt: skip
    s3.delete_object(Bucket=bucket, Key="c")


def test_every_mutation_of_every_surface_is_in_the_chain_in_order(audited: XoloServer) -> None:
    fill(audited, "audited-one")
    with audited.client() as http:
        got = entries(http, "audited-one")
        assert [(e["sequence"], e["op"]) for e in got] == list(
            enumerate(
                ["bucket.create", "put", "append", "copy", "bucket.update", "put", "complete",
                 "delete"],
                start=1,
            )
        )  # fmt: skip
        assert {e["actor"] for e in got} == {ROOT_KEY}
        assert got[1]["key"] == "a" and got[1]["size"] == 5 and got[1]["sha256"]
        assert got[2]["size"] == len(b"first and more")
        assert [e["type"] for e in got][:4] == [
            "bucket.created", "object.created", "object.appended", "object.copied",
        ]  # fmt: skip
        assert all(got[i]["prev"] == got[i - 1]["mac"] for i in range(1, len(got)))
        assert verify(http, "audited-one") == {"valid": True, "entries": 8, "first_broken": None}


def test_a_refused_write_records_nothing(audited: XoloServer) -> None:
    with audited.client() as http:
        http.put("/v1/buckets/audited-refusals")
        http.put("/v1/buckets/audited-refusals/objects/k", content=b"v1")
        before = len(entries(http, "audited-refusals"))
        r = http.put(
            "/v1/buckets/audited-refusals/objects/k",
            content=b"v2",
            headers={"if-match": '"not-the-etag"'},
        )
        assert r.status_code == 412
        bad = {"x-checksum-sha256": "0" * 64}
        assert (
            http.put(
                "/v1/buckets/audited-refusals/objects/j", content=b"x", headers=bad
            ).status_code
            == 400
        )
        assert (
            httpx.delete(f"{audited.url}/v1/buckets/audited-refusals/objects/k").status_code == 401
        )
        assert len(entries(http, "audited-refusals")) == before


def test_key_changes_go_to_the_system_chain(audited: XoloServer) -> None:
    with audited.client() as http:
        made = http.post("/v1/admin/keys", json={"grants": {"audited-one": "read"}}).json()
        http.patch(f"/v1/admin/keys/{made['access_key']}", json={"disabled": True})
        http.delete(f"/v1/admin/keys/{made['access_key']}")
        system = http.get("/v1/admin/audit").json()["entries"]
        mine = [e["op"] for e in system if e["key"] == made["access_key"]]
        assert mine == ["key.create", "key.update", "key.delete"]
        assert made["secret_key"] not in str(system)
        assert http.post("/v1/admin/audit/verify").json()["valid"] is True


def test_only_bucket_admins_read_a_chain(audited: XoloServer) -> None:
    with audited.client() as http:
        reader = http.post("/v1/admin/keys", json={"grants": {"audited-one": "read"}}).json()
    with httpx.Client(base_url=audited.url, auth=(reader["access_key"], reader["secret_key"])) as c:
        assert c.get("/v1/buckets/audited-one/audit").status_code == 403
        assert c.post("/v1/buckets/audited-one/audit/verify").status_code == 403
        assert c.get("/v1/admin/audit").status_code == 403
    assert httpx.get(f"{audited.url}/v1/buckets/audited-one/audit").status_code == 401


# -- tampering with the SQLite file -------------------------------------------------------------


def tamper(srv: XoloServer, statements: list[tuple[str, tuple[Any, ...]]]) -> None:
    conn = sqlite3.connect(srv.data / "meta.db", isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        for sql, args in statements:
            conn.execute(sql, args)
        conn.execute("COMMIT")
    finally:
        conn.close()


def row(srv: XoloServer, bucket: str, seq: int) -> tuple[Any, ...]:
    conn = sqlite3.connect(srv.data / "meta.db")
    try:
        found = conn.execute("SELECT * FROM audit WHERE bucket = ? AND seq = ?", (bucket, seq))
        result = found.fetchone()
        assert result is not None
        return tuple(result)
    finally:
        conn.close()


@pytest.mark.parametrize("damage", ["alter", "delete", "insert", "reorder", "truncate"])
def test_one_tampered_row_is_detected_and_pinpointed(audited: XoloServer, damage: str) -> None:
    bucket = f"tampered-{damage}"
    fill(audited, bucket)
    with audited.client() as http:
        good = entries(http, bucket)
        assert verify(http, bucket)["valid"]
    where = "WHERE bucket = ? AND seq = ?"
    if damage == "alter":
        tamper(audited, [(f"UPDATE audit SET size = size + 1 {where}", (bucket, 3))])
        expect_seq = 3
    elif damage == "delete":
        tamper(audited, [(f"DELETE FROM audit {where}", (bucket, 4))])
        expect_seq = 4
    elif damage == "insert":
        forged = list(row(audited, bucket, 8))
        forged[1] = 9  # an entry appended by someone without the chain key
        forged[4] = "delete"
        forged[-2], forged[-1] = good[-1]["mac"], "f" * 64
        tamper(audited, [(f"INSERT INTO audit VALUES ({', '.join('?' * 12)})", tuple(forged))])
        expect_seq = 9
    elif damage == "reorder":
        second, third = row(audited, bucket, 2), row(audited, bucket, 3)
        cols = ", ".join(
            f"{c} = ?"
            for c in (
                "time",
                "actor",
                "op",
                "key",
                "size",
                "sha256",
                "etag",
                "version",
                "prev",
                "mac",
            )
        )
        tamper(
            audited,
            [
                (f"UPDATE audit SET {cols} {where}", (*third[2:], bucket, 2)),
                (f"UPDATE audit SET {cols} {where}", (*second[2:], bucket, 3)),
            ],
        )
        expect_seq = 2
    else:  # the last entry removed
        tamper(audited, [(f"DELETE FROM audit {where}", (bucket, 8))])
        expect_seq = 8
    with audited.client() as http:
        verdict = verify(http, bucket)
    assert verdict["valid"] is False
    assert verdict["first_broken"]["sequence"] == expect_seq, verdict
    assert set(verdict["first_broken"]) >= {"sequence", "expected", "actual"}
    r = subprocess.run(
        [sys.executable, "-m", "xolo", "audit", "--url", audited.url, "verify", bucket],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, XOLO_ACCESS_KEY=ROOT_KEY, XOLO_SECRET_KEY=ROOT_SECRET),
    )
    assert r.returncode == 1 and f"BROKEN at entry {expect_seq}" in r.stdout


def test_the_cli_says_valid_for_an_intact_chain(audited: XoloServer) -> None:
    fill(audited, "audited-cli")
    r = subprocess.run(
        [sys.executable, "-m", "xolo", "audit", "--url", audited.url, "verify", "audited-cli"],
        capture_output=True,
        text=True,
        timeout=60,
        env=dict(os.environ, XOLO_ACCESS_KEY=ROOT_KEY, XOLO_SECRET_KEY=ROOT_SECRET),
    )
    assert r.returncode == 0 and "valid, 8 entries" in r.stdout


@pytest.mark.parametrize("after", ["126007925595501899993705809621024768", "-1", "1e3", "٣"])
def test_an_out_of_range_cursor_is_bad_input_not_a_server_error(
    audited: XoloServer, after: str
) -> None:
    with audited.client() as http:
        r = http.get("/v1/admin/audit", params={"after": after})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == "InvalidArgument"
        assert http.put("/v1/buckets/cursor-bounds").status_code in (200, 201, 409)
        r = http.get("/v1/events", params={"bucket": "cursor-bounds", "after": after})
        assert r.status_code == 400, r.text
