"""The README's examples are run, so they stay true."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.server import ROOT_KEY, ROOT_SECRET, XoloServer

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()


def blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", README, flags=re.S)


def test_readme_names_the_two_commands() -> None:
    commands = [b.strip() for b in blocks("sh")]
    assert "python -m pip install -e . && xolo serve" in commands
    assert 'python -m pip install -e ".[test]" && python -m pytest' in commands
    ci = (Path(__file__).resolve().parent.parent / ".ci" / "run").read_text()
    assert 'python -m pip install -q -e ".[test]" && python -m pytest' in ci
    # ... inside a fresh venv made by the interpreter's own venv module, pip not upgraded.
    assert 'python3 -m venv "$venv"' in ci and '. "$venv/bin/activate"' in ci
    assert "pip install -U" not in ci and "--upgrade" not in ci


def test_embedded_python_example(tmp_path: Path) -> None:
    (example,) = [b for b in blocks("python") if "open_memory" in b]
    r = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "['cats/tom.txt']"


def test_s3_python_example(tmp_path: Path) -> None:
    (example,) = [b for b in blocks("python") if "boto3" in b]
    srv = XoloServer(tmp_path / "data").start()
    try:
        env = dict(
            os.environ,
            XOLO_S3_URL=srv.s3_url,
            XOLO_ROOT_ACCESS_KEY=ROOT_KEY,
            XOLO_ROOT_SECRET_KEY=ROOT_SECRET,
        )
        r = subprocess.run(
            [sys.executable, "-c", example], capture_output=True, text=True, timeout=60, env=env
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "eu,42"
        with srv.client() as http:  # one truth: the native API sees the S3 object
            assert http.get("/v1/buckets/reports/objects/2026/q4.csv").text.startswith("region,")
    finally:
        srv.stop()


def test_client_example(tmp_path: Path) -> None:
    (example,) = [b for b in blocks("python") if "xolo.Client(" in b]
    srv = XoloServer(tmp_path / "data").start()
    try:
        env = dict(
            os.environ,
            XOLO_URL=f"xolo://127.0.0.1:{srv.port}",
            XOLO_ROOT_ACCESS_KEY=ROOT_KEY,
            XOLO_ROOT_SECRET_KEY=ROOT_SECRET,
        )
        r = subprocess.run(
            [sys.executable, "-c", example], capture_output=True, text=True, timeout=60, env=env
        )
        assert r.returncode == 0, r.stderr
        assert r.stdout.strip() == "hi (1, 24)"
    finally:
        srv.stop()


def test_curl_example(tmp_path: Path) -> None:
    (example,) = [b for b in blocks("sh") if "curl" in b]
    srv = XoloServer(tmp_path / "data").start()
    try:
        env = dict(
            os.environ,
            XOLO_URL=srv.url,
            XOLO_ROOT_ACCESS_KEY=ROOT_KEY,
            XOLO_ROOT_SECRET_KEY=ROOT_SECRET,
        )
        r = subprocess.run(
            ["bash", "-euo", "pipefail", "-c", example],
            capture_output=True,
            text=True,
            timeout=60,
            env=env,
        )
        assert r.returncode == 0, r.stderr
        out = r.stdout
        assert "hello, xolo" in out and '"common_prefixes":[]' in out
        assert '"key":"notes/hello.txt"' in out and '"size":12' in out
        assert '"object_count":1' in out
    finally:
        srv.stop()


def test_cluster_example(tmp_path: Path) -> None:
    (example,) = [b for b in blocks("sh") if "xolo cluster up" in b]
    env = dict(os.environ, XOLO_ROOT_ACCESS_KEY=ROOT_KEY, XOLO_ROOT_SECRET_KEY=ROOT_SECRET)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    r = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", example],
        capture_output=True,
        text=True,
        timeout=180,
        env=env,
        cwd=tmp_path,
    )
    assert r.returncode == 0, r.stdout + r.stderr
    started = [line for line in r.stdout.splitlines() if line.startswith("peer   peer-")]
    listed = [line.split() for line in r.stdout.splitlines() if line.startswith("peer-")]
    assert len(started) == 3
    assert [(row[0], row[1]) for row in listed] == [(f"peer-{i}", "up") for i in (1, 2, 3)]
    assert "cluster stopped" in r.stdout
    state = (tmp_path / "xolo-cluster" / "cluster.json").read_text()
    assert '"pid": null' in state  # everything was stopped


def test_event_handler_example(tmp_path: Path) -> None:
    (example,) = [b for b in blocks("python") if "xolo.on(" in b]
    assert len(example.strip().splitlines()) <= 10
    srv = XoloServer(tmp_path / "data").start()
    env = dict(
        os.environ,
        XOLO_URL=srv.url,
        XOLO_ROOT_ACCESS_KEY=ROOT_KEY,
        XOLO_ROOT_SECRET_KEY=ROOT_SECRET,
    )
    handler = subprocess.Popen(
        [sys.executable, "-c", example], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env
    )
    try:
        with srv.client() as http:
            http.put("/v1/buckets/inbox")
            wait_for_feed(http)
            http.put("/v1/buckets/inbox/objects/misc/skipped", content=b"no")
            http.put("/v1/buckets/inbox/objects/orders/42", content=b"hello")
        assert handler.stdout is not None
        assert handler.stdout.readline().decode().strip() == "order orders/42: 5 bytes"
    finally:
        handler.terminate()
        handler.communicate(timeout=30)
        srv.stop()


def wait_for_feed(http: object) -> None:
    """Until the handler's change-feed stream is open (counted by the server's metrics)."""
    import time

    deadline = time.monotonic() + 30
    while 'route="events"' not in http.get("/metrics").text:  # type: ignore[attr-defined]
        assert time.monotonic() < deadline, "the handler never connected"
        time.sleep(0.05)
