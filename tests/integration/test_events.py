"""The change feed on a real server: SSE in order with Last-Event-ID resume, prefix and type
filters, access like reads; webhooks signed and in order; decorated handlers that reconnect
and resume without handling an event twice."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from pathlib import Path
from typing import Any

import httpx

from tests.cluster import wait_for
from tests.receiver import Receiver
from tests.server import ROOT_KEY, ROOT_SECRET, XoloServer


def read_events(
    server: XoloServer,
    bucket: str,
    *,
    count: int,
    headers: dict[str, str] | None = None,
    following: threading.Event | None = None,
    **params: str,
) -> list[tuple[str, str, dict[str, Any]]]:
    """The first ``count`` events of the bucket's feed: (id, type, data). ``following`` is set
    once the server says where the stream starts (its ``: following`` comment)."""
    out: list[tuple[str, str, dict[str, Any]]] = []
    with httpx.stream(
        "GET",
        f"{server.url}/v1/events",
        params={"bucket": bucket, **params},
        headers=headers or {},
        auth=server.auth,
        timeout=30,
    ) as r:
        assert r.status_code == 200, r.read()
        assert r.headers["content-type"].startswith("text/event-stream")
        message: dict[str, str] = {}
        for line in r.iter_lines():
            if line.startswith(": following") and following is not None:
                following.set()
            if line.startswith(":") or line.startswith("retry:"):
                continue
            if line:
                name, _, value = line.partition(": ")
                message[name] = value
                continue
            if message:
                out.append((message["id"], message["event"], json.loads(message["data"])))
                message = {}
                if len(out) == count:
                    return out
    raise AssertionError(f"the stream ended after {len(out)} events")


def test_sse_delivers_in_order_and_resumes_from_last_event_id(
    server: XoloServer, http: httpx.Client
) -> None:
    http.put("/v1/buckets/feed-order")
    for i in range(5):
        http.put(f"/v1/buckets/feed-order/objects/k{i}", content=f"v{i}".encode())
    http.post("/v1/buckets/feed-order/objects/k0", content=b" more")
    http.delete("/v1/buckets/feed-order/objects/k1")
    events = read_events(server, "feed-order", count=8)
    assert [e[1] for e in events] == [
        "bucket.created", *["object.created"] * 5, "object.appended", "object.deleted",
    ]  # fmt: skip
    assert [int(e[0]) for e in events] == list(range(1, 9))
    assert events[1][2]["key"] == "k0" and events[1][2]["size"] == 2
    assert (
        events[1][2]["mac"] == http.get("/v1/buckets/feed-order/audit").json()["entries"][1]["mac"]
    )
    resumed = read_events(server, "feed-order", count=3, headers={"last-event-id": "5"})
    assert [int(e[0]) for e in resumed] == [6, 7, 8]


def test_sse_filters_by_prefix_and_type(server: XoloServer, http: httpx.Client) -> None:
    http.put("/v1/buckets/feed-filter")
    http.put("/v1/buckets/feed-filter/objects/orders/1", content=b"a")
    http.put("/v1/buckets/feed-filter/objects/misc/1", content=b"b")
    http.delete("/v1/buckets/feed-filter/objects/orders/1")
    http.put("/v1/buckets/feed-filter/objects/orders/2", content=b"c")
    got = read_events(server, "feed-filter", count=2, prefix="orders/", types="object.created")
    assert [(e[2]["key"], e[1]) for e in got] == [
        ("orders/1", "object.created"),
        ("orders/2", "object.created"),
    ]


def test_sse_of_a_live_stream_sees_new_writes(server: XoloServer, http: httpx.Client) -> None:
    http.put("/v1/buckets/feed-live")
    got: list[Any] = []
    following = threading.Event()

    def listen() -> None:
        got.extend(read_events(server, "feed-live", count=3, start="end", following=following))

    thread = threading.Thread(target=listen)
    thread.start()
    # The stream's start ("end" of the chain) is fixed before the server's first comment.
    assert following.wait(10), "the listener did not connect"
    for i in range(3):
        http.put(f"/v1/buckets/feed-live/objects/n{i}", content=b"x")
    thread.join(30)
    assert [e[2]["key"] for e in got] == ["n0", "n1", "n2"]


def test_the_feed_needs_read_access_and_reveals_nothing_otherwise(server: XoloServer) -> None:
    for name in ("feed-order", "no-such-feed-bucket"):
        r = httpx.get(f"{server.url}/v1/events", params={"bucket": name}, timeout=10)
        assert r.status_code == 401
    r = httpx.get(f"{server.url}/v1/events", auth=server.auth, timeout=10)
    assert r.status_code == 400


def test_webhooks_are_signed_and_delivered_in_order(server: XoloServer, http: httpx.Client) -> None:
    http.put("/v1/buckets/feed-hook")
    with Receiver() as receiver:
        r = http.post(
            "/v1/admin/notify",
            json={"kind": "webhook", "url": receiver.url, "bucket": "feed-hook", "prefix": "in/"},
        )
        assert r.status_code == 201, r.text
        secret = r.json()["secret"]
        target = r.json()["id"]
        assert "secret" not in http.get(f"/v1/admin/notify/{target}").json()
        for i in range(6):
            http.put(f"/v1/buckets/feed-hook/objects/in/{i}", content=b"x")
        http.put("/v1/buckets/feed-hook/objects/out/ignored", content=b"x")
        wait_for("six deliveries", lambda: len(receiver.deliveries) >= 6, timeout=30)
        keys = [e["key"] for e in receiver.events()]
        assert keys == [f"in/{i}" for i in range(6)]
        for headers, body in receiver.deliveries:
            lower = {k.lower(): v for k, v in headers.items()}
            expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
            assert lower["x-xolo-signature"] == expected
            assert lower["x-xolo-event"] == "object.created"
        listed = http.get("/v1/admin/notify").json()["targets"]
        mine = next(t for t in listed if t["id"] == target)
        assert mine["state"] == "active" and mine["failures"] == 0
        assert http.delete(f"/v1/admin/notify/{target}").status_code == 204


def test_decorated_handlers_reconnect_and_never_handle_an_event_twice(
    tmp_path: Path,
) -> None:
    from xolo.client.events import Handlers

    srv = XoloServer(tmp_path / "data").start()
    app = Handlers()
    handled: list[tuple[str, int]] = []

    @app.on("object.created", bucket="inbox", prefix="orders/")
    async def order(event: Any) -> None:
        handled.append((event.key, event.sequence))

    stop = asyncio.Event()
    loop = asyncio.new_event_loop()

    def serve() -> None:
        loop.run_until_complete(
            app.serve(url=srv.url, access_key=ROOT_KEY, secret_key=ROOT_SECRET, stop=stop)
        )

    with srv.client() as http:
        http.put("/v1/buckets/inbox")
        http.put("/v1/buckets/inbox/objects/orders/before", content=b"x")  # before: not replayed
    thread = threading.Thread(target=serve)
    thread.start()
    try:
        with srv.client() as http:
            wait_for("the handlers to connect", lambda: _feed_connected(srv, http), timeout=20)
            for i in range(3):
                http.put(f"/v1/buckets/inbox/objects/orders/{i}", content=b"x")
            http.put("/v1/buckets/inbox/objects/other/ignored", content=b"x")
        wait_for("three orders", lambda: len(handled) == 3, timeout=20)
        srv.stop()  # the connection drops; the handlers keep trying
        srv.start()
        with srv.client() as http:
            for i in range(3, 5):
                http.put(f"/v1/buckets/inbox/objects/orders/{i}", content=b"x")
        wait_for("five orders", lambda: len(handled) == 5, timeout=30)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(30)
        loop.close()
        srv.stop()
    assert [k for k, _ in handled] == [f"orders/{i}" for i in range(5)]
    assert len({seq for _, seq in handled}) == 5


def _feed_connected(srv: XoloServer, http: httpx.Client) -> bool:
    """Whether an events stream is open (its request is counted once it answered)."""
    return 'route="events"' in http.get("/metrics").text


def test_the_asyncapi_document_describes_the_events_actually_sent(
    server: XoloServer, http: httpx.Client
) -> None:
    import jsonschema

    doc = http.get("/asyncapi.json").json()
    assert doc["asyncapi"].startswith("3.") and doc["info"]["title"]
    channel = doc["channels"]["bucketEvents"]
    assert channel["address"].startswith("/v1/events")
    op = doc["operations"]["receiveEvents"]
    assert op["action"] == "receive" and op["channel"]["$ref"] == "#/channels/bucketEvents"
    payload = doc["components"]["messages"]["event"]["payload"]
    jsonschema.Draft202012Validator.check_schema(payload)
    http.put("/v1/buckets/feed-schema")
    http.put("/v1/buckets/feed-schema/objects/k", content=b"x")
    http.delete("/v1/buckets/feed-schema/objects/k")
    for _, kind, data in read_events(server, "feed-schema", count=3):
        jsonschema.validate(data, payload)
        assert data["type"] == kind
    assert httpx.get(f"{server.url}/asyncapi.json").status_code == 401
