"""The client's decisions through httpx's transport seam, without sockets: URIs, error mapping,
retries and backoff (with ``Retry-After``), which requests are never repeated, re-authentication,
health-aware balancing over routers, the ETag-revalidated cache, integrity checks and guards."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

import xolo
from xolo.client import errors
from xolo.client.config import ClientConfig, from_env, parse_uri
from xolo.core.errors import InvalidArgument

Handler = Callable[[httpx.Request], httpx.Response]


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def make(handler: Handler, **kwargs: Any) -> tuple[xolo.Client, list[float]]:
    slept: list[float] = []
    kwargs.setdefault("url", "xolo://AK:SK@r1:9000,r2:9000")
    client = xolo.Client(transport=httpx.MockTransport(handler), sleep=slept.append, **kwargs)
    return client, slept


def written(key: str = "k", etag: str = "e") -> httpx.Response:
    doc = {"bucket": "b", "key": key, "size": 1, "etag": etag, "version": "v", "version_id": "null"}
    return httpx.Response(200, json=doc)


def error(status: int, code: str, **headers: str) -> httpx.Response:
    return httpx.Response(status, json={"error": {"code": code, "message": code}}, headers=headers)


# -- configuration ---------------------------------------------------------------------------------


def test_a_uri_names_routers_credentials_and_options() -> None:
    config = parse_uri("xolo://AK:S%2FK@a:1,b:2/?protocol=https&timeout=5&verify=false&retries=2")
    assert config.routers == ("https://a:1", "https://b:2")
    assert (config.access_key, config.secret_key) == ("AK", "S/K")
    assert (config.timeout, config.verify, config.retries) == (5.0, False, 2)
    assert parse_uri("http://h:9").routers == ("http://h:9",)
    assert "SK" not in repr(parse_uri("xolo://AK:SK@a:1"))  # the secret stays out of reprs


@pytest.mark.parametrize(
    ("uri", "says"),
    [
        ("ftp://a:1", "xolo://"),
        ("xolo://a", "host:port"),
        ("xolo://a:99999", "host:port"),
        ("xolo://AK@a:1", "ACCESS:SECRET"),
        ("xolo://a:1/?colour=red", "unknown"),
        ("xolo://a:1/?protocol=gopher", "protocol"),
        ("xolo://a:1/?timeout=soon", "numbers"),
    ],
)
def test_a_malformed_uri_says_what_is_wrong(uri: str, says: str) -> None:
    with pytest.raises(InvalidArgument, match=says):
        parse_uri(uri)


def test_from_env_reads_the_url_and_lets_keys_override() -> None:
    config = from_env(
        {"XOLO_URL": "xolo://X:Y@a:1", "XOLO_ACCESS_KEY": "AK", "XOLO_SECRET_KEY": "SK"}
    )
    assert config.credentials == ("AK", "SK") and config.routers == ("http://a:1",)
    with pytest.raises(InvalidArgument, match="XOLO_URL"):
        from_env({})


def test_a_profile_written_by_login_is_private_and_read_back(
    tmp_path: Any, monkeypatch: Any
) -> None:
    from xolo.client.config import load_profile, save_profile

    monkeypatch.setenv("XOLO_CONFIG_DIR", str(tmp_path))
    path = save_profile("work", url="xolo://h:1", access_key="AK", secret_key="SK")
    assert path.stat().st_mode & 0o777 == 0o600
    assert load_profile("work").credentials == ("AK", "SK")
    with pytest.raises(InvalidArgument, match="no profile"):
        load_profile("home")


def test_config_refuses_half_credentials() -> None:
    with pytest.raises(InvalidArgument, match="both"):
        ClientConfig(routers=("http://a:1",), access_key="AK")


# -- errors ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response", "cls"),
    [
        (error(404, "NoSuchKey"), errors.e.NoSuchKey),
        (error(404, "NoSuchBucket"), errors.e.NoSuchBucket),
        (error(409, "BucketNotEmpty"), errors.e.BucketNotEmpty),
        (error(412, "PreconditionFailed"), errors.PreconditionFailed),
        (error(401, "Unauthenticated"), errors.AuthenticationError),
        (error(403, "AccessDenied"), errors.PermissionDenied),
        (error(400, "SomethingNew"), errors.e.BadRequest),
        (httpx.Response(418), errors.XoloError),
    ],
)
def test_every_answer_maps_to_its_class(response: httpx.Response, cls: type) -> None:
    client, _ = make(lambda r: response, retries=0)
    with pytest.raises(cls):
        client.get("b", "k")


def test_httpx_exceptions_never_leak() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client, slept = make(refuse, retries=2)
    with pytest.raises(errors.TransportError):
        client.get("b", "k")
    assert len(slept) == 2  # retried twice, then gave up


# -- retries ---------------------------------------------------------------------------------------


def test_a_503_is_retried_with_jittered_backoff() -> None:
    answers = [error(503, "ServiceUnavailable"), error(503, "ServiceUnavailable"), written()]
    client, slept = make(lambda r: answers.pop(0))
    assert client.put("b", "k", b"x").etag == "e"
    assert len(slept) == 2 and all(0 <= s <= 0.4 for s in slept)


def test_retry_after_is_honoured() -> None:
    answers = [error(429, "SlowDown", **{"retry-after": "3"}), written()]
    client, slept = make(lambda r: answers.pop(0))
    client.put("b", "k", b"x")
    assert slept == [3.0]


def test_an_append_that_may_have_been_applied_is_never_repeated() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return error(503, "ServiceUnavailable")

    client, slept = make(handler)
    with pytest.raises(errors.RetryableError):
        client.append("b", "log", b"line\n")
    assert calls == ["POST"] and slept == []


def test_an_append_that_never_left_is_sent_again() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.url.host)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return written("log")

    client, _ = make(handler)
    assert client.append("b", "log", b"x").key == "log"
    assert len(calls) == 2


def test_one_reauthentication_on_401_with_tokens() -> None:
    issued: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/auth/token":
            assert request.headers["authorization"].startswith("Basic ")
            issued.append(f"t{len(issued)}")
            return httpx.Response(200, json={"token": issued[-1]})
        if request.headers["authorization"] == "Bearer t0":
            return error(401, "InvalidCredentials")
        return written()

    client, _ = make(handler, use_tokens=True)
    client.put("b", "k", b"x")
    assert issued == ["t0", "t1"]

    def always_401(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/auth/token":
            return httpx.Response(200, json={"token": "t"})
        return error(401, "InvalidCredentials")

    client, _ = make(always_401, use_tokens=True)
    with pytest.raises(errors.AuthenticationError):
        client.put("b", "k", b"x")


# -- balancing -------------------------------------------------------------------------------------


def test_a_dead_router_is_passed_over_until_it_may_be_back() -> None:
    hosts: list[str] = []
    clock = FakeClock()

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        if request.url.host == "r1":
            raise httpx.ConnectError("refused", request=request)
        return written()

    client, _ = make(handler, clock=clock)
    for _ in range(6):
        client.put("b", "k", b"x")
    assert hosts.count("r1") == 1 and hosts.count("r2") == 6  # tried once, then skipped
    clock.now += 60
    client.put("b", "k", b"x")
    client.put("b", "k", b"x")
    assert hosts.count("r1") == 2  # tried again once it may be back


def test_requests_spread_over_healthy_routers() -> None:
    hosts: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        return written()

    client, _ = make(handler)
    for _ in range(10):
        client.put("b", "k", b"x")
    assert hosts.count("r1") == hosts.count("r2") == 5


# -- cache and integrity ---------------------------------------------------------------------------


def object_response(data: bytes, etag: str) -> httpx.Response:
    headers = {"etag": f'"{etag}"', "x-checksum-sha256": hashlib.sha256(data).hexdigest()}
    return httpx.Response(200, content=data, headers=headers)


def test_the_cache_revalidates_and_never_serves_replaced_bytes() -> None:
    store = {"data": b"one", "etag": "e1"}
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("if-none-match"))
        if request.headers.get("if-none-match") == f'"{store["etag"]}"':
            return httpx.Response(304)
        return object_response(store["data"], store["etag"])

    client, _ = make(handler)
    assert client.get("b", "k") == b"one"
    assert client.get("b", "k") == b"one"
    store.update(data=b"two", etag="e2")  # another client replaced it
    assert client.get("b", "k") == b"two"
    assert seen == [None, '"e1"', '"e1"']


def test_the_cache_is_bounded_in_bytes() -> None:
    client, _ = make(lambda r: object_response(b"x" * 600, r.url.path), cache_bytes=1000)
    client.get("b", "a")
    client.get("b", "c")
    assert client.cache is not None and client.cache.used == 600


def test_bytes_that_do_not_match_their_sha256_are_refused() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=b"evil", headers={"x-checksum-sha256": "0" * 64})

    client, _ = make(handler)
    with pytest.raises(errors.IntegrityError):
        client.get("b", "k")


def test_puts_carry_their_sha256_for_the_server_to_check() -> None:
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return written()

    client, _ = make(handler)
    client.put_json("b", "k", {"a": 1}, metadata={"m": "v"}, tags={"t": "1"}, create_only=True)
    request = sent[0]
    assert request.headers["x-checksum-sha256"] == hashlib.sha256(b'{"a":1}').hexdigest()
    assert request.headers["if-none-match"] == "*" and request.headers["x-xolo-meta-m"] == "v"
    assert request.headers["content-type"] == "application/json"
    assert json.loads(request.content) == {"a": 1}


def test_recursive_deletes_are_guarded() -> None:
    client, _ = make(lambda r: httpx.Response(500))
    with pytest.raises(InvalidArgument, match="everything=True"):
        client.rm("b", "", recursive=True)
    with pytest.raises(InvalidArgument, match="ending in '/'"):
        client.rm("b", "photos", recursive=True)


def test_the_async_client_makes_the_same_decisions() -> None:
    import asyncio

    answers = [error(503, "ServiceUnavailable"), written()]
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def main() -> str:
        async with xolo.AsyncClient(
            url="xolo://AK:SK@r1:1",
            transport=httpx.MockTransport(lambda r: answers.pop(0)),
            sleep=sleep,
        ) as client:
            return (await client.put("b", "k", b"x")).etag

    assert asyncio.run(main()) == "e" and len(slept) == 1


# -- logging and tracing ---------------------------------------------------------------------------


def test_requests_are_logged_without_credentials(caplog: pytest.LogCaptureFixture) -> None:
    from xolo.client.observe import redact_url

    client, _ = make(lambda r: written(), url="xolo://AK:TOPSECRET@r1:1")
    with caplog.at_level("DEBUG", logger="xolo.client"):
        client.put("b", "k", b"x")
    lines = [r.getMessage() for r in caplog.records if r.name == "xolo.client"]
    assert lines and "PUT http://r1:1/v1/buckets/b/objects/k -> 200" in lines[0]
    assert not any("TOPSECRET" in line or "AK:" in line for line in lines)
    url = "http://u:p@h:1/v1/chunks/x?x-xolo-expires=9&x-xolo-signature=abc&X-Amz-Signature=d"
    shown = redact_url(url)
    assert "abc" not in shown and "u:p" not in shown and "=d" not in shown
    assert "x-xolo-expires=9" in shown


def test_each_request_is_a_span_when_opentelemetry_is_there(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import contextlib

    from xolo.client import observe

    spans: list[dict[str, Any]] = []

    class Span:
        def __init__(self, attributes: dict[str, Any]) -> None:
            self.attributes = dict(attributes)

        def set_attribute(self, name: str, value: Any) -> None:
            self.attributes[name] = value

    class Tracer:
        @contextlib.contextmanager
        def start_as_current_span(self, name: str, **kwargs: Any) -> Any:
            span = Span(kwargs.get("attributes", {}))
            yield span
            spans.append({"name": name, **span.attributes})

    monkeypatch.setattr(observe, "tracer", Tracer())
    client, _ = make(lambda r: written())
    client.put("b", "k", b"x")
    assert spans == [
        {
            "name": "xolo PUT",
            "http.request.method": "PUT",
            "url.full": spans[0]["url.full"],
            "http.response.status_code": 200,
        }
    ]
    assert spans[0]["url.full"].endswith("/v1/buckets/b/objects/k")


def test_a_consumed_stream_is_not_replayed_after_a_401() -> None:
    bodies: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/v1/auth/token":
            return httpx.Response(200, json={"token": f"t{len(bodies)}"})
        bodies.append(request.read())
        return error(401, "InvalidCredentials")

    client, _ = make(handler, use_tokens=True)
    with pytest.raises(errors.AuthenticationError):
        client.put("b", "k", iter([b"a" * 100, b"b" * 100]))
    assert bodies == [b"a" * 100 + b"b" * 100]  # sent once, never again empty
    assert client.token is None  # the next request asks for a new token


def test_conditional_writes_are_not_repeated_after_they_may_have_applied() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return error(503, "ServiceUnavailable")

    client, slept = make(handler)
    with pytest.raises(errors.RetryableError):
        client.put("b", "k", b"x", create_only=True)
    with pytest.raises(errors.RetryableError):
        client.put("b", "k", b"x", if_match="e")
    with pytest.raises(errors.RetryableError):
        client.commit_staging("b", "s/", "f/")
    assert calls == ["PUT", "PUT", "POST"] and slept == []


def test_a_router_with_direct_transfers_off_gets_the_file_through_itself(tmp_path: Path) -> None:
    seen: list[str] = []
    received = bytearray()

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"{request.method} {request.url.path}")
        if request.url.path.endswith("/direct"):
            return error(501, "NotImplemented")
        received.extend(request.read())
        return written("big")

    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(9 * 1024 * 1024))  # over one chunk: direct by default
    client, _ = make(handler)
    info = client.put_file("b", "big", src)
    assert info.key == "big"
    assert seen == ["POST /v1/buckets/b/direct", "PUT /v1/buckets/b/objects/big"]
    assert bytes(received) == src.read_bytes()


def test_a_missing_bucket_on_the_direct_route_is_not_a_fallback(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return error(404, "NoSuchBucket")

    src = tmp_path / "big.bin"
    src.write_bytes(os.urandom(9 * 1024 * 1024))
    client, _ = make(handler)
    with pytest.raises(errors.e.NoSuchBucket):
        client.put_file("b", "big", src)


@pytest.mark.parametrize(
    "key", ["in/../../etc/x", "in/a/../../x", "in/a//b", "in/./x", "in/", "in/a\\..\\x"]
)
def test_a_tree_download_never_writes_outside_its_directory(tmp_path: Path, key: str) -> None:
    from xolo.client.bulk import local_target

    with pytest.raises(InvalidArgument):
        local_target(tmp_path, key, "in/")


def test_a_tree_download_puts_a_nested_key_under_its_directory(tmp_path: Path) -> None:
    from xolo.client.bulk import local_target

    assert local_target(tmp_path, "in/a/b.txt", "in/") == tmp_path / "a" / "b.txt"
