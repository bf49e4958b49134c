"""HTTP surfaces: thin translations onto ObjectService, never semantics of their own."""

from xolo.api.app import build_app

__all__ = ["build_app"]
