"""``client.events()`` follows a bucket's change feed on a real cluster (3 peers, 2 routers):
from now on, or resumed after a sequence with nothing missed or repeated, filtered by prefix
and type."""

from __future__ import annotations

import asyncio
import threading

import xolo
from tests.client.conftest import Routers
from tests.server import ROOT_KEY, ROOT_SECRET


def url(routers: Routers) -> str:
    return f"xolo://{ROOT_KEY}:{ROOT_SECRET}@{routers.hosts}"


def test_events_resume_after_a_sequence_and_filter(routers: Routers) -> None:
    with xolo.Client(url=url(routers)) as client:
        client.create_bucket("feed-sync")
        for i in range(5):
            client.put("feed-sync", f"in/{i}", b"x")
        client.put("feed-sync", "other/skip", b"x")
        client.delete("feed-sync", "in/0")
        seen = []
        for event in client.events("feed-sync", prefix="in/", after=0):
            seen.append((event.type, event.key))
            if len(seen) == 6:
                break
        assert seen == [("object.created", f"in/{i}") for i in range(5)] + [
            ("object.deleted", "in/0")
        ]
        third = next(iter(client.events("feed-sync", after=2)))
        assert (third.sequence, third.key) == (3, "in/1")  # sequence 1 is the bucket's creation
        deletes = next(iter(client.events("feed-sync", types=["object.deleted"], after=0)))
        assert deletes.key == "in/0"


def test_async_events_from_now_on(routers: Routers) -> None:
    async def main() -> list[str]:
        async with xolo.AsyncClient(url=url(routers)) as client:
            await client.create_bucket("feed-async")
            await client.put("feed-async", "before", b"x")
            got: list[str] = []
            started = asyncio.Event()

            async def follow() -> None:
                stream = client.events("feed-async")
                started.set()
                async for event in stream:
                    got.append(event.key or "")
                    if len(got) == 2:
                        return

            task = asyncio.create_task(follow())
            await started.wait()
            # "From now on" starts when the stream connects, which the client does not announce:
            # write until the follower has seen two writes (a condition, bounded per round).
            n = 0
            while not task.done():
                await client.put("feed-async", f"after/{n}", b"x")
                n += 1
                await asyncio.wait([task], timeout=0.5)
            return got

    got = asyncio.run(main())
    assert "before" not in got and all(k.startswith("after/") for k in got)
    assert got == sorted(got, key=lambda k: int(k.split("/")[1]))


def test_the_sync_stream_can_be_followed_from_a_thread(routers: Routers) -> None:
    with xolo.Client(url=url(routers)) as client:
        client.create_bucket("feed-thread")
        client.put("feed-thread", "a", b"1")
        got: list[str] = []
        done = threading.Event()

        def follow() -> None:
            for event in client.events("feed-thread", after=1):
                got.append(event.key or "")
                if len(got) == 2:
                    done.set()
                    return

        thread = threading.Thread(target=follow, daemon=True)
        thread.start()
        client.put("feed-thread", "b", b"2")
        assert done.wait(30)
        assert got == ["a", "b"]
