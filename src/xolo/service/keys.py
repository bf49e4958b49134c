"""Managing access keys: who may create, see, change and remove which keys.

Root manages every key. A key with ``admin`` on some buckets manages the keys whose every grant
is on buckets it administers, and may only hand out grants on those buckets (so no one can mint
a key stronger than themselves); ``*`` counts as a bucket only for a key with admin on ``*``.
Root keys are managed by root alone. A secret is returned once, at creation, and never again.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from xolo.core.errors import AccessDenied, InvalidArgument, NotFound
from xolo.core.records import AccessKey
from xolo.meta.base import KeyStore
from xolo.service.auth import Authenticator, Principal, check_grants, key_change


@dataclass(frozen=True, slots=True, kw_only=True)
class KeyView:
    """A key as the admin API shows it: never its secret."""

    access_key: str
    grants: Mapping[str, str]
    is_root: bool
    disabled: bool
    created: float


def view(key: AccessKey) -> KeyView:
    """A key as callers may see it: everything but its secret."""
    return KeyView(
        access_key=key.access_key,
        grants=dict(key.grants),
        is_root=key.is_root,
        disabled=key.disabled,
        created=key.created,
    )


class KeyAdmin:
    """The key-management operations, each checked against the caller."""

    def __init__(
        self, *, meta: KeyStore, auth: Authenticator, clock: Callable[[], float] = time.time
    ) -> None:
        self._meta = meta
        self._auth = auth
        self._clock = clock

    @staticmethod
    def _may_grant(caller: Principal, grants: Mapping[str, str]) -> None:
        for bucket in grants:
            if not caller.can("admin", bucket):
                raise AccessDenied(f"this key may not grant access to {bucket!r}")

    def _may_manage(self, caller: Principal, key: AccessKey) -> None:
        if caller.is_root:
            return
        if key.is_root or not key.grants:
            raise AccessDenied("only root manages this key")
        self._may_grant(caller, key.grants)

    async def _get(self, caller: Principal, access_key: str) -> AccessKey:
        key = await self._meta.get_key(access_key)
        if key is None:
            # a caller that could not see it learns no more than that
            if not caller.is_root and not caller.can("admin", "*"):
                raise AccessDenied("no such key, or not one this key manages")
            raise NotFound(f"no access key {access_key[:40]!r}")
        try:
            self._may_manage(caller, key)
        except AccessDenied:
            raise AccessDenied("no such key, or not one this key manages") from None
        return key

    async def create(self, caller: Principal, grants: object) -> tuple[KeyView, str]:
        """A new key with ``grants``; its secret, returned this once."""
        checked = check_grants(grants)
        if not checked:
            raise InvalidArgument("a key needs at least one grant")
        self._may_grant(caller, checked)
        access_key, secret = await self._auth.create_key(checked)
        key = await self._meta.get_key(access_key)
        assert key is not None
        return view(key), secret

    async def list(self, caller: Principal) -> list[KeyView]:
        """The keys the caller may manage; the others are left out, not refused."""
        out = []
        for key in await self._meta.list_keys():
            try:
                self._may_manage(caller, key)
            except AccessDenied:
                continue
            out.append(view(key))
        return out

    async def get(self, caller: Principal, access_key: str) -> KeyView:
        """One key the caller manages; a caller who may not see every key cannot tell a missing key
        from one it does not manage."""
        return view(await self._get(caller, access_key))

    async def update(
        self,
        caller: Principal,
        access_key: str,
        *,
        grants: object | None = None,
        disabled: object | None = None,
    ) -> KeyView:
        """Replace the grants and/or enable or disable the key."""
        key = await self._get(caller, access_key)
        changes: dict[str, object] = {}
        if grants is not None:
            checked = check_grants(grants)
            self._may_grant(caller, checked)
            changes["grants"] = checked
        if disabled is not None:
            if not isinstance(disabled, bool):
                raise InvalidArgument("disabled must be true or false")
            if key.access_key == caller.access_key and disabled:
                raise InvalidArgument("a key may not disable itself")
            changes["disabled"] = disabled
        updated = dataclasses.replace(key, **changes)  # type: ignore[arg-type]
        await self._meta.put_key(
            updated, change=key_change("key.update", updated, time=self._clock())
        )
        self._auth.forget(access_key)
        return view(updated)

    async def grant(self, caller: Principal, access_key: str, bucket: str, level: str) -> KeyView:
        """Add or change the grant on one bucket, keeping the others (checked as in ``update``)."""
        key = await self._get(caller, access_key)
        return await self.update(caller, access_key, grants={**key.grants, bucket: level})

    async def revoke(self, caller: Principal, access_key: str, bucket: str) -> KeyView:
        """Remove the grant on one bucket; NotFound when the key has none there."""
        key = await self._get(caller, access_key)
        if bucket not in key.grants:
            raise NotFound(f"the key has no grant on {bucket!r}")
        rest = {b: lvl for b, lvl in key.grants.items() if b != bucket}
        return await self.update(caller, access_key, grants=rest)

    async def delete(self, caller: Principal, access_key: str) -> None:
        """Remove a key and drop it from the authenticator's cache, so it stops working at once; a
        key may not delete itself."""
        key = await self._get(caller, access_key)
        if key.access_key == caller.access_key:
            raise InvalidArgument("a key may not delete itself")
        await self._meta.delete_key(
            access_key, change=key_change("key.delete", key, time=self._clock())
        )
        self._auth.forget(access_key)
