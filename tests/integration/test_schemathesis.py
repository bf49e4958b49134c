"""schemathesis against the OpenAPI document of a real running server: generated requests to
every operation (with root's credentials, so they reach the handlers) never get a 5xx, and no
response contradicts the document (status codes, content types, bodies)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.server import ROOT_KEY, ROOT_SECRET, XoloServer

EXAMPLES = 15
"""Generated requests per operation (about 50 operations: under a minute in all)."""

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[XoloServer]:
    srv = XoloServer(tmp_path_factory.mktemp("fuzz") / "data").start()
    with srv.client() as http:
        http.put("/v1/buckets/fuzzed")  # one bucket that exists, for the paths that name it
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def api_schema(live: XoloServer) -> Any:
    doc = httpx.get(f"{live.url}/openapi.json", auth=(ROOT_KEY, ROOT_SECRET)).json()
    # The feed streams forever by design; it has its own tests (test_events.py).
    del doc["paths"]["/v1/events"]
    return schemathesis.openapi.from_dict(doc)


def test_no_request_gets_a_5xx_or_an_undocumented_answer(api_schema: Any, live: XoloServer) -> None:
    auth = {"authorization": httpx.BasicAuth(ROOT_KEY, ROOT_SECRET)._auth_header}
    failures: list[str] = []
    operations = 0
    for result in api_schema.get_all_operations():
        operation = result.ok()
        operations += 1

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        def run(case: Any) -> None:
            case.call_and_validate(base_url=live.url, headers=auth, checks=CHECKS, timeout=30)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them all
            failures.append(f"{operation.label}: {str(exc)[:1500]}")
    assert operations >= 45
    assert failures == [], "\n\n".join(failures)
    served = httpx.get(f"{live.url}/metrics", auth=(ROOT_KEY, ROOT_SECRET)).text
    answered = sum(
        float(line.rsplit(" ", 1)[1])
        for line in served.splitlines()
        if line.startswith("xolo_http_requests_total{")
    )
    assert answered >= operations * 5  # the generated requests really reached the server
