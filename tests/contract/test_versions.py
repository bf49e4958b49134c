"""The versioning contract of the MetaStore: every backend in stores.py passes it unchanged.

The rules are ``core/versions.py``'s; these tests hold each store to them, including chunk
references (a version keeps its chunks alive until it is removed for good) and totals.
"""

from __future__ import annotations

import dataclasses

import pytest

from tests.contract.test_metastore import A, B, C, bucket, obj, refs
from xolo.core.conditions import NO_CONDITION, WriteCondition
from xolo.core.errors import BucketNotEmpty, PreconditionFailed
from xolo.core.records import ObjectRecord, VersionInfo
from xolo.core.versions import ENABLED, NULL, SUSPENDED, new_version_id
from xolo.meta.base import MetaStore

pytestmark = pytest.mark.anyio


def ver(key: str, chunk: str, *, size: int = 3, etag: str = "e") -> ObjectRecord:
    """A fresh write of ``key`` naming ``chunk``, with a fresh version id."""
    return dataclasses.replace(
        obj(key, size, etag=etag, version=new_version_id()[:16], chunks=(chunk,)),
        version_id=new_version_id(),
    )


async def listing(meta: MetaStore, prefix: bytes = b"") -> list[tuple[str, str, bool, bool]]:
    """(key, version id, is latest, is a marker) of every version, in listing order."""
    infos: list[VersionInfo] = await meta.scan_versions("b", prefix, None, 1000)
    return [(v.key, v.version_id, v.is_latest, v.delete_marker) for v in infos]


async def test_an_unversioned_bucket_keeps_only_the_null_version(meta: MetaStore) -> None:
    await bucket(meta)
    stored, _ = await meta.put_object(ver("k", A), NO_CONDITION)
    assert stored.version_id == NULL
    await meta.put_object(ver("k", B), NO_CONDITION)
    assert await listing(meta) == [("k", NULL, True, False)]
    assert await refs(meta, A, B) == [0, 1]
    assert (await meta.get_bucket("b")).versioning is None


async def test_enabled_versioning_keeps_every_version_and_its_chunks(meta: MetaStore) -> None:
    await bucket(meta)
    await meta.put_object(ver("k", A), NO_CONDITION)  # the null version, before versioning
    assert (await meta.set_versioning("b", ENABLED)).versioning == ENABLED
    second, replaced = await meta.put_object(ver("k", B), NO_CONDITION)
    assert replaced is not None and replaced.version_id == NULL
    third, _ = await meta.put_object(ver("k", C), NO_CONDITION)
    assert second.version_id != NULL and third.version_id not in (NULL, second.version_id)
    assert await listing(meta) == [
        ("k", third.version_id, True, False),
        ("k", second.version_id, False, False),
        ("k", NULL, False, False),
    ]
    assert await refs(meta, A, B, C) == [1, 1, 1]
    assert await meta.get_object("b", "k") == third
    assert await meta.get_version("b", "k", second.version_id) == second
    assert (await meta.get_version("b", "k", NULL) or obj("x")).chunk_names() == {A}
    got = await meta.get_bucket("b")
    assert (got.object_count, got.bytes_used) == (1, 3)


async def test_a_delete_adds_a_marker_that_hides_the_key(meta: MetaStore) -> None:
    await bucket(meta)
    await meta.set_versioning("b", ENABLED)
    first, _ = await meta.put_object(ver("k", A), NO_CONDITION)
    marker = await meta.delete_object("b", "k", NO_CONDITION, now=5.0)
    assert marker is not None and marker.delete_marker and marker.version_id != NULL
    assert await meta.get_object("b", "k") is None
    assert await meta.get_version("b", "k", None) == marker
    assert await listing(meta) == [
        ("k", marker.version_id, True, True),
        ("k", first.version_id, False, False),
    ]
    assert await refs(meta, A) == [1]
    assert (await meta.get_bucket("b")).object_count == 0
    # A delete of a key with no current version still adds a marker, as S3 does.
    again = await meta.delete_object("b", "k", NO_CONDITION, now=6.0)
    assert again is not None and again.delete_marker
    assert [v[1] for v in await listing(meta)] == [
        again.version_id,
        marker.version_id,
        first.version_id,
    ]


async def test_removing_the_newest_marker_brings_the_version_back(meta: MetaStore) -> None:
    await bucket(meta)
    await meta.set_versioning("b", ENABLED)
    first, _ = await meta.put_object(ver("k", A), NO_CONDITION)
    marker = await meta.delete_object("b", "k", NO_CONDITION, now=5.0)
    assert marker is not None
    removed = await meta.delete_object(
        "b", "k", NO_CONDITION, now=6.0, version_id=marker.version_id
    )
    assert removed == marker
    assert await meta.get_object("b", "k") == first
    assert await listing(meta) == [("k", first.version_id, True, False)]
    assert (await meta.get_bucket("b")).object_count == 1


async def test_removing_the_current_version_promotes_the_previous(meta: MetaStore) -> None:
    await bucket(meta)
    await meta.set_versioning("b", ENABLED)
    first, _ = await meta.put_object(ver("k", A), NO_CONDITION)
    second, _ = await meta.put_object(ver("k", B), NO_CONDITION)
    removed = await meta.delete_object(
        "b", "k", NO_CONDITION, now=5.0, version_id=second.version_id
    )
    assert removed == second
    assert await meta.get_object("b", "k") == first
    assert await refs(meta, A, B) == [1, 0]
    removed = await meta.delete_object("b", "k", NO_CONDITION, now=6.0, version_id=first.version_id)
    assert removed == first and await meta.get_object("b", "k") is None
    assert await listing(meta) == []
    assert await refs(meta, A) == [0]
    got = await meta.get_bucket("b")
    assert (got.object_count, got.bytes_used) == (0, 0)
    await meta.delete_bucket("b", now=7.0)


