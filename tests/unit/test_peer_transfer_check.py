"""What a router accepts as a whole chunk from a peer: a transfer whose CRC-32C is the one the
peer recorded, or, when the peer recorded none, bytes whose SHA-256 is the chunk's name."""

from __future__ import annotations

import hashlib

import crc32c
import pytest

from xolo.chunks.peer_http import CRC_HEADER, PeerAnswer, PeerHTTP
from xolo.chunks.remote import PeerVolume
from xolo.core.errors import ChunkCorrupt

DATA = b"chunk bytes" * 100
NAME = hashlib.sha256(DATA).hexdigest()


def volume() -> PeerVolume:
    return PeerVolume(peer_id="p1", url="http://127.0.0.1:1", secret="s", http=PeerHTTP())


def answer(*, recorded: int | None, received: bytes) -> PeerAnswer:
    headers = {} if recorded is None else {CRC_HEADER: f"{recorded:08x}"}
    return PeerAnswer(
        status=200,
        headers=headers,
        body=received,
        sha256=None if recorded is not None else hashlib.sha256(received).hexdigest(),
        crc32c=crc32c.crc32c(received) if recorded is not None else None,
    )


def test_a_transfer_matching_the_recorded_crc_is_accepted() -> None:
    volume()._check(NAME, answer(recorded=crc32c.crc32c(DATA), received=DATA))


def test_a_transfer_damaged_on_the_way_fails_the_recorded_crc() -> None:
    damaged = DATA[:-1] + b"X"
    with pytest.raises(ChunkCorrupt):
        volume()._check(NAME, answer(recorded=crc32c.crc32c(DATA), received=damaged))


def test_without_a_recorded_crc_the_sha256_must_be_the_name() -> None:
    volume()._check(NAME, answer(recorded=None, received=DATA))
    with pytest.raises(ChunkCorrupt):
        volume()._check(NAME, answer(recorded=None, received=DATA + b"!"))
