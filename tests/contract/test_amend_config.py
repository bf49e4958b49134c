"""Tags, canned ACLs, multipart layouts and bucket configuration: every MetaStore keeps them the
same way (memory, SQLite, PostgreSQL), and two stores over one database never undo each other's
configuration sections."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.contract.stores import Opener
from tests.contract.test_metastore import A, B, bucket
from tests.contract.test_versions import ver
from xolo.core.conditions import NO_CONDITION
from xolo.core.errors import InvalidArgument
from xolo.core.records import PartLayout
from xolo.core.versions import ENABLED
from xolo.meta.base import MetaStore

pytestmark = pytest.mark.anyio


async def test_amending_tags_changes_only_the_tags_of_the_current_version(meta: MetaStore) -> None:
    await bucket(meta)
    stored, _ = await meta.put_object(
        dataclasses.replace(ver("k", A), tags={"a": "1"}), NO_CONDITION
    )
    amended = await meta.amend_object("b", "k", None, tags={"x": "y"})
    assert amended is not None and amended.tags == {"x": "y"}
    again = await meta.get_object("b", "k")
    assert again is not None
    assert (again.tags, again.etag, again.version, again.version_id) == (
        {"x": "y"},
        stored.etag,
        stored.version,
        stored.version_id,
    )


async def test_amending_an_older_version_leaves_the_current_one_alone(meta: MetaStore) -> None:
    await bucket(meta)
    await meta.set_versioning("b", ENABLED)
    old, _ = await meta.put_object(ver("k", A), NO_CONDITION)
    new, _ = await meta.put_object(ver("k", B), NO_CONDITION)
    amended = await meta.amend_object(
        "b", "k", old.version_id, tags={"old": "yes"}, acl="public-read"
    )
    assert amended is not None and amended.version_id == old.version_id
    older = await meta.get_version("b", "k", old.version_id)
    current = await meta.get_object("b", "k")
    assert older is not None and (older.tags, older.acl) == ({"old": "yes"}, "public-read")
    assert current is not None and (current.tags, current.acl) == (new.tags, None)
    assert current.version_id == new.version_id


async def test_amending_a_missing_version_finds_nothing(meta: MetaStore) -> None:
    await bucket(meta)
    assert await meta.amend_object("b", "nope", None, tags={"a": "b"}) is None
    await meta.put_object(ver("k", A), NO_CONDITION)
    assert await meta.amend_object("b", "k", "0" * 32, tags={"a": "b"}) is None


async def test_amending_a_delete_marker_returns_it_unchanged(meta: MetaStore) -> None:
    await bucket(meta)
    await meta.set_versioning("b", ENABLED)
    await meta.put_object(ver("k", A), NO_CONDITION)
    marker = await meta.delete_object("b", "k", NO_CONDITION, now=5.0)
    assert marker is not None and marker.delete_marker
    found = await meta.amend_object("b", "k", marker.version_id, tags={"a": "b"})
    assert found is not None and found.delete_marker and found.tags == marker.tags
    assert await meta.amend_object("b", "k", None, tags={"a": "b"}) is None


async def test_a_multipart_layout_survives_storage_and_versioning(meta: MetaStore) -> None:
    await bucket(meta)
    await meta.set_versioning("b", ENABLED)
    parts = (
        PartLayout(number=1, size=2, etag="m1", checksums={"crc32": "AAAAAA=="}),
        PartLayout(number=3, size=1, etag="m3"),
    )
    first, _ = await meta.put_object(
        dataclasses.replace(ver("k", A), parts=parts, upload_id="up-1"), NO_CONDITION
    )
    await meta.put_object(ver("k", B), NO_CONDITION)
    kept = await meta.get_version("b", "k", first.version_id)
    assert kept is not None and (kept.parts, kept.upload_id) == (parts, "up-1")
    current = await meta.get_object("b", "k")
    assert current is not None and (current.parts, current.upload_id) == ((), None)


async def test_configuration_sections_set_by_two_stores_both_survive(opener: Opener) -> None:
    one, two = await opener(), await opener()
    try:
        await bucket(one)
        rule = {"id": "r1", "prefix": "logs/", "expiration_days": 3}
        cors = {"allowed_origins": ["*"], "allowed_methods": ["GET"]}
        await one.set_bucket_config("b", "lifecycle", [rule])
        await two.set_bucket_config("b", "cors", [cors])
        await two.set_bucket_config("b", "acl", "public-read")
        seen = (await one.get_bucket("b")).config
        assert (seen.lifecycle, seen.cors, seen.acl) == ((rule,), (cors,), "public-read")
        await one.set_bucket_config("b", "cors", [])
        seen = (await two.get_bucket("b")).config
        assert (seen.lifecycle, seen.cors) == ((rule,), ())
    finally:
        await one.close()
        await two.close()


# -- moving a prefix (the staging commit) ----------------------------------------------------------


async def keys_of(meta: MetaStore) -> list[str]:
    return [o.key for o in await meta.scan_objects("b", b"", b"", 1000)]


async def test_a_prefix_moves_whole_with_its_references(meta: MetaStore) -> None:
    from tests.contract.test_metastore import C, refs

    await bucket(meta)
    await meta.put_object(ver("stage/a", A), NO_CONDITION)
    await meta.put_object(ver("stage/sub/b", B), NO_CONDITION)
    await meta.put_object(ver("final/a", C), NO_CONDITION)  # replaced by the move
    await meta.put_object(ver("stagex", C), NO_CONDITION)  # not under the prefix
    seen: list[tuple[str, str]] = []

    def audit(op: str, record: object) -> Any:
        from xolo.core.audit import Change

        key = getattr(record, "key", "")
        seen.append((op, key))
        return Change(op=op, bucket="b", key=key, time=5.0)

    moved = await meta.move_prefix("b", "stage/", "final/", now=5.0, limit=10, audit=audit)
    assert [m.key for m in moved] == ["final/a", "final/sub/b"]
    assert await keys_of(meta) == ["final/a", "final/sub/b", "stagex"]
    assert await refs(meta, A, B, C) == [1, 1, 1]  # C: only stagex still names it
    assert ("put", "final/a") in seen and ("delete", "stage/a") in seen
    got = await meta.get_object("b", "final/sub/b")
    assert got is not None and got.chunk_names() == frozenset({B})


async def test_too_many_objects_move_nothing(meta: MetaStore) -> None:
    await bucket(meta)
    for i in range(3):
        await meta.put_object(ver(f"stage/{i}", A), NO_CONDITION)
    with pytest.raises(InvalidArgument):
        await meta.move_prefix("b", "stage/", "final/", now=5.0, limit=2)
    assert await keys_of(meta) == ["stage/0", "stage/1", "stage/2"]


async def test_a_move_in_a_versioned_bucket_leaves_markers_and_versions(meta: MetaStore) -> None:
    await bucket(meta)
    await meta.set_versioning("b", ENABLED)
    await meta.put_object(ver("stage/a", A), NO_CONDITION)
    await meta.move_prefix("b", "stage/", "final/", now=5.0, limit=10)
    assert await keys_of(meta) == ["final/a"]
    listed = await meta.scan_versions("b", b"stage/", None, 10)
    assert [(v.key, v.delete_marker) for v in listed] == [("stage/a", True), ("stage/a", False)]
