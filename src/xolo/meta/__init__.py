"""Metadata stores: the source of truth for buckets, objects, uploads, keys and the cluster."""

from xolo.meta.base import MetaStore
from xolo.meta.memory import MemoryMetaStore
from xolo.meta.open import open_meta_store
from xolo.meta.sqlite import SQLiteMetaStore

__all__ = ["MemoryMetaStore", "MetaStore", "SQLiteMetaStore", "open_meta_store"]