async def test_removing_an_old_version_leaves_the_current_alone(meta: MetaStore) -> None:
    await bucket(meta)
    await meta.set_versioning("b", ENABLED)
    first, _ = await meta.put_object(ver("k", A), NO_CONDITION)
    second, _ = await meta.put_object(ver("k", B), NO_CONDITION)
    await meta.delete_object("b", "k", NO_CONDITION, now=5.0, version_id=first.version_id)
    assert await meta.get_object("b", "k") == second
    assert await refs(meta, A, B) == [0, 1]
    assert await meta.delete_object("b", "k", NO_CONDITION, now=5.0, version_id="0" * 32) is None


async def test_suspended_versioning_replaces_only_the_null_version(meta: MetaStore) -> None:
    await bucket(meta)
    await meta.set_versioning("b", ENABLED)
    kept, _ = await meta.put_object(ver("k", A), NO_CONDITION)
    await meta.set_versioning("b", SUSPENDED)
    null1, _ = await meta.put_object(ver("k", B), NO_CONDITION)
    null2, _ = await meta.put_object(ver("k", C), NO_CONDITION)
    assert null1.version_id == null2.version_id == NULL
    assert await listing(meta) == [("k", NULL, True, False), ("k", kept.version_id, False, False)]
    assert await refs(meta, A, B, C) == [1, 0, 1]
    marker = await meta.delete_object("b", "k", NO_CONDITION, now=5.0)
    assert marker is not None and marker.delete_marker and marker.version_id == NULL
    assert await listing(meta) == [("k", NULL, True, True), ("k", kept.version_id, False, False)]
    assert await refs(meta, C) == [0]
    # Back on: the null marker stays as one version among others.
    await meta.set_versioning("b", ENABLED)
    newest, _ = await meta.put_object(ver("k", B), NO_CONDITION)
    assert [v[1] for v in await listing(meta)] == [newest.version_id, NULL, kept.version_id]


async def test_a_bucket_with_versions_or_markers_is_not_empty(meta: MetaStore) -> None:
    await bucket(meta)
    await meta.set_versioning("b", ENABLED)
    await meta.delete_object("b", "k", NO_CONDITION, now=5.0)
    with pytest.raises(BucketNotEmpty):
        await meta.delete_bucket("b", now=6.0)
    [(_, marker_id, _, _)] = await listing(meta)
    await meta.delete_object("b", "k", NO_CONDITION, now=7.0, version_id=marker_id)
    await meta.delete_bucket("b", now=8.0)


async def test_conditions_hold_against_the_current_version(meta: MetaStore) -> None:
    await bucket(meta)
    await meta.set_versioning("b", ENABLED)
    first, _ = await meta.put_object(ver("k", A, etag="one"), NO_CONDITION)
    with pytest.raises(PreconditionFailed):
        await meta.put_object(ver("k", B), WriteCondition(if_none_match="*"))
    with pytest.raises(PreconditionFailed):
        await meta.put_object(ver("k", B), WriteCondition(if_match='"other"'))
    await meta.put_object(ver("k", B, etag="two"), WriteCondition(if_match='"one"'))
    with pytest.raises(PreconditionFailed):
        await meta.delete_object(
            "b", "k", WriteCondition(if_match='"two"'), now=5.0, version_id=first.version_id
        )
    assert len(await listing(meta)) == 2


async def test_listing_resumes_after_a_version_and_keeps_prefixes(meta: MetaStore) -> None:
    await bucket(meta)
    await meta.set_versioning("b", ENABLED)
    ids: dict[str, list[str]] = {}
    for key in ("a/1", "a/2", "b"):
        for chunk in (A, B):
            stored, _ = await meta.put_object(ver(key, chunk), NO_CONDITION)
            ids.setdefault(key, []).insert(0, stored.version_id)
    everything = await meta.scan_versions("b", b"", None, 100)
    assert [(v.key, v.version_id) for v in everything] == [
        (k, i) for k in ("a/1", "a/2", "b") for i in ids[k]
    ]
    seq = await meta.version_seq("b", "a/1", ids["a/1"][0])
    assert seq is not None
    rest = await meta.scan_versions("b", b"", (b"a/1", seq), 2)
    assert [(v.key, v.version_id) for v in rest] == [("a/1", ids["a/1"][1]), ("a/2", ids["a/2"][0])]
    under = await meta.scan_versions("b", b"a/", None, 100)
    assert {v.key for v in under} == {"a/1", "a/2"}


async def test_a_bucket_holds_the_chunks_of_its_older_versions_until_they_go(
    meta: MetaStore,
) -> None:
    await bucket(meta)
    await meta.set_versioning("b", ENABLED)
    old, _ = await meta.put_object(ver("k", A), NO_CONDITION)
    await meta.put_object(ver("k", B), NO_CONDITION)
    await meta.delete_object("b", "k", NO_CONDITION, now=6.0)  # a marker: the versions stay
    assert await meta.bucket_chunks("b", [A, B, C]) == {A, B}
    await meta.delete_object("b", "k", NO_CONDITION, now=7.0, version_id=old.version_id)
    assert await meta.bucket_chunks("b", [A, B, C]) == {B}
