"""Change events delivered to the real NATS JetStream and Redis on this machine, in order, once
per event; these tests fail (not skip) without the brokers when XOLO_TEST_SERVICES is set."""

from __future__ import annotations

import asyncio
import json
import secrets

import httpx

from tests.cluster import wait_for
from tests.server import XoloServer
from tests.services import NATS, REDIS, require


def write_some(http: httpx.Client, bucket: str, n: int) -> None:
    http.put(f"/v1/buckets/{bucket}")
    for i in range(n):
        http.put(f"/v1/buckets/{bucket}/objects/k{i}", content=b"x")


def test_events_reach_a_nats_jetstream_stream_in_order(
    server: XoloServer, http: httpx.Client
) -> None:
    require(NATS)
    import nats

    bucket, root = f"to-nats-{secrets.token_hex(3)}", f"xt{secrets.token_hex(3)}"
    http.put(f"/v1/buckets/{bucket}")
    r = http.post(
        "/v1/admin/notify",
        json={"kind": "nats", "url": f"nats://{NATS.address}", "bucket": bucket, "subject": root},
    )
    assert r.status_code == 201, r.text
    for i in range(5):
        http.put(f"/v1/buckets/{bucket}/objects/k{i}", content=b"x")

    async def consume() -> list[tuple[str, str, dict[str, object]]]:
        nc = await nats.connect(f"nats://{NATS.address}")
        try:
            js = nc.jetstream()
            got: list[tuple[str, str, dict[str, object]]] = []
            deadline = asyncio.get_running_loop().time() + 30
            while True:  # the notifier creates the stream with its first delivery
                try:
                    await js.stream_info(root.upper())
                    break
                except nats.js.errors.NotFoundError:
                    assert asyncio.get_running_loop().time() < deadline, "no stream appeared"
                    await asyncio.sleep(0.1)
            sub = await js.pull_subscribe(f"{root}.>", durable=None, stream=root.upper())
            while len(got) < 5 and asyncio.get_running_loop().time() < deadline:
                try:
                    msgs = await sub.fetch(5, timeout=1)
                except nats.errors.TimeoutError:
                    continue
                for msg in msgs:
                    got.append((msg.subject, msg.headers["Nats-Msg-Id"], json.loads(msg.data)))
                    await msg.ack()
            await js.delete_stream(root.upper())
            return got
        finally:
            await nc.close()

    got = asyncio.run(consume())
    assert [doc["key"] for _, _, doc in got] == [f"k{i}" for i in range(5)]
    assert all(subject == f"{root}.{bucket}.object.created" for subject, _, _ in got)
    assert [msg_id for _, msg_id, _ in got] == [f"{bucket}:{s}" for s in range(2, 7)]


def test_events_reach_a_redis_stream_in_order(server: XoloServer, http: httpx.Client) -> None:
    require(REDIS)
    import redis

    bucket, stream = f"to-redis-{secrets.token_hex(3)}", f"xolo-test:{secrets.token_hex(4)}"
    http.put(f"/v1/buckets/{bucket}")
    r = http.post(
        "/v1/admin/notify",
        json={
            "kind": "redis",
            "url": f"redis://{REDIS.address}/0",
            "bucket": bucket,
            "subject": stream,
            "types": ["object.created", "object.deleted"],
        },
    )
    assert r.status_code == 201, r.text
    for i in range(4):
        http.put(f"/v1/buckets/{bucket}/objects/k{i}", content=b"x")
    http.delete(f"/v1/buckets/{bucket}/objects/k0")
    client = redis.Redis(host=REDIS.host, port=REDIS.port)
    try:
        wait_for("five entries", lambda: client.xlen(stream) >= 5, timeout=30)
        entries = client.xrange(stream)
        kinds = [fields[b"type"].decode() for _, fields in entries]
        keys = [json.loads(fields[b"data"])["key"] for _, fields in entries]
        assert kinds == ["object.created"] * 4 + ["object.deleted"]
        assert keys == ["k0", "k1", "k2", "k3", "k0"]
    finally:
        client.delete(stream)
        client.close()
