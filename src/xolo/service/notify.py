"""Who may subscribe what to the change feed: notification targets, and their management.

A target receives, in order and at least once, every event of one bucket that matches its
prefix and types. Creating, listing and removing targets needs admin on the bucket. A webhook's
signing secret is generated here, returned once, and kept sealed under the master key.
"""

from __future__ import annotations

import dataclasses
import secrets
import time
import urllib.parse
from collections.abc import Callable, Sequence
from typing import Protocol

from xolo.core.credentials import SecretBox, new_secret
from xolo.core.errors import InvalidArgument, NotFound
from xolo.core.events import check_types
from xolo.core.names import check_bucket_name
from xolo.core.records import NotifyTarget
from xolo.meta.base import AuditStore, NotifyStore
from xolo.service.auth import Principal
from xolo.service.policy import AccessPolicy


class NotifyMeta(NotifyStore, AuditStore, Protocol):
    """What target management needs of the metadata store."""


SCHEMES = {"webhook": ("http", "https"), "nats": ("nats", "tls"), "redis": ("redis", "rediss")}


class NotifyAdmin:
    """Creating, listing, reviving and removing notification targets."""

    def __init__(
        self,
        *,
        meta: NotifyMeta,
        policy: AccessPolicy,
        box: SecretBox,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._meta = meta
        self._policy = policy
        self._box = box
        self._clock = clock

    async def create(
        self,
        caller: Principal | None,
        *,
        kind: str,
        target: str,
        bucket: str,
        prefix: str = "",
        types: Sequence[str] = (),
        subject: str | None = None,
        after: int | None = None,
    ) -> tuple[NotifyTarget, str | None]:
        """A new target (delivering events after sequence ``after``; default: from now on)
        and, for a webhook, its signing secret (shown this once)."""
        if kind not in SCHEMES:
            raise InvalidArgument(f"kind must be one of {', '.join(SCHEMES)}")
        scheme = urllib.parse.urlsplit(target).scheme
        if scheme not in SCHEMES[kind]:
            raise InvalidArgument(f"a {kind} target is a {' or '.join(SCHEMES[kind])} URL")
        check_bucket_name(bucket)
        await self._policy.require(caller, "admin", bucket)
        checked = sorted(check_types(types)) if types else []
        secret = new_secret() if kind == "webhook" else None
        made = NotifyTarget(
            id=f"n-{secrets.token_hex(6)}",
            kind=kind,
            target=target,
            subject=subject,
            bucket=bucket,
            prefix=prefix,
            types=tuple(checked),
            sealed_secret=self._box.seal(secret) if secret else None,
            cursor=after if after is not None else await self._now_cursor(bucket),
            created=self._clock(),
        )
        await self._meta.put_target(made)
        return made, secret

    async def _now_cursor(self, bucket: str) -> int:
        head = await self._meta.audit_head(bucket)
        return head[0] if head else 0

    async def list(self, caller: Principal | None) -> list[NotifyTarget]:
        """The targets on buckets the caller administers; an anonymous caller sees none."""
        out = []
        for target in await self._meta.list_targets():
            if caller is not None and caller.can("admin", target.bucket):
                out.append(target)
        return out

    async def _find(self, caller: Principal | None, target_id: str) -> NotifyTarget:
        for target in await self._meta.list_targets():
            if target.id == target_id:
                await self._policy.require(caller, "admin", target.bucket)
                return target
        raise NotFound(f"no notification target {target_id[:40]!r}")

    async def get(self, caller: Principal | None, target_id: str) -> NotifyTarget:
        """One target, if the caller administers its bucket."""
        return await self._find(caller, target_id)

    async def revive(self, caller: Principal | None, target_id: str) -> NotifyTarget:
        """Put a dead target back to work, retrying from where it stopped."""
        target = await self._find(caller, target_id)
        revived = dataclasses.replace(target, state="active", failures=0, next_try=0.0)
        await self._meta.put_target(revived)
        return revived

    async def delete(self, caller: Principal | None, target_id: str) -> None:
        """Remove a target, if the caller administers its bucket: deliveries to it stop."""
        await self._find(caller, target_id)
        await self._meta.delete_target(target_id)
