"""One bucket against many on PostgreSQL: do a bucket's object count and byte totals (or any
other per-bucket row) serialize its writes?

    python -m benchmarks.pgbuckets            # full run; writes docs/benchmarks.md
    python -m benchmarks.pgbuckets --quick    # a short smoke run, prints only

One xolo router (``xolo cluster up --peers 1 --routers 1``) over PostgreSQL, in a fresh schema
that is dropped afterwards. The load generator PUTs distinct keys of 4 KiB, below the inline
threshold, so each object lives in its metadata row and a PUT is one metadata transaction:
(a) every PUT into one bucket, (b) the same PUTs spread round-robin over 16 buckets, with the
same connections. Without a per-bucket hot row, (a) keeps up with (b).

The cases run in ABBA order over ``--rounds`` (drift, such as tables growing, then falls on both
alike). While they run, PostgreSQL is sampled for what the router's backends wait on.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

from benchmarks.compare import ROOT, PeerFailed, log_tail, machine, write_between_markers
from benchmarks.loadgen import Op, Result, run, unique_payloads

KiB = 1024
KEY = "XOBENCHPGKEY00000001"
SECRET = secrets.token_hex(20)
DSN = "postgresql://postgres@127.0.0.1/postgres"
ONE, MANY = "one bucket", "16 buckets"


def schema_name() -> str:
    """A fresh random schema name, so a run touches no existing tables and drops only its own."""
    return f"xolo_bench_{secrets.token_hex(4)}"


def meta_url(dsn: str, schema: str) -> str:
    """``dsn`` with ``schema=`` added to its query (xolo's way of picking a schema)."""
    parts = urllib.parse.urlsplit(dsn)
    query = urllib.parse.parse_qsl(parts.query)
    query = [(k, v) for k, v in query if k != "schema"] + [("schema", schema)]
    return urllib.parse.urlunsplit(parts._replace(query=urllib.parse.urlencode(query)))


def quote_ident(name: str) -> str:
    """``name`` quoted as a PostgreSQL identifier (inner quotes doubled), safe to put in SQL."""
    return '"' + name.replace('"', '""') + '"'


async def _drop_schema(dsn: str, schema: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f"DROP SCHEMA IF EXISTS {quote_ident(schema)} CASCADE")
    finally:
        await conn.close()


def drop_schema(dsn: str, schema: str) -> None:
    """Drop ``schema`` and everything in it, if it exists: the cleanup after a run."""
    asyncio.run(_drop_schema(dsn, schema))


def basic_auth(key: str, secret: str) -> dict[str, str]:
    """The ``authorization`` header that signs native API requests with ``key`` and ``secret``."""
    return {"authorization": "Basic " + base64.b64encode(f"{key}:{secret}".encode()).decode()}


# -- the router ---------------------------------------------------------------------------------


def cluster_up_command(directory: Path, meta: str) -> list[str]:
    """The ``xolo cluster up`` command for one peer and one router over the metadata store at
    ``meta``, run by this interpreter so it starts the xolo under test."""
    return [
        sys.executable,
        "-m",
        "xolo",
        "cluster",
        "up",
        "--dir",
        str(directory),
        "--peers",
        "1",
        "--routers",
        "1",
        "--meta",
        meta,
    ]


@contextmanager
def xolo_router(work: Path, dsn: str, schema: str) -> Iterator[str]:
    """A one-router, one-peer cluster over ``schema``: yields the router's native API URL. The
    cluster is stopped and the schema dropped afterwards."""
    directory = work / "cluster"
    env = dict(os.environ, XOLO_ROOT_ACCESS_KEY=KEY, XOLO_ROOT_SECRET_KEY=SECRET)
    cmd = cluster_up_command(directory, meta_url(dsn, schema))
    try:
        up = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=180)
        if up.returncode != 0:
            logs = "\n".join(
                f"--- last lines of {log.name} ---\n{log_tail(log, 30)}"
                for log in sorted((directory / "logs").glob("*.log"))
            )
            raise PeerFailed(
                f"xolo cluster up exited with {up.returncode}\ncommand: {' '.join(cmd)}\n"
                f"{up.stdout}{up.stderr}\n{logs}"
            )
        yield json.loads((directory / "cluster.json").read_text())["routers"][0]["url"]
    finally:
        try:
            if (directory / "cluster.json").exists():
                subprocess.run(
                    [sys.executable, "-m", "xolo", "cluster", "down", "--dir", str(directory)],
                    env=env,
                    capture_output=True,
                    timeout=120,
                )
        finally:
            drop_schema(dsn, schema)


