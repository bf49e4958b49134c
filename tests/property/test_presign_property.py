"""Native presigned URLs, for generated keys, methods and expiries with an injected clock: valid
exactly until the expiry, for exactly the method, bucket and key they were made for."""

from __future__ import annotations

import asyncio

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xolo.core.credentials import SecretBox, new_master_key
from xolo.core.errors import AccessDenied, InvalidArgument, InvalidKeyName, XoloError
from xolo.core.names import check_key
from xolo.meta.memory import MemoryMetaStore
from xolo.service.auth import MAX_PRESIGN, Authenticator, Principal

METHODS = ["GET", "HEAD", "PUT", "DELETE"]
keys = st.text(min_size=1, max_size=60).filter(lambda k: "\x00" not in k)


def make(now: list[float]) -> tuple[Authenticator, Principal]:
    auth = Authenticator(MemoryMetaStore(), SecretBox(new_master_key()), clock=lambda: now[0])
    access, _ = asyncio.run(auth.ensure_root("XOPRESIGNROOT0000001", "s" * 40))  # type: ignore[misc]
    return auth, Principal(access, is_root=True)


@given(
    key=keys,
    method=st.sampled_from(METHODS),
    expires=st.integers(min_value=1, max_value=MAX_PRESIGN),
    used_after=st.floats(min_value=0, max_value=MAX_PRESIGN * 1.1),
    other_method=st.sampled_from(METHODS),
    other_key=keys,
)
@settings(max_examples=150, deadline=None)
def test_a_presigned_url_holds_for_its_own_request_until_it_expires(
    key: str,
    method: str,
    expires: int,
    used_after: float,
    other_method: str,
    other_key: str,
) -> None:
    try:
        check_key(key)
    except InvalidKeyName:
        return  # keys the API refuses never get this far
    now = [1_700_000_000.0]
    auth, root = make(now)
    token, expires_at = auth.presign(root, method=method, bucket="bkt", key=key, expires=expires)
    assert expires_at == float(int(now[0] + expires))
    now[0] += used_after

    def check(m: str, b: str, k: str) -> bool:
        try:
            asyncio.run(auth.check_presign(token, method=m, bucket=b, key=k))
        except AccessDenied:
            return False
        return True

    fresh = now[0] < expires_at
    assert check(method, "bkt", key) == fresh
    same = other_method == method or (other_method == "HEAD" and method == "GET")
    assert check(other_method, "bkt", key) == (fresh and same)
    assert check(method, "bkt", other_key) == (fresh and other_key == key)
    assert not check(method, "other-bucket", key)


@given(expires=st.one_of(st.integers(max_value=0), st.integers(min_value=MAX_PRESIGN + 1)))
@settings(max_examples=30, deadline=None)
def test_expiries_outside_one_second_to_seven_days_are_refused(expires: int) -> None:
    auth, root = make([1.0])
    with pytest.raises(InvalidArgument):
        auth.presign(root, method="GET", bucket="bkt", key="k", expires=expires)


@given(key=st.text(max_size=1100))
@settings(max_examples=200, deadline=None)
def test_key_names_are_accepted_or_refused_with_a_clear_error(key: str) -> None:
    try:
        raw = check_key(key)
    except XoloError as exc:
        assert isinstance(exc, InvalidKeyName) and exc.message
        return
    assert 1 <= len(raw) <= 1024 and raw.decode() == key
