"""Property tests: listing equals a reference model; ranges equal Python slicing."""

from __future__ import annotations

import asyncio
import os
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import xolo
from xolo.service.config import ServiceConfig
from xolo.service.objects import ObjectService

ALPHABET = st.sampled_from([*list("ab/-.é😀 +"), "\x80", "\uffff"])
KEYS = st.lists(st.text(ALPHABET, min_size=1, max_size=6), min_size=0, max_size=40, unique=True)


def reference(keys: list[str], prefix: str, delimiter: str) -> tuple[list[str], list[str]]:
    """S3's listing, written as plainly as possible: a merged sorted list of keys and prefixes."""
    entries: dict[bytes, tuple[str, str]] = {}
    for key in keys:
        if not key.startswith(prefix):
            continue
        rest = key[len(prefix) :]
        if delimiter and delimiter in rest:
            cp = prefix + rest[: rest.index(delimiter) + len(delimiter)]
            entries[cp.encode()] = ("prefix", cp)
        else:
            entries[key.encode()] = ("key", key)
    ordered = [entries[k] for k in sorted(entries)]
    return [v for t, v in ordered if t == "key"], [v for t, v in ordered if t == "prefix"]


async def list_all(
    store: ObjectService, prefix: str, delimiter: str, page: int
) -> tuple[list[str], list[str]]:
    keys: list[str] = []
    prefixes: list[str] = []
    cursor = None
    for _ in range(1000):
        result = await store.list_objects(
            "bkt", prefix=prefix, delimiter=delimiter, cursor=cursor, limit=page
        )
        assert len(result.objects) + len(result.prefixes) <= page
        keys += [o.key for o in result.objects]
        prefixes += result.prefixes
        cursor = result.next_cursor
        if cursor is None:
            return keys, prefixes
    raise AssertionError("listing did not terminate")


async def check_listing(
    store: ObjectService, keys: list[str], prefix: str, delimiter: str, page: int
) -> None:
    async with store:
        await store.put_bucket("bkt")
        for key in keys:
            await store.put_bytes("bkt", key, b"")
        expected_keys, expected_prefixes = reference(keys, prefix, delimiter)
        got_keys, got_prefixes = await list_all(store, prefix, delimiter, page)
        assert got_keys == expected_keys
        assert got_prefixes == expected_prefixes
        # Listed in one merged byte order: every page boundary respects it.
        merged = sorted([k.encode() for k in got_keys] + [p.encode() for p in got_prefixes])
        assert len(set(merged)) == len(merged)


@settings(max_examples=150, deadline=None)
@given(
    KEYS, st.text(ALPHABET, max_size=2), st.sampled_from(["", "/", "é", "ab"]), st.integers(1, 7)
)
def test_listing_matches_model_in_memory(
    keys: list[str], prefix: str, delimiter: str, page: int
) -> None:
    asyncio.run(check_listing(xolo.open_memory(), keys, prefix, delimiter, page))


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(KEYS, st.text(ALPHABET, max_size=2), st.sampled_from(["", "/", "é"]), st.integers(1, 7))
def test_listing_matches_model_on_sqlite(
    keys: list[str], prefix: str, delimiter: str, page: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        asyncio.run(check_listing(xolo.open(tmp), keys, prefix, delimiter, page))


DATA = os.urandom(3000)
SMALL = ServiceConfig(inline_threshold=100, chunk_size=64 * 1024)


@st.composite
def range_headers(draw: st.DrawFn) -> tuple[int, str, slice]:
    size = draw(st.integers(1, len(DATA)))
    kind = draw(st.sampled_from(["closed", "open", "suffix"]))
    if kind == "suffix":
        n = draw(st.integers(1, size + 50))
        return size, f"bytes=-{n}", slice(max(0, size - n), size)
    start = draw(st.integers(0, size - 1))
    if kind == "open":
        return size, f"bytes={start}-", slice(start, size)
    end = draw(st.integers(start, size + 50))
    return size, f"bytes={start}-{end}", slice(start, end + 1)


async def check_range(size: int, header: str, expected: slice, chunked: bool) -> None:
    config = (
        ServiceConfig(inline_threshold=100, chunk_size=64 * 1024) if chunked else ServiceConfig()
    )
    # 64 KiB chunks hold all of DATA; append a few times so the object spans several chunks.
    async with xolo.open_memory(config=config) as store:
        await store.put_bucket("bkt")
        body = DATA[:size]
        third = max(1, size // 3)
        await store.put_bytes("bkt", "k", body[:third])
        await store.append_object("bkt", "k", _one(body[third : 2 * third]))
        await store.append_object("bkt", "k", _one(body[2 * third :]))
        record = await store.head_object("bkt", "k")
        if chunked and third > 100:
            assert len(record.chunks) >= 2
        assert await store.get_bytes("bkt", "k", range=header) == body[expected]


async def _one(data: bytes):  # type: ignore[no-untyped-def]
    yield data


@settings(max_examples=200, deadline=None)
@given(range_headers(), st.booleans())
def test_ranges_equal_slicing(case: tuple[int, str, slice], chunked: bool) -> None:
    size, header, expected = case
    asyncio.run(check_range(size, header, expected, chunked))
