"""Prometheus metrics for one app, in its own registry (several apps may share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


class Metrics:
    """The counters and histograms every surface of one process updates."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "xolo_http_requests",
            "HTTP requests answered, by route, method and status",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "xolo_http_request_seconds",
            "Time to the response headers, by route and method",
            ["route", "method"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.bytes_in = Counter(
            "xolo_object_bytes_written", "Object bytes accepted", registry=self.registry
        )
        self.bytes_out = Counter(
            "xolo_object_bytes_read", "Object bytes served", registry=self.registry
        )
        self.chunk_bytes_in = Counter(
            "xolo_chunk_bytes_received",
            "Chunk bytes received by the chunk API (from routers, peers and direct clients)",
            registry=self.registry,
        )
        self.uptime = Gauge("xolo_uptime_seconds", "Seconds since start", registry=self.registry)
        self.auth_failures = Counter(
            "xolo_auth_failures",
            "Requests refused at authentication, by surface and error code",
            ["surface", "code"],
            registry=self.registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Count one answered request and record its latency, by route, method and status."""
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route, method).observe(seconds)

    def render(self) -> bytes:
        """This registry in the Prometheus text format, for the ``/metrics`` endpoint."""
        return generate_latest(self.registry)
