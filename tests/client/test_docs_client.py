"""Every Python example in docs/client.md runs against a real ``xolo serve`` and prints what its
``# comment`` says it prints."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.server import ROOT_KEY, ROOT_SECRET, XoloServer

DOC = (Path(__file__).resolve().parents[2] / "docs" / "client.md").read_text()
EXAMPLES = re.findall(r"```python\n(.*?)```", DOC, flags=re.S)


def expected_output(example: str) -> list[str]:
    """What the example's ``print(...)  # text`` lines say they print."""
    return [m.group(1) for m in re.finditer(r"print\(.*\)\s+# (.*)$", example, flags=re.M)]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XoloServer]:
    srv = XoloServer(tmp_path_factory.mktemp("docs") / "data").start()
    yield srv
    srv.stop()


def test_the_doc_has_examples() -> None:
    assert len(EXAMPLES) >= 3 and all(expected_output(x) for x in EXAMPLES)


@pytest.mark.parametrize("index", range(len(EXAMPLES)))
def test_example_runs_and_prints_what_it_says(server: XoloServer, index: int) -> None:
    example = EXAMPLES[index]
    env = dict(
        os.environ,
        XOLO_URL=f"xolo://127.0.0.1:{server.port}",
        XOLO_ACCESS_KEY=ROOT_KEY,
        XOLO_SECRET_KEY=ROOT_SECRET,
    )
    r = subprocess.run(
        [sys.executable, "-c", example], capture_output=True, text=True, env=env, timeout=60
    )
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == expected_output(example)
