"""Chunk stores: immutable, content-addressed byte blobs named by their SHA-256."""

from xolo.chunks.base import ChunkStore
from xolo.chunks.disk import DiskChunkStore
from xolo.chunks.memory import MemoryChunkStore

__all__ = ["ChunkStore", "DiskChunkStore", "MemoryChunkStore"]