# -- the load -----------------------------------------------------------------------------------


def bucket_names(count: int) -> list[str]:
    """The ``count`` buckets of the spread case, numbered with two digits so they sort in order."""
    return [f"bench-{i:02d}" for i in range(count)]


def put_ops(
    url: str,
    headers: dict[str, str],
    buckets: Sequence[str],
    keys: Sequence[str],
    make: Callable[[int], bytes],
) -> list[Op]:
    """One PUT per key, the i-th into ``buckets[i % len(buckets)]``; ``make(i)`` is its body."""
    return [
        ("PUT", f"{url}/v1/buckets/{buckets[i % len(buckets)]}/objects/{key}", headers, make(i))
        for i, key in enumerate(keys)
    ]


def combine(results: Sequence[Result]) -> Result:
    """Several runs of one case as one: ops and seconds add up, latencies pool."""
    return Result(
        ops=sum(r.ops for r in results),
        errors=sum(r.errors for r in results),
        seconds=sum(r.seconds for r in results),
        bytes=sum(r.bytes for r in results),
        latencies=[lat for r in results for lat in r.latencies],
    )


def abba(rounds: int) -> list[str]:
    """The order of the cases: ONE, MANY, then MANY, ONE, then ONE, MANY, ..."""
    return [case for r in range(rounds) for case in ((ONE, MANY) if r % 2 == 0 else (MANY, ONE))]


# -- what PostgreSQL's backends wait on -----------------------------------------------------------

WAITS_SQL = """
SELECT a.wait_event_type, a.wait_event
FROM pg_stat_activity a
WHERE a.state = 'active' AND a.pid <> pg_backend_pid() AND a.pid IN (
    SELECT l.pid FROM pg_locks l
    JOIN pg_class c ON c.oid = l.relation
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1)
"""
"""Active backends holding a lock on a table of the benchmark's schema (so other users of the
database are left out), and what each waits for (NULL: running on CPU)."""

BLOCKED_ON_SQL = """
SELECT c.relname
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname = $1 AND l.locktype = 'tuple'
"""
"""Row (tuple) locks on the schema's tables: PostgreSQL takes one while a writer waits for a
row another transaction holds, so the table they name is where writers queue."""

OBJECT_WAITS_SQL = """
SELECT l.classid::regclass::text, l.objid, l.mode
FROM pg_locks l
WHERE l.locktype = 'object' AND NOT l.granted AND l.pid IN (
    SELECT l2.pid FROM pg_locks l2
    JOIN pg_class c ON c.oid = l2.relation
    JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = $1)
"""
"""Waits of the schema's backends for an object lock (NOTIFY's commit lock is one on
``pg_database``, object 0, AccessExclusiveLock)."""


WAIT_LEGEND = {
    "Lock:tuple": "queued behind another waiter for a row",
    "Lock:transactionid": "waiting for the transaction that holds a row to end",
    "Lock:object": "the database-wide lock a transaction that sent NOTIFY takes to commit",
    "IO:WALSync": "the commit's WAL fsync",
    "IO:WALWrite": "writing WAL",
    "LWLock:WALWrite": "waiting to write WAL (another backend is flushing it)",
    "LWLock:LockManager": "the lock table itself",
    "Client:ClientRead": "idle in a transaction, waiting for the router's next statement",
    "CPU": "running",
}
"""What the wait events seen here mean (PostgreSQL's pg_stat_activity names)."""


def legend(seen: Sequence[str]) -> str:
    """What the wait events in ``seen`` mean, for those WAIT_LEGEND explains, in its order."""
    known = [f"`{w}`: {WAIT_LEGEND[w]}" for w in WAIT_LEGEND if w in seen]
    return "; ".join(known)


