"""Hashing local files for transfers: whole-file and per-region SHA-256, and the chunks a
direct transfer cuts a file into. One place, used by both clients and bulk transfers; each
reads a bounded piece at a time."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

PIECE = 1024 * 1024
"""Bytes read at a time."""
DIRECT_CHUNK = 8 * 1024 * 1024
"""The chunk size of direct transfers (the server's default), and the file size from which
a client sends chunks directly to the peers."""


def file_chunks(path: Path) -> list[tuple[str, int]]:
    """(SHA-256, size) of each ``DIRECT_CHUNK`` of a file, reading one chunk at a time."""
    out = []
    with path.open("rb") as f:
        while data := f.read(DIRECT_CHUNK):
            out.append((hashlib.sha256(data).hexdigest(), len(data)))
    return out


def chunk_offsets(chunks: list[tuple[str, int]]) -> list[int]:
    """Where each chunk starts in the file."""
    offsets, pos = [], 0
    for _, size in chunks:
        offsets.append(pos)
        pos += size
    return offsets


def region_sha256(fd: int, offset: int, size: int) -> str:
    """The SHA-256 of ``size`` bytes of a file from ``offset``, read 1 MiB at a time."""
    digest = hashlib.sha256()
    end = offset + size
    while offset < end:
        piece = os.pread(fd, min(PIECE, end - offset), offset)
        if not piece:
            break
        digest.update(piece)
        offset += len(piece)
    return digest.hexdigest()


def file_sha256(path: Path) -> str:
    """The SHA-256 of a whole file, read 1 MiB at a time."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while piece := f.read(PIECE):
            digest.update(piece)
    return digest.hexdigest()
