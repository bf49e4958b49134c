"""Delivering the change feed to webhooks, NATS JetStream and Redis Streams.

The ``notify`` background task runs every second under a lease (one router delivers, so each
target's events go out in order). For each active target it sends the events after the
target's cursor, one by one, and moves the cursor after each delivery: at least once, in order
per bucket. A failed delivery waits an exponential, jittered backoff before the next try; after
``MAX_FAILURES`` in a row the target is ``dead`` (shown by the admin API) until revived.

Webhooks are POSTed as JSON with ``X-Xolo-Event``, ``X-Xolo-Delivery`` (``bucket:sequence``)
and ``X-Xolo-Signature: sha256=<HMAC of the body under the target's secret>``. NATS messages go
to JetStream subject ``<subject>.<bucket>.<type>`` with ``Nats-Msg-Id`` for deduplication;
Redis entries are XADDed to ``<stream>`` (default ``xolo:events:<bucket>``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import random
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, Protocol

import httpx

from xolo.core.audit import Entry
from xolo.core.credentials import SecretBox
from xolo.core.events import check_types, event_json
from xolo.core.records import NotifyTarget
from xolo.service.events import Feed
from xolo.service.notify import NotifyMeta

log = logging.getLogger("xolo.notify")

MAX_FAILURES = 8
"""Consecutive failures after which a target is dead (about 4 minutes of backoff in all)."""

BATCH = 100
"""Events one target is sent per run."""

TIMEOUT = 10.0


def backoff(failures: int, rng: random.Random) -> float:
    """Seconds before the next try: 1, 2, 4, ... up to 5 minutes, times a random 0.5-1.5."""
    return float(min(300, 2 ** (failures - 1))) * rng.uniform(0.5, 1.5)


def signature(secret: str, body: bytes) -> str:
    """The ``X-Xolo-Signature`` value, by which a receiver knows the event came from xolo."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Sender(Protocol):
    """One kind of destination."""

    async def send(self, target: NotifyTarget, entry: Entry, body: bytes) -> None:
        """Deliver one event; raise on failure."""
        ...

    async def close(self) -> None:
        """Release connections."""
        ...


class WebhookSender:
    """POSTs each event as JSON to the target's URL, signed with the target's secret."""

    def __init__(self, box: SecretBox) -> None:
        self._box = box
        self._http = httpx.AsyncClient(timeout=TIMEOUT)

    async def send(self, target: NotifyTarget, entry: Entry, body: bytes) -> None:
        """Only a 2xx answer is a delivery; anything else raises, so the event is tried again."""
        assert target.sealed_secret is not None
        secret = self._box.open(target.sealed_secret)
        headers = {
            "content-type": "application/json",
            "x-xolo-event": entry.event_type or "",
            "x-xolo-delivery": f"{entry.bucket}:{entry.sequence}",
            "x-xolo-signature": signature(secret, body),
        }
        r = await self._http.post(target.target, content=body, headers=headers)
        if not 200 <= r.status_code < 300:
            raise RuntimeError(f"the webhook answered {r.status_code}")

    async def close(self) -> None:
        """See ``Sender.close``."""
        await self._http.aclose()


class NatsSender:
    """JetStream, with one connection per server URL."""

    def __init__(self) -> None:
        self._conns: dict[str, Any] = {}

    async def _js(self, target: NotifyTarget, root: str) -> Any:
        import nats
        from nats.js.errors import NotFoundError

        conn = self._conns.get(target.target)
        if conn is None or conn.is_closed:
            conn = await nats.connect(
                target.target, connect_timeout=TIMEOUT, max_reconnect_attempts=2
            )
            self._conns[target.target] = conn
        js = conn.jetstream()
        stream = root.upper().replace(".", "_")
        try:
            await js.stream_info(stream)
        except NotFoundError:
            await js.add_stream(name=stream, subjects=[f"{root}.>"])
        return js

    async def send(self, target: NotifyTarget, entry: Entry, body: bytes) -> None:
        """Publish to ``<subject>.<bucket>.<type>``, creating the stream on first use;
        ``Nats-Msg-Id`` lets JetStream drop a retried duplicate."""
        root = target.subject or "xolo"
        js = await self._js(target, root)
        subject = f"{root}.{entry.bucket}.{entry.event_type}"
        await js.publish(
            subject,
            body,
            headers={"Nats-Msg-Id": f"{entry.bucket}:{entry.sequence}"},
            timeout=TIMEOUT,
        )

    async def close(self) -> None:
        """Close every connection opened so far."""
        for conn in self._conns.values():
            await conn.close()


