"""Tunables of the object service, each with the reason for its default."""

from __future__ import annotations

from dataclasses import dataclass

KiB = 1024
MiB = 1024 * KiB


@dataclass(frozen=True, slots=True)
class ServiceConfig:
    """The object service's tunables; ``__post_init__`` refuses values the service cannot
    work with."""

    inline_threshold: int = 64 * KiB
    """Objects up to this size live in the metadata row: one transaction, no chunk I/O."""

    chunk_size: int = 8 * MiB
    """Large enough that per-chunk overhead vanishes, small enough to buffer a few per upload."""

    chunks_in_flight: int = 2
    """Chunks of one upload being stored while the next is received; bounds upload memory to
    ``(chunks_in_flight + 1) * chunk_size``."""

    read_piece: int = 4 * MiB
    """Largest single read from a chunk store while streaming a GET; with one piece of
    readahead, a GET holds at most two pieces in memory."""

    max_chunk_size: int = 64 * MiB
    """Largest chunk the chunk API accepts, since a chunk is verified in memory."""

    upload_ttl: float = 3600.0
    """How long a declared two-step upload waits for its bytes."""

    min_part_size: int = 5 * MiB
    """S3's minimum size for every multipart part but the last."""

    direct_transfers: bool = True
    """Whether clients may move chunks to and from the peers themselves (plans, signed chunk
    URLs, manifest commits). Off, the direct routes answer 501 and clients go through the
    router: for clusters shared by tenants who must not learn whether the cluster holds
    a file (a plan answers that; docs/security.md)."""

    def __post_init__(self) -> None:
        if not 0 <= self.inline_threshold <= 16 * MiB:
            raise ValueError("inline threshold must be between 0 and 16 MiB")
        if not 64 * KiB <= self.chunk_size <= self.max_chunk_size:
            raise ValueError(f"chunk size must be between 64 KiB and {self.max_chunk_size} bytes")
        if self.chunks_in_flight < 1:
            raise ValueError("chunks_in_flight must be at least 1")
