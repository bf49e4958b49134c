"""Process bookkeeping of ``xolo cluster`` (cli/launcher.py): a cluster's processes outlive the
command that started them, so when one exits it is a zombie of some other parent (init) until
that parent reaps it, which can take seconds; ``alive`` must call it gone at once, or every
``xolo cluster down`` waits for someone else's reaping."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.cluster import wait_for
from xolo.cli.launcher import alive


def state(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]


def test_an_exited_process_that_another_parent_has_not_reaped_is_not_alive() -> None:
    # A parent that starts a child which exits at once, and never reaps it.
    parent = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import subprocess, sys, time\n"
            "child = subprocess.Popen(['true'])\n"
            "print(child.pid, flush=True)\n"
            "sys.stdin.read()\n",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert parent.stdout is not None
        pid = int(parent.stdout.readline())
        wait_for("the child to exit", lambda: state(pid) == "Z", timeout=10)
        assert not alive(pid)  # a zombie, not ours to reap
        assert alive(parent.pid)  # our own, running
    finally:
        parent.communicate(timeout=10)  # closes its stdin, so it ends, and our pipes
    assert not alive(parent.pid)  # reaped by this process: gone
