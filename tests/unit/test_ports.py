"""Free ports with companions: SeaweedFS needs its HTTP port + 10000 valid and free too."""

from __future__ import annotations

import random
import socket

from xolo.cli.ports import MAX_PORT, _bindable, ephemeral_range, free_port


class Scripted(random.Random):
    """Draws the given ports first, then random ones."""

    def __init__(self, first: list[int]) -> None:
        super().__init__(7)
        self.first = list(first)

    def randint(self, a: int, b: int) -> int:
        if self.first:
            port = self.first.pop(0)
            assert a <= port <= b, f"{port} drawn outside [{a}, {b}]"
            return port
        return super().randint(a, b)


def test_companion_ports_are_never_out_of_range() -> None:
    for _ in range(300):
        port = free_port(companions=(10000,))
        assert port + 10000 <= MAX_PORT
        assert _bindable("127.0.0.1", port) and _bindable("127.0.0.1", port + 10000)


def test_a_port_whose_companion_is_taken_is_passed_over() -> None:
    with socket.socket() as held:
        for taken in range(20000, 32768):  # outside the ephemeral range, as free_port draws
            try:
                held.bind(("127.0.0.1", taken))
                break
            except OSError:
                continue
        held.listen()
        candidate = taken - 10000
        port = free_port(companions=(10000,), rng=Scripted([candidate]))
        assert port != candidate
        assert port + 10000 != taken


def test_no_port_or_companion_comes_from_the_ephemeral_range() -> None:
    low, high = ephemeral_range()
    for _ in range(300):
        port = free_port(companions=(10000,))
        assert not low <= port <= high and not low <= port + 10000 <= high
        assert not low <= free_port() <= high


def test_no_port_is_handed_out_twice() -> None:
    ports = [free_port() for _ in range(200)]
    assert len(set(ports)) == len(ports)
