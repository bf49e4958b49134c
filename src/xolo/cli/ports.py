"""Free loopback ports for the processes a local cluster, a test or a benchmark starts.

A port is "free" when it can be bound right now; nothing stops another program from taking it
before our child process binds it, so the launchers that use these ports still check that each
child came up. Two calls in one process never hand out the same port, and no port comes from
the kernel's ephemeral range (``ip_local_port_range``), where any outgoing connection on the
machine may take it in the meantime: a test suite full of pooled client connections made that
collision happen.
"""

from __future__ import annotations

import random
import socket
import threading

MAX_PORT = 65535
LOWEST = 10000
"""Below this are the ports services are usually configured on."""
EPHEMERAL_FILE = "/proc/sys/net/ipv4/ip_local_port_range"


def ephemeral_range() -> tuple[int, int]:
    """The ports the kernel picks for outgoing connections (Linux's default when unknown)."""
    try:
        with open(EPHEMERAL_FILE) as f:
            low, high = (int(x) for x in f.read().split())
    except (OSError, ValueError):
        return 32768, 60999
    return low, high


_handed_out: set[int] = set()
_lock = threading.Lock()


def _bindable(host: str, port: int) -> bool:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(
    host: str = "127.0.0.1",
    *,
    companions: tuple[int, ...] = (),
    rng: random.Random | None = None,
) -> int:
    """A port that is free on ``host``, and so is ``port + offset`` for every offset given.

    SeaweedFS, for one, derives a gRPC port as its HTTP port + 10000 and exits at once when that
    sum is above 65535 or taken: ``free_port(companions=(10000,))`` gives a port safe for it.
    """
    highest = MAX_PORT - max(companions, default=0)
    if highest < LOWEST:
        raise ValueError(f"no port leaves room for companions at offsets {companions}")
    low, high = ephemeral_range()
    rng = rng or random.SystemRandom()
    with _lock:
        for _ in range(5000):
            port = rng.randint(LOWEST, highest)
            wanted = [port, *(port + offset for offset in companions)]
            if any(p in _handed_out or low <= p <= high for p in wanted):
                continue
            if all(_bindable(host, p) for p in wanted):
                _handed_out.update(wanted)
                return port
    raise RuntimeError(f"found no free port on {host} (with companions at {companions})")
