"""The worker supervisor (``cli/runner.py::BalancedMultiprocess``) when a worker's sockets
cannot be bound, and when SIGTTIN asks for one more worker: no real workers are started."""

from __future__ import annotations

import errno
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import uvicorn

from xolo.cli import runner


class DeadWorker:
    """A worker that has exited (not at startup)."""

    pid = 4242
    exitcode = 1

    def is_alive(self, timeout: float = 5) -> bool:
        return False

    def kill(self) -> None:
        pass

    def join(self) -> None:
        pass


class RecordedWorker:
    """Records the sockets it was given instead of starting a process."""

    def __init__(self, config: uvicorn.Config, sockets: list[socket.socket]) -> None:
        self.addresses = [s.getsockname() for s in sockets]
        self.pid = 4343

    def start(self) -> None:
        pass


@pytest.fixture
def supervisor(monkeypatch: pytest.MonkeyPatch) -> Iterator[runner.BalancedMultiprocess]:
    monkeypatch.setattr(runner, "Process", RecordedWorker)
    listening = runner.bind("127.0.0.1", 0)
    config = uvicorn.Config("xolo.cli.serve:app", factory=True, workers=2)
    yield runner.BalancedMultiprocess(config, sockets=[listening])


def _refuse(*args: Any) -> socket.socket:
    raise OSError(errno.EADDRINUSE, "Address already in use")


def test_a_respawn_that_cannot_bind_keeps_the_slot_and_succeeds_at_the_next_check(
    supervisor: runner.BalancedMultiprocess, monkeypatch: pytest.MonkeyPatch
) -> None:
    dead = DeadWorker()
    supervisor.processes = [dead]  # type: ignore[list-item]
    with monkeypatch.context() as m:
        m.setattr(runner, "_reuse_port_socket", _refuse)
        supervisor.keep_subprocess_alive()  # must not raise out of the supervisor's loop
    assert supervisor.processes == [dead] and not supervisor.should_exit.is_set()
    supervisor.keep_subprocess_alive()
    (replacement,) = supervisor.processes
    assert isinstance(replacement, RecordedWorker)
    assert replacement.addresses == [a for a, _ in supervisor._addresses]


def test_sigttin_adds_a_worker_with_sockets_of_its_own(
    supervisor: runner.BalancedMultiprocess,
) -> None:
    supervisor.handle_ttin()
    (added,) = supervisor.processes
    assert isinstance(added, RecordedWorker)
    assert added.addresses == [a for a, _ in supervisor._addresses]
    assert supervisor.processes_num == 3


def test_sigttin_that_cannot_bind_adds_nothing(
    supervisor: runner.BalancedMultiprocess, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "_reuse_port_socket", _refuse)
    supervisor.handle_ttin()
    assert supervisor.processes == [] and supervisor.processes_num == 2