@dataclass
class Waits:
    """Samples of the router's PostgreSQL backends, per case."""

    samples: Counter[str] = field(default_factory=Counter)
    queued_on: Counter[str] = field(default_factory=Counter)
    count: int = 0

    def line(self) -> str:
        """The case's summary for the report: busy backends on average, the five commonest waits as
        shares of the busy samples, and the three most waited-on locks per sample."""
        busy = sum(self.samples.values())
        if not self.count or not busy:
            return "no samples"
        parts = [f"{k} {v / busy:.0%}" for k, v in self.samples.most_common(5)]
        rows = ", ".join(f"{t} {n / self.count:.1f}" for t, n in self.queued_on.most_common(3))
        return (
            f"{busy / self.count:.1f} busy backends on average; "
            + ", ".join(parts)
            + (f"; lock queues per sample: {rows}" if rows else "; no lock queues")
        )


class Sampler:
    """Samples what the schema's backends wait on every ``interval`` s, into ``waits[case]``."""

    def __init__(self, dsn: str, schema: str, interval: float = 0.05) -> None:
        self.dsn, self.schema, self.interval = dsn, schema, interval
        self.case: str | None = None
        self.waits: dict[str, Waits] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._loop()), daemon=True)
        self.error: str | None = None

    async def _loop(self) -> None:
        try:
            conn = await asyncpg.connect(self.dsn)
        except (OSError, asyncpg.PostgresError) as exc:
            self.error = str(exc)
            return
        try:
            while not self._stop.is_set():
                case = self.case
                if case is not None:
                    waits = self.waits.setdefault(case, Waits())
                    rows = await conn.fetch(WAITS_SQL, self.schema)
                    tuples = await conn.fetch(BLOCKED_ON_SQL, self.schema)
                    waits.count += 1
                    for r in rows:
                        what = f"{r[0]}:{r[1]}" if r[0] else "CPU"
                        waits.samples[what] += 1
                    for r in tuples:
                        waits.queued_on[r[0]] += 1
                    for r in await conn.fetch(OBJECT_WAITS_SQL, self.schema):
                        waits.queued_on[f"{r[2]} on {r[0]} object {r[1]}"] += 1
                await asyncio.sleep(self.interval)
        finally:
            await conn.close()

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)


# -- the report ---------------------------------------------------------------------------------


