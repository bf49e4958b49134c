"""Metadata stores: the source of truth for buckets, objects, uploads and keys."""

from xolo.meta.base import MetaStore
from xolo.meta.memory import MemoryMetaStore
from xolo.meta.sqlite import SQLiteMetaStore

__all__ = ["MemoryMetaStore", "MetaStore", "SQLiteMetaStore"]
