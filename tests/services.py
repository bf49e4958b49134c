"""The external services some tests need (PostgreSQL, Redis, NATS), and what happens without them.

Without ``XOLO_TEST_SERVICES`` a test whose service is unreachable skips, printing how to start
it. With ``XOLO_TEST_SERVICES`` set (as ``.ci/run`` sets it) the same test fails with the same
message: CI must never go green by skipping the tests that matter most.
"""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass

import pytest

ENV = "XOLO_TEST_SERVICES"


@dataclass(frozen=True, slots=True)
class Service:
    """An external service some tests need: where to reach it, and how to start it for the message a
    test skips or fails with."""

    name: str
    host: str
    port: int
    start: str
    """The command that starts it on a machine of this project's kind."""

    @property
    def address(self) -> str:
        """``host:port``, for messages and connection strings."""
        return f"{self.host}:{self.port}"


POSTGRES = Service(
    "PostgreSQL",
    os.environ.get("XOLO_TEST_PG_HOST", "127.0.0.1"),
    int(os.environ.get("XOLO_TEST_PG_PORT", "5432")),
    "pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start",
)
REDIS = Service(
    "Redis",
    os.environ.get("XOLO_TEST_REDIS_HOST", "127.0.0.1"),
    int(os.environ.get("XOLO_TEST_REDIS_PORT", "6379")),
    "redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save '' --appendonly no",
)
NATS = Service(
    "NATS",
    os.environ.get("XOLO_TEST_NATS_HOST", "127.0.0.1"),
    int(os.environ.get("XOLO_TEST_NATS_PORT", "4222")),
    "start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- "
    "-a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server",
)


def reachable(service: Service, timeout: float = 1.0) -> bool:
    """Whether something accepts TCP connections at the service's address."""
    try:
        with socket.create_connection((service.host, service.port), timeout=timeout):
            return True
    except OSError:
        return False


def services_required() -> bool:
    """Whether ``XOLO_TEST_SERVICES`` is set (to anything but 0), so a missing service fails its
    tests instead of skipping them."""
    return os.environ.get(ENV, "") not in ("", "0")


def require(service: Service) -> None:
    """Skip (or, under ``XOLO_TEST_SERVICES``, fail) unless ``service`` is reachable."""
    if reachable(service):
        return
    message = (
        f"{service.name} is not reachable at {service.address}; start it with: {service.start}"
    )
    if services_required():
        pytest.fail(f"{message} ({ENV} is set, so this test may not skip)", pytrace=False)
    pytest.skip(message)


CHROMIUM_START = "apt-get install -y chromium (Debian's package; .ci/run installs it when missing)"


def require_program(path: str, install: str) -> str:
    """A program some tests drive (a headless browser): skip without it, or fail under
    ``XOLO_TEST_SERVICES``, saying how to install it."""
    import shutil

    found = shutil.which(path)
    if found:
        return found
    message = f"{path} is not installed; install it with: {install}"
    if services_required():
        pytest.fail(f"{message} ({ENV} is set, so this test may not skip)", pytrace=False)
    pytest.skip(message)