def results_table(results: dict[str, Result]) -> str:
    """Each case's pooled result as a Markdown table, followed by the ratio of one bucket's ops/s to
    16 buckets', the number the benchmark is about."""
    out = [
        "| case | PUTs | ops/s | p50 ms | p99 ms | errors |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for case, r in results.items():
        out.append(
            f"| {case} | {r.ops + r.errors:,} | {r.ops_per_s:,.0f} | {r.p50_ms:.2f} | "
            f"{r.p99_ms:.2f} | {r.errors} |"
        )
    one, many = results.get(ONE), results.get(MANY)
    if one is not None and many is not None and many.ops_per_s:
        out.append("")
        out.append(
            f"Ratio one bucket / 16 buckets (ops/s): **{one.ops_per_s / many.ops_per_s:.2f}x**"
        )
    return "\n".join(out)


def rounds_line(per_round: dict[str, list[Result]]) -> str:
    """Each case's ops/s round by round (with the median once there are more than two), to show how
    far the rounds drift."""
    parts = []
    for case, results in per_round.items():
        rates = [f"{r.ops_per_s:,.0f}" for r in results]
        spread = (
            f" (median {statistics.median(r.ops_per_s for r in results):,.0f})"
            if len(results) > 2
            else ""
        )
        parts.append(f"{case}: {', '.join(rates)}{spread}")
    return "ops/s per round: " + "; ".join(parts)


# -- main ---------------------------------------------------------------------------------------


def counters_ok(url: str, headers: dict[str, str], expected: dict[str, tuple[int, int]]) -> str:
    """Compare each bucket's object count and bytes with what was PUT."""
    wrong = []
    for bucket, (objects, size) in expected.items():
        doc = httpx.get(f"{url}/v1/buckets/{bucket}", headers=headers, timeout=10).json()
        if (doc["object_count"], doc["bytes"]) != (objects, size):
            wrong.append(f"{bucket}: {doc['object_count']}/{doc['bytes']} != {objects}/{size}")
    return "all match what was PUT" if not wrong else "MISMATCH: " + "; ".join(wrong)


def main(argv: Sequence[str] | None = None) -> None:
    """Make the buckets and warm up, run the cases in ABBA order while sampling what PostgreSQL
    waits on, check the bucket counters, and print the report; without ``--quick`` it is also
    written into the docs."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--quick", action="store_true", help="a short smoke run; print, do not write")
    ap.add_argument("--dsn", default=DSN, help="PostgreSQL to use (a schema is made and dropped)")
    ap.add_argument("--count", type=int, default=10000, help="PUTs per case per round")
    ap.add_argument("--rounds", type=int, default=2, help="rounds, cases alternating ABBA")
    ap.add_argument("--buckets", type=int, default=16, help="buckets of the spread case")
    ap.add_argument("--connections", type=int, default=16)
    ap.add_argument("--processes", type=int, default=2)
    ap.add_argument("--size", type=int, default=4 * KiB)
    ap.add_argument("--out", type=Path, default=ROOT / "docs" / "benchmarks.md")
    args = ap.parse_args(argv)
    if args.quick:
        args.count, args.rounds = 800, 1
    schema = schema_name()
    headers = basic_auth(KEY, SECRET)
    spread = bucket_names(args.buckets)
    single = ["bench-one"]
    per_round: dict[str, list[Result]] = {ONE: [], MANY: []}
    expected: Counter[str] = Counter()
    with (
        tempfile.TemporaryDirectory(prefix="xolo-pgbench-") as tmp,
        xolo_router(Path(tmp), args.dsn, schema) as url,
    ):
        for b in [*single, *spread]:
            httpx.put(f"{url}/v1/buckets/{b}", headers=headers, timeout=10).raise_for_status()
        warm = unique_payloads(100, args.size, b"warm-up!")
        warm_keys = [f"warm-{i}" for i in range(100)]
        run(put_ops(url, headers, [*single, *spread], warm_keys, warm), connections=16)
        for i in range(100):
            expected[[*single, *spread][i % (len(spread) + 1)]] += 1
        with Sampler(args.dsn, schema) as sampler:
            for n, case in enumerate(abba(args.rounds)):
                buckets = single if case == ONE else spread
                make = unique_payloads(args.count, args.size, f"r{n:03d}".encode())
                keys = [f"r{n}-k{i}" for i in range(args.count)]
                ops = put_ops(url, headers, buckets, keys, make)
                print(f"round {n // 2 + 1}: {case} ...", flush=True)
                sampler.case = case
                per_round[case].append(
                    run(ops, connections=args.connections, processes=args.processes)
                )
                sampler.case = None
                for i in range(args.count):
                    expected[buckets[i % len(buckets)]] += 1
        counters = counters_ok(url, headers, {b: (n, n * args.size) for b, n in expected.items()})
    results = {case: combine(rs) for case, rs in per_round.items()}
    waits = "\n".join(
        f"* {case}: {sampler.waits[case].line() if case in sampler.waits else 'no samples'}"
        for case in (ONE, MANY)
    )
    report = (
        f"Machine: {machine()}; {server_version(args.dsn)}\n\n"
        f"Load: {args.rounds} round(s) of {args.count:,} PUTs per case (ABBA order), distinct "
        f"keys, {args.size // KiB} KiB bodies (stored inline in the metadata row), "
        f"{args.connections} connections from {args.processes} load generator processes, "
        f"native API with Basic auth, to one `xolo router` (one peer) over PostgreSQL on "
        f"127.0.0.1. {ONE}: every PUT into one bucket; {MANY}: round-robin over "
        f"{args.buckets} buckets.\n\n"
        f"{results_table(results)}\n\n{rounds_line(per_round)}\n\n"
        f"Bucket counters after the run: {counters}.\n\n"
        f"What the router's PostgreSQL backends were doing (sampled every "
        f"{sampler.interval * 1000:.0f} ms while measuring):\n\n{waits}\n\n"
        f"{legend([w for s in sampler.waits.values() for w in s.samples])}.\n"
        + (f"\n(sampler failed: {sampler.error})\n" if sampler.error else "")
    )
    print(report)
    if not args.quick:
        write_between_markers(args.out, report, name="pg-buckets")
        print(f"wrote {args.out}")


def server_version(dsn: str) -> str:
    """The PostgreSQL server's version, for the report's machine line."""

    async def version() -> str:
        conn = await asyncpg.connect(dsn)
        try:
            return str(await conn.fetchval("SHOW server_version")).split()[0]
        finally:
            await conn.close()

    return f"PostgreSQL {asyncio.run(version())}"


if __name__ == "__main__":
    main()
