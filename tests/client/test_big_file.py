"""A 1 GiB file goes up through ``Client.put_file`` and comes back through ``get_to_file``
byte-identical, in a separate client process whose peak resident memory, read from the OS
(``ru_maxrss``), stays under 200 MiB: the client streams, it never holds the file."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.server import ROOT_KEY, ROOT_SECRET, XoloServer

GiB = 1024**3
LIMIT_MIB = 200

SCRIPT = """
import re, sys, xolo
src, dest = sys.argv[1], sys.argv[2]
with xolo.Client.from_env() as client:
    client.create_bucket("big")
    client.put_file("big", "one-gib.bin", src)
    client.get_to_file("big", "one-gib.bin", dest)
print(int(re.search(r"VmHWM:\\s+(\\d+)", open("/proc/self/status").read()).group(1)) // 1024)
"""
# The client's own peak (VmHWM), not ru_maxrss: a child started by vfork and exec inherits the
# parent's high-water mark in ru_maxrss, so a pytest that had grown past the limit before this
# test made the client look as large as pytest.


@pytest.mark.slow
def test_one_gib_round_trips_with_bounded_client_memory(tmp_path: Path) -> None:
    src, dest = tmp_path / "src.bin", tmp_path / "dest.bin"
    digest = hashlib.sha256()
    block = os.urandom(4 * 1024 * 1024)
    with src.open("wb") as out:
        for i in range(GiB // len(block)):
            piece = block[:8] + i.to_bytes(8, "big") + block[16:]  # no two blocks alike
            out.write(piece)
            digest.update(piece)
    srv = XoloServer(tmp_path / "data").start()
    try:
        env = dict(
            os.environ,
            XOLO_URL=f"xolo://127.0.0.1:{srv.port}",
            XOLO_ACCESS_KEY=ROOT_KEY,
            XOLO_SECRET_KEY=ROOT_SECRET,
        )
        r = subprocess.run(
            [sys.executable, "-c", SCRIPT, str(src), str(dest)],
            capture_output=True,
            text=True,
            env=env,
            timeout=600,
        )
        assert r.returncode == 0, r.stderr
        peak_mib = int(r.stdout.strip())
    finally:
        srv.stop()
    assert dest.stat().st_size == GiB
    back = hashlib.sha256()
    with dest.open("rb") as f:
        while piece := f.read(8 * 1024 * 1024):
            back.update(piece)
    assert back.hexdigest() == digest.hexdigest()
    assert peak_mib < LIMIT_MIB, f"the client peaked at {peak_mib} MiB"
    print(f"client peak RSS: {peak_mib} MiB")