class RedisSender:
    """XADD to a stream, with one client per server URL."""

    def __init__(self) -> None:
        self._clients: dict[str, Any] = {}

    async def send(self, target: NotifyTarget, entry: Entry, body: bytes) -> None:
        """XADD the event's id, type and JSON to the target's stream (by default one per bucket)."""
        import redis.asyncio as redis

        client = self._clients.get(target.target)
        if client is None:
            client = self._clients[target.target] = redis.from_url(
                target.target, socket_timeout=TIMEOUT
            )
        stream = target.subject or f"xolo:events:{entry.bucket}"
        await client.xadd(
            stream,
            {
                "id": f"{entry.bucket}:{entry.sequence}",
                "type": entry.event_type or "",
                "data": body,
            },
        )

    async def close(self) -> None:
        """Close every client opened so far."""
        for client in self._clients.values():
            await client.aclose()


class Notifier:
    """The ``notify`` background task."""

    name = "notify"

    def __init__(
        self,
        *,
        meta: NotifyMeta,
        feed: Feed,
        box: SecretBox,
        schedule: str = "* * * * * *",
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._meta = meta
        self._feed = feed
        self.schedule = schedule
        self._clock = clock
        self._rng = rng or random.Random()
        self._senders: dict[str, Sender] = {
            "webhook": WebhookSender(box),
            "nats": NatsSender(),
            "redis": RedisSender(),
        }

    async def run_once(self) -> dict[str, int]:
        """Serve every active target whose backoff has passed, each from its own cursor."""
        counters: Counter[str] = Counter()
        now = self._clock()
        due = [
            t for t in await self._meta.list_targets() if t.state == "active" and t.next_try <= now
        ]
        for target in due:
            await self._serve(target, counters)
        return dict(counters)

    async def _serve(self, target: NotifyTarget, counters: Counter[str]) -> None:
        types = check_types(target.types)
        events, cursor = await self._feed.page(
            target.bucket, after=target.cursor, prefix=target.prefix, types=types, limit=BATCH
        )
        sender = self._senders[target.kind]
        for entry in events:
            body = json.dumps(event_json(entry), separators=(",", ":")).encode()
            try:
                await sender.send(target, entry, body)
            except Exception as exc:  # any failure of the destination: back off and retry
                await self._failed(target, entry.sequence - 1, exc, counters)
                return
            counters["delivered"] += 1
            target = dataclasses.replace(target, cursor=entry.sequence, failures=0)
            await self._meta.put_target(target)
        if cursor != target.cursor or target.failures:
            await self._meta.put_target(
                dataclasses.replace(target, cursor=cursor, failures=0, last_error=None)
            )

    async def _failed(
        self, target: NotifyTarget, cursor: int, exc: BaseException, counters: Counter[str]
    ) -> None:
        failures = target.failures + 1
        dead = failures >= MAX_FAILURES
        counters["dead" if dead else "failed"] += 1
        message = f"{type(exc).__name__}: {exc}"[:500]
        log.warning("delivering to %s failed (%d in a row): %s", target.id, failures, message)
        await self._meta.put_target(
            dataclasses.replace(
                target,
                cursor=cursor,
                failures=failures,
                state="dead" if dead else "active",
                last_error=message,
                next_try=self._clock() + backoff(failures, self._rng),
            )
        )

    async def close(self) -> None:
        """Release every sender's connections."""
        for sender in self._senders.values():
            await sender.close()
