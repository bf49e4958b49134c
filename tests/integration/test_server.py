"""The server process itself: first start, environment, TLS, graceful SIGTERM."""

from __future__ import annotations

import datetime
import os
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.server import XoloServer, free_port


def test_first_start_creates_and_prints_a_root_key_once(tmp_path: Path) -> None:
    srv = XoloServer(tmp_path / "data", root=False).start()
    srv.stop()
    log = srv.log()
    access = log.split("access key: ")[1].split()[0]
    secret = log.split("secret key: ")[1].split()[0]
    assert len(access) == 20 and len(secret) == 40
    raw = b"".join(path.read_bytes() for path in (tmp_path / "data").glob("meta.db*"))
    assert secret.encode() not in raw, "the secret must not be stored in plain text"
    with sqlite3.connect(tmp_path / "data" / "meta.db") as db:
        assert db.execute("SELECT count(*) FROM access_keys WHERE is_root = 1").fetchone() == (1,)
    srv.start()
    try:
        assert srv.log().count("secret key:") == 1, "the secret is printed only once"
        with httpx.Client(base_url=srv.url, auth=(access, secret)) as http:
            assert http.get("/v1/buckets").status_code == 200
    finally:
        srv.stop()


def test_every_flag_reads_the_environment(tmp_path: Path) -> None:
    port = free_port()
    env = dict(
        os.environ,
        XOLO_DATA=str(tmp_path / "envdata"),
        XOLO_PORT=str(port),
        XOLO_S3_PORT=str(free_port()),
        XOLO_HOST="127.0.0.1",
        XOLO_ROOT_ACCESS_KEY="XOENVROOTKEY00000001",
        XOLO_ROOT_SECRET_KEY="env-secret-0000000000",
        XOLO_INLINE_THRESHOLD="0",
        XOLO_CHUNK_SIZE="64KiB",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "xolo", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/health")
                break
            except httpx.HTTPError:
                time.sleep(0.05)
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            auth=("XOENVROOTKEY00000001", "env-secret-0000000000"),
        ) as http:
            http.put("/v1/buckets/env-test")
            http.put("/v1/buckets/env-test/objects/k", content=b"x" * 10)
        # With XOLO_INLINE_THRESHOLD=0 even a 10-byte object went to a chunk file.
        assert [p for p in (tmp_path / "envdata" / "chunks").rglob("*") if p.is_file()]
    finally:
        proc.terminate()
        assert proc.wait(20) == 0


def test_bad_flags_are_refused(tmp_path: Path) -> None:
    r = subprocess.run(
        [sys.executable, "-m", "xolo", "serve", "--data", str(tmp_path), "--chunk-size", "1KiB"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode != 0 and "chunk size" in r.stderr
    r = subprocess.run(
        [sys.executable, "-m", "xolo", "serve", "--chunk-size", "lots"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert r.returncode != 0 and "not a size" in r.stderr


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now - datetime.timedelta(days=1))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
            ),
            False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def test_tls(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    srv = XoloServer(tmp_path / "data", extra_args=("--tls-cert", str(cert), "--tls-key", str(key)))
    srv.scheme = "https"
    srv.start()
    try:
        with httpx.Client(
            base_url=srv.url, auth=srv.auth, verify=ssl.create_default_context(cafile=str(cert))
        ) as http:
            assert http.put("/v1/buckets/tls-test").status_code == 201
            assert http.get("/health").json()["status"] == "ok"
        with pytest.raises(httpx.HTTPError):
            httpx.get(f"http://127.0.0.1:{srv.port}/health", timeout=2).raise_for_status()
    finally:
        srv.stop()


def test_sigterm_drains_in_flight_requests(tmp_path: Path) -> None:
    srv = XoloServer(tmp_path / "data").start()
    with srv.client() as http:
        http.put("/v1/buckets/drain")
    result: dict[str, object] = {}
    started = threading.Event()

    def slow_body():  # type: ignore[no-untyped-def]
        for i in range(20):
            if i == 2:
                started.set()
            time.sleep(0.1)
            yield bytes([i]) * 10_000

    def upload() -> None:
        with srv.client() as http:
            result["response"] = http.put("/v1/buckets/drain/objects/slow", content=slow_body())

    t = threading.Thread(target=upload)
    t.start()
    assert started.wait(10)
    assert srv.proc is not None
    srv.proc.terminate()
    t.join(30)
    assert srv.proc.wait(30) == 0, srv.log()
    response = result["response"]
    assert isinstance(response, httpx.Response) and response.status_code == 200
    srv.start()
    try:
        with srv.client() as http:
            assert http.get("/v1/buckets/drain/objects/slow").content == b"".join(
                bytes([i]) * 10_000 for i in range(20)
            )
    finally:
        srv.stop()
