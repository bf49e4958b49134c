"""The benchmark harness itself: the load generator counts what it moves, the report writer keeps
hand-written text. (Measuring the peers needs the [bench] extras and minutes: not run here.)"""

from __future__ import annotations

import base64
from pathlib import Path

from benchmarks.compare import END, START, write_between_markers
from benchmarks.loadgen import run, unique_payloads

from tests.server import ROOT_KEY, ROOT_SECRET, XoloServer


def test_loadgen_against_a_real_server(tmp_path: Path) -> None:
    srv = XoloServer(tmp_path / "data").start()
    try:
        with srv.client() as http:
            http.put("/v1/buckets/bench")
        make = unique_payloads(40, 4096, b"t")
        bodies = [make(i) for i in range(40)]
        assert len({hash(b) for b in bodies}) == 40
        headers = {
            "authorization": "Basic "
            + base64.b64encode(f"{ROOT_KEY}:{ROOT_SECRET}".encode()).decode()
        }
        base = f"{srv.url}/v1/buckets/bench/objects"
        puts = run(
            [("PUT", f"{base}/k{i}", headers, b) for i, b in enumerate(bodies)], connections=4
        )
        assert (puts.ops, puts.errors, puts.bytes) == (40, 0, 40 * 4096)
        gets = run([("GET", f"{base}/k{i}", headers, None) for i in range(40)], connections=4)
        assert (gets.ops, gets.errors, gets.bytes) == (40, 0, 40 * 4096)
        missing = run([("GET", f"{base}/absent", headers, None)], connections=1)
        assert missing.errors == 1
        assert gets.ops_per_s > 0 and gets.p99_ms >= gets.p50_ms > 0
    finally:
        srv.stop()


def test_report_replaces_only_the_generated_block(tmp_path: Path) -> None:
    doc = tmp_path / "bench.md"
    doc.write_text(f"# Intro\n\n{START}\nold table\n{END}\n\n## Analysis\nkept\n")
    write_between_markers(doc, "new table")
    text = doc.read_text()
    assert "old table" not in text and "new table" in text
    assert text.startswith("# Intro") and text.endswith("## Analysis\nkept\n")
