"""The README's serve command, exactly as written, in a fresh copy and a fresh venv: /health
answers.

The copy holds what a clone holds (the packaging files and the source), so nothing the
developer's environment happens to have installed can make the command pass.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.server import ROOT_KEY, ROOT_SECRET
from tests.test_readme import blocks
from xolo.cli.ports import free_port

ROOT = Path(__file__).resolve().parents[2]
SERVE_COMMAND = "python -m pip install -e . && xolo serve"


def fresh_copy(dest: Path) -> Path:
    dest.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, dest / name)
    shutil.copytree(
        ROOT / "src", dest / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info")
    )
    return dest


def wait_healthy(
    url: str, proc: subprocess.Popen[bytes], log: Path, timeout: float
) -> dict[str, object]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the command exited with {proc.returncode}:\n{log.read_text()}")
        try:
            r = httpx.get(f"{url}/health", timeout=1)
            if r.status_code == 200:
                return dict(r.json())
        except httpx.HTTPError:
            pass
        time.sleep(0.2)  # polling a server that is still installing: not synchronisation
    raise AssertionError(f"/health never answered within {timeout}s:\n{log.read_text()}")


def test_readme_serve_command_works_in_a_fresh_venv(tmp_path: Path) -> None:
    assert SERVE_COMMAND in [b.strip() for b in blocks("sh")]
    clone = fresh_copy(tmp_path / "xolo")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    port, s3_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    env.update(
        PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        XOLO_PORT=str(port),
        XOLO_S3_PORT=str(s3_port),
        XOLO_ROOT_ACCESS_KEY=ROOT_KEY,
        XOLO_ROOT_SECRET_KEY=ROOT_SECRET,
    )
    log = tmp_path / "serve.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            ["bash", "-c", SERVE_COMMAND],
            cwd=clone,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        health = wait_healthy(f"http://127.0.0.1:{port}", proc, log, timeout=240)
        assert health["status"] == "ok"
        assert (clone / "xolo-data" / "meta.db").exists()
        assert (venv / "bin" / "xolo").exists()
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(60)
