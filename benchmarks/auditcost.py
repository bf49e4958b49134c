"""What the audit chain costs small PUTs: the same load, one run, against ``xolo serve`` with the
chain (the default) and with ``--no-audit``.

    python -m benchmarks.auditcost            # full run; writes docs/benchmarks.md
    python -m benchmarks.auditcost --quick    # a short smoke run, prints only

The target: the chain costs at most 15% of small-PUT throughput. The two servers run one after
the other, each on a fresh data directory, and take turns twice (A B A B) so drift in the
machine's speed shows rather than biases one side.
"""

from __future__ import annotations

import argparse
import base64
import secrets
import tempfile
from pathlib import Path

from benchmarks.compare import ROOT, machine, write_between_markers, xolo_serve
from benchmarks.loadgen import Result, run, unique_payloads

KEY, SECRET = "XOBENCHAUDITKEY00001", secrets.token_hex(20)
SIZE = 4096


def measure(work: Path, label: str, extra: tuple[str, ...], count: int, connections: int) -> Result:
    """One run against a fresh ``xolo serve`` with ``extra`` on its command line: 200 untimed
    warm-up PUTs, then ``count`` distinct 4 KiB PUTs through the native API, timed. ``label`` names
    the server's data directory and log, and seeds the payloads."""
    import httpx

    with xolo_serve(work, workers=1, key=KEY, secret=SECRET, extra=extra, name=label) as (port, _):
        url = f"http://127.0.0.1:{port}"
        auth = {"authorization": "Basic " + base64.b64encode(f"{KEY}:{SECRET}".encode()).decode()}
        httpx.put(f"{url}/v1/buckets/bench", headers=auth).raise_for_status()
        make = unique_payloads(count, SIZE, label.encode()[:8])
        warm = [("PUT", f"{url}/v1/buckets/bench/objects/w{i}", auth, make(i)) for i in range(200)]
        run(warm, connections=connections)
        ops = [("PUT", f"{url}/v1/buckets/bench/objects/k{i}", auth, make(i)) for i in range(count)]
        return run(ops, connections=connections)


def main() -> None:
    """Measure both servers in turn, twice each (A B A B), and print the table with the chain's cost
    taken from each server's best round; without ``--quick`` it is also written into the docs."""
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--count", type=int, default=8000)
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = ap.parse_args()
    if args.quick:
        args.count = 500
    results: dict[str, list[Result]] = {"with audit chain": [], "without (--no-audit)": []}
    with tempfile.TemporaryDirectory(prefix="xolo-auditcost-") as tmp:
        for round_ in range(2):
            for label, extra in (
                ("with audit chain", ()),
                ("without (--no-audit)", ("--no-audit",)),
            ):
                name = f"{'audit' if not extra else 'plain'}{round_}"
                results[label].append(measure(Path(tmp), name, extra, args.count, args.connections))
    lines = [
        "| server | PUT ops/s (rounds) | best | p50 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|",
    ]
    best = {}
    for label, rs in results.items():
        top = max(rs, key=lambda r: r.ops_per_s)
        best[label] = top.ops_per_s
        rounds = " / ".join(f"{r.ops_per_s:,.0f}" for r in rs)
        lines.append(
            f"| {label} | {rounds} | {top.ops_per_s:,.0f} | {top.p50_ms:.2f} | {top.p99_ms:.2f} | "
            f"{sum(r.errors for r in rs)} |"
        )
    cost = 1 - best["with audit chain"] / best["without (--no-audit)"]
    report = (
        f"Machine: {machine()}\n\nLoad: {args.count} distinct 4 KiB objects PUT through the native "
        f"API, {args.connections} connections, one `xolo serve` worker, each server twice.\n\n"
        + "\n".join(lines)
        + f"\n\nThe audit chain costs **{cost:.1%}** of small-PUT throughput "
        "(target: at most 15%).\n"
    )
    print(report)
    if not args.quick:
        write_between_markers(args.out, report, name="audit-cost")
        print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
