"""Who a request acts for, set once by each surface after it authenticates the caller, read by
the service when it records a change in the audit chain (so no surface can forget to pass it,
and no service signature carries it)."""

from __future__ import annotations

from contextvars import ContextVar

ACTOR: ContextVar[str | None] = ContextVar("xolo_actor", default=None)
"""The access key of the caller (None: anonymous, or a background task)."""


def actor() -> str | None:
    """The access key the current request acts for, which the audit entries of its changes name."""
    return ACTOR.get()
