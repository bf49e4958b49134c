"""A mixed load for probe tests, with a record of what was acknowledged.

Each worker thread owns its keys, so the state a key must be in is known exactly: after an
acknowledged PUT it holds those bytes; after an acknowledged DELETE it is gone; after a request
that failed it may be either (both outcomes are allowed, and remembered as such).
"""

from __future__ import annotations

import hashlib
import math
import os
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

KiB, MiB = 1024, 1024 * 1024
GONE = "gone"


@dataclass
class Tally:
    """What one worker did and what went wrong; each worker has its own (no lock), and
    MixedLoad.stop adds them up. ``failed`` are requests whose outcome is unknown; ``bad_reads`` are
    reads that broke what the ledger allows."""

    puts: int = 0
    gets: int = 0
    deletes: int = 0
    failed: list[str] = field(default_factory=list)
    bad_reads: list[str] = field(default_factory=list)
    bytes_written: int = 0


class Ledger:
    """What each key may hold now: a set of SHA-256 digests (or GONE)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.possible: dict[str, set[str]] = {}

    def acknowledged(self, key: str, value: str) -> None:
        """The server acknowledged setting ``key`` to ``value`` (a digest, or GONE): now the only
        thing it may hold."""
        with self._lock:
            self.possible[key] = {value}

    def uncertain(self, key: str, value: str) -> None:
        """A request to set ``key`` to ``value`` failed: it may now hold ``value`` as well as
        whatever it could before (nothing, for a new key)."""
        with self._lock:
            self.possible.setdefault(key, {GONE}).add(value)

    def certain(self) -> dict[str, str]:
        """Keys whose state is known exactly."""
        with self._lock:
            return {k: next(iter(v)) for k, v in self.possible.items() if len(v) == 1}


def size_between(rng: random.Random, low: int, high: int) -> int:
    """Sizes spread evenly on a log scale (as many 1 KiB objects as 1 MiB ones)."""
    return int(math.exp(rng.uniform(math.log(low), math.log(high))))


class MixedLoad:
    """``threads`` workers, each with a client from ``clients``, for ``seconds``."""

    def __init__(
        self,
        *,
        clients: list[Callable[[], httpx.Client]],
        bucket: str,
        ledger: Ledger,
        threads: int = 4,
        low: int = KiB,
        high: int = 16 * MiB,
        seed: int = 7,
    ) -> None:
        self.clients = clients
        self.bucket = bucket
        self.ledger = ledger
        self.threads = threads
        self.low, self.high = low, high
        self.seed = seed
        self.tallies = [Tally() for _ in range(threads)]
        self._stop = threading.Event()
        self._workers: list[threading.Thread] = []

    def start(self) -> MixedLoad:
        """Start the worker threads; returns the load, to chain."""
        for i in range(self.threads):
            t = threading.Thread(target=self._work, args=(i,), daemon=True)
            t.start()
            self._workers.append(t)
        return self

    def stop(self) -> Tally:
        """Tell the workers to stop, wait for them (up to 5 minutes each), and return their tallies
        added up."""
        self._stop.set()
        for t in self._workers:
            t.join(300)
        total = Tally()
        for t in self.tallies:
            total.puts += t.puts
            total.gets += t.gets
            total.deletes += t.deletes
            total.failed += t.failed
            total.bad_reads += t.bad_reads
            total.bytes_written += t.bytes_written
        return total

    def run_for(
        self, seconds: float, during: Callable[[], None] | None = None, at: float = 0
    ) -> Tally:
        """Run the load for ``seconds``, calling ``during`` once ``at`` seconds in (to kill a peer
        under load, say); the total tally."""
        self.start()
        started = time.monotonic()
        if during is not None:
            self._stop.wait(at)
            during()
        self._stop.wait(max(0.0, seconds - (time.monotonic() - started)))
        return self.stop()

    def _work(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        tally = self.tallies[index]
        client = self.clients[index % len(self.clients)]()
        mine: list[str] = []
        n = 0
        with client:
            while not self._stop.is_set():
                roll = rng.random()
                if not mine or roll < 0.45:
                    key = f"w{index}/k{n}" if not mine or rng.random() < 0.7 else rng.choice(mine)
                    n += 1
                    self._put(client, key, rng, tally)
                    if key not in mine:
                        mine.append(key)
                elif roll < 0.9:
                    self._get(client, rng.choice(mine), tally)
                else:
                    self._delete(client, rng.choice(mine), tally)

    def _url(self, key: str) -> str:
        return f"/v1/buckets/{self.bucket}/objects/{key}"

    def _put(self, client: httpx.Client, key: str, rng: random.Random, tally: Tally) -> None:
        data = os.urandom(size_between(rng, self.low, self.high))
        digest = hashlib.sha256(data).hexdigest()
        tally.puts += 1
        try:
            r = client.put(self._url(key), content=data)
        except httpx.HTTPError as exc:
            tally.failed.append(f"PUT {key}: {type(exc).__name__}")
            self.ledger.uncertain(key, digest)
            return
        if r.status_code == 200:
            self.ledger.acknowledged(key, digest)
            tally.bytes_written += len(data)
        else:
            tally.failed.append(f"PUT {key}: {r.status_code} {r.text[:200]}")
            self.ledger.uncertain(key, digest)

    def _get(self, client: httpx.Client, key: str, tally: Tally) -> None:
        expected = self.ledger.possible.get(key, set())
        tally.gets += 1
        try:
            r = client.get(self._url(key))
        except httpx.HTTPError as exc:
            tally.bad_reads.append(f"GET {key}: {type(exc).__name__}")
            return
        if r.status_code == 404:
            if GONE not in expected:
                tally.bad_reads.append(f"GET {key}: 404 but it was acknowledged")
            return
        if r.status_code != 200:
            tally.bad_reads.append(f"GET {key}: {r.status_code} {r.text[:200]}")
            return
        if hashlib.sha256(r.content).hexdigest() not in expected:
            tally.bad_reads.append(f"GET {key}: bytes that were never acknowledged")

    def _delete(self, client: httpx.Client, key: str, tally: Tally) -> None:
        tally.deletes += 1
        try:
            r = client.delete(self._url(key))
        except httpx.HTTPError as exc:
            tally.failed.append(f"DELETE {key}: {type(exc).__name__}")
            self.ledger.uncertain(key, GONE)
            return
        if r.status_code in (204, 404):
            self.ledger.acknowledged(key, GONE)
        else:
            tally.failed.append(f"DELETE {key}: {r.status_code}")
            self.ledger.uncertain(key, GONE)


def verify_all(client: httpx.Client, bucket: str, ledger: Ledger) -> list[str]:
    """Read back every key whose state is certain; the problems found."""
    problems = []
    for key, value in sorted(ledger.certain().items()):
        r = client.get(f"/v1/buckets/{bucket}/objects/{key}")
        if value == GONE:
            if r.status_code != 404:
                problems.append(f"{key}: deleted but answers {r.status_code}")
        elif r.status_code != 200:
            problems.append(f"{key}: {r.status_code} {r.text[:200]}")
        elif hashlib.sha256(r.content).hexdigest() != value:
            problems.append(f"{key}: wrong bytes")
    return problems
