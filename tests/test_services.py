"""Service-dependent tests skip without XOLO_TEST_SERVICES and fail with it, saying how to start
the service (checked by running pytest on a tiny test that needs a service nobody runs)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from xolo.cli.ports import free_port

ROOT = Path(__file__).resolve().parent.parent

NEEDS_A_DEAD_SERVICE = """
from tests.services import Service, require

def test_needs_it():
    require(Service("Dummy", "127.0.0.1", {port}, "dummy-server --port {port}"))
"""


def run_pytest(tmp_path: Path, *, services: str | None) -> subprocess.CompletedProcess[str]:
    test = tmp_path / "test_dead_service.py"
    test.write_text(NEEDS_A_DEAD_SERVICE.format(port=free_port()))  # bound by nobody
    env = {k: v for k, v in os.environ.items() if k != "XOLO_TEST_SERVICES"}
    if services is not None:
        env["XOLO_TEST_SERVICES"] = services
    env["PYTHONPATH"] = str(ROOT)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(test)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_missing_service_fails_the_test_when_services_are_required(tmp_path: Path) -> None:
    r = run_pytest(tmp_path, services="1")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 failed" in r.stdout
    assert "Dummy is not reachable at 127.0.0.1:" in r.stdout
    assert "start it with: dummy-server --port" in r.stdout
    assert "XOLO_TEST_SERVICES is set" in r.stdout


def test_a_missing_service_skips_the_test_with_the_same_message_otherwise(tmp_path: Path) -> None:
    r = run_pytest(tmp_path, services=None)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 skipped" in r.stdout
    assert "Dummy is not reachable at 127.0.0.1:" in r.stdout
    assert "start it with: dummy-server --port" in r.stdout
