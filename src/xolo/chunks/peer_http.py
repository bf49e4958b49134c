"""The connections a router keeps to its peers: pooled, kept alive, each answer read whole.

Chunk traffic is the router's hottest path: a 4 MiB GET through a router is one 4 MiB chunk
received from a peer, checked (CRC-32C, or SHA-256), and sent on. This client is aiohttp's,
not httpx's, by measurement: receiving 4 MiB bodies from a local uvicorn server at 16 in flight
cost httpx about 9 ms of CPU per body (h11 parses and httpcore moves every 64 KiB piece in
Python) and aiohttp about 2 ms (its parser is C, and the body is joined once), which is about
what a SHA-256 check of the same bytes costs. httpx stays the project's client everywhere else
(the Python client, the peers' heartbeats, webhooks).

Transport failures (refused, reset, timed out, a connection the peer closed while idle) become
``PeerUnavailable`` here, so no aiohttp exception leaves this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass

import aiohttp
import crc32c
from yarl import URL

from xolo.core.errors import PeerUnavailable

CRC_HEADER = "x-xolo-crc32c"
"""On a peer's whole-chunk answer: the CRC-32C the peer recorded when it stored the chunk (after
checking its SHA-256) and checked its disk against before sending; the router checks the
transfer against it, about a hundredth of the cost of re-hashing SHA-256."""

IDLE_SECONDS = 3.0
"""How long an idle connection is kept: below the peers' own keep-alive timeout (uvicorn's
five seconds), so a connection is never reused just as the peer closes it."""


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerAnswer:
    """A peer's whole answer: status, headers (lower-case names) and body."""

    status: int
    headers: Mapping[str, str]
    body: bytes
    sha256: str | None = None
    """The body's SHA-256 (hex), when the request asked for a digest and the peer sent no
    CRC-32C."""
    crc32c: int | None = None
    """The body's CRC-32C, when the request asked for a digest and the peer sent its own."""


async def _received(content: aiohttp.StreamReader) -> AsyncIterator[bytes]:
    """The body's pieces as the parser received them (``readany`` would join whatever queued up
    since the last read: a copy of the chunk). Ends on ``at_eof``, not on the empty piece
    ``iter_chunks`` waits for: aiohttp shares one empty reader between bodiless answers
    (HEAD, 204), which hands that piece out once, so a second HEAD would loop for ever."""
    while not content.at_eof():
        piece, _ = await content.readchunk()
        if piece:
            yield piece


class PeerHTTP:
    """One pool of keep-alive connections shared by every ``PeerVolume`` of a router."""

    def __init__(self, *, connections: int = 64, timeout: float = 30.0) -> None:
        self._connections = connections
        # Per read, not per request (as httpx's was): a large chunk from a busy peer may take
        # longer than ``timeout`` in all, but never that long without a byte.
        self._timeout = aiohttp.ClientTimeout(total=None, sock_connect=2.0, sock_read=timeout)
        self._session: aiohttp.ClientSession | None = None

    def _open(self) -> aiohttp.ClientSession:
        """The session, made on first use (aiohttp binds it to the running event loop)."""
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._connections * 4,
                limit_per_host=self._connections,
                keepalive_timeout=IDLE_SECONDS,
                ttl_dns_cache=60,
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                timeout=self._timeout,
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
            )
        return self._session

    async def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        body: bytes | None = None,
        digest: bool = False,
    ) -> PeerAnswer:
        """Send one request to ``url`` (already encoded: it is sent exactly as signed) and
        read the whole answer; with ``digest``, check a 200 answer's body piece by piece as it
        arrives (while each piece is still in the CPU's cache, and with no second pass over
        it): its CRC-32C when the peer sent one to compare with, its SHA-256 otherwise."""
        session = self._open()
        try:
            async with session.request(
                method,
                URL(url, encoded=True),
                headers=dict(headers),
                data=body,
                allow_redirects=False,  # a redirect would carry the cluster signature away
            ) as response:
                checked = digest and response.status == 200
                by_crc = checked and CRC_HEADER in response.headers
                sha256 = hashlib.sha256() if checked and not by_crc else None
                crc = 0
                pieces = []
                async for piece in _received(response.content):
                    if by_crc:
                        crc = crc32c.crc32c(piece, crc)
                    elif sha256 is not None:
                        sha256.update(piece)
                    pieces.append(piece)
                return PeerAnswer(
                    status=response.status,
                    headers={k.lower(): v for k, v in response.headers.items()},
                    body=pieces[0] if len(pieces) == 1 else b"".join(pieces),
                    sha256=None if sha256 is None else sha256.hexdigest(),
                    crc32c=crc if by_crc else None,
                )
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise PeerUnavailable(f"{url.split('/v1/')[0]}: {type(exc).__name__}") from None

    async def aclose(self) -> None:
        """Close every pooled connection."""
        if self._session is not None:
            await self._session.close()
            self._session = None

    def __repr__(self) -> str:
        return f"PeerHTTP(connections={self._connections})"
