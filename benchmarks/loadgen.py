"""A small, fast HTTP load generator: asyncio + aiohttp, several processes, fixed op counts.

Each process drives ``connections`` concurrent requests over keep-alive connections and records
every request's latency; the parent merges them. Payloads are prepared before the clock starts,
so the generator does no hashing or copying while it measures.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import aiohttp

Op = tuple[str, str, dict[str, str], bytes | None]
"""method, URL, headers, body"""


@dataclass(frozen=True)
class Result:
    """What one run measured: operations that got an expected status, those that did not, wall-clock
    seconds, bytes moved by the successful ones, and every request's latency in seconds (failed ones
    included)."""

    ops: int
    errors: int
    seconds: float
    bytes: int
    latencies: list[float]

    @property
    def ops_per_s(self) -> float:
        """Successful operations per second of wall-clock time (0 for a run that took none)."""
        return self.ops / self.seconds if self.seconds else 0.0

    @property
    def mb_per_s(self) -> float:
        """Megabytes (10**6 bytes) moved per second by the successful operations."""
        return self.bytes / self.seconds / 1e6 if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        """The ``p``-th percentile of the latencies in seconds, by nearest rank (0 with none)."""
        if not self.latencies:
            return 0.0
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]

    @property
    def p50_ms(self) -> float:
        """The median latency in milliseconds (the middle two averaged, unlike ``percentile``)."""
        return statistics.median(self.latencies) * 1000 if self.latencies else 0.0

    @property
    def p99_ms(self) -> float:
        """The 99th-percentile latency in milliseconds: the tail beside the median in reports."""
        return self.percentile(99) * 1000


async def _drive(
    ops: list[Op], connections: int, expect: tuple[int, ...]
) -> tuple[int, int, list[float]]:
    connector = aiohttp.TCPConnector(limit=connections, force_close=False)
    timeout = aiohttp.ClientTimeout(total=300)
    latencies: list[float] = []
    moved = 0
    errors = 0
    queue = list(reversed(ops))
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False
    ) as s:

        async def worker() -> None:
            nonlocal moved, errors
            while queue:
                method, url, headers, body = queue.pop()
                started = time.perf_counter()
                async with s.request(method, url, headers=headers, data=body) as r:
                    data = await r.read()
                    ok = r.status in expect
                latencies.append(time.perf_counter() - started)
                if ok:
                    moved += len(body) if body is not None else len(data)
                else:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(connections)))
    return moved, errors, latencies


def _child(
    ops: list[Op], connections: int, expect: tuple[int, ...], barrier: object, out: object
) -> None:
    barrier.wait()  # type: ignore[attr-defined]
    out.put(asyncio.run(_drive(ops, connections, expect)))  # type: ignore[attr-defined]


def run(
    ops: Sequence[Op],
    *,
    connections: int,
    processes: int = 2,
    expect: tuple[int, ...] = (200, 201, 204),
) -> Result:
    """Run ``ops`` with ``connections`` concurrent requests spread over ``processes`` processes."""
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(processes + 1)
    out = ctx.Queue()
    shares = [ops[i::processes] for i in range(processes)]
    per_proc = max(1, connections // processes)
    procs = [
        ctx.Process(target=_child, args=(share, per_proc, expect, barrier, out)) for share in shares
    ]
    for p in procs:
        p.start()
    barrier.wait()
    started = time.perf_counter()
    results = [out.get() for _ in procs]
    seconds = time.perf_counter() - started
    for p in procs:
        p.join()
    latencies = [lat for _, _, lats in results for lat in lats]
    return Result(
        ops=len(ops) - sum(e for _, e, _ in results),
        errors=sum(e for _, e, _ in results),
        seconds=seconds,
        bytes=sum(m for m, _, _ in results),
        latencies=latencies,
    )


def unique_payloads(count: int, size: int, seed: bytes) -> Callable[[int], bytes]:
    """Distinct payloads (content-addressed stores would otherwise deduplicate them) sharing
    one random base, so making them costs one small copy each."""
    import os

    base = os.urandom(size)

    def make(i: int) -> bytes:
        tag = seed + i.to_bytes(8, "big")
        return tag + base[len(tag) :]

    return make
