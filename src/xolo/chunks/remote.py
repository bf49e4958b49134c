"""One storage peer's volume over HTTP: the chunk API of ``api/chunks.py``, seen from a router.

Every request is signed with the cluster secret (``core/cluster_auth.py``). Connections are
pooled and kept alive by one shared ``PeerHTTP`` (``chunks/peer_http.py``). A read of a whole
chunk is checked before it is returned (against the CRC-32C the peer recorded when it stored
the chunk, or against its SHA-256 name when the peer recorded none), so a damaged copy is an
error (ChunkCorrupt), never bytes handed to a client. Transport failures become PeerUnavailable at
this boundary.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from json import dumps, loads
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from xolo.chunks.base import ScrubReport, Usage
from xolo.chunks.peer_http import CRC_HEADER, PeerAnswer, PeerHTTP
from xolo.core.cluster_auth import HEADER, sign_request
from xolo.core.errors import ChunkCorrupt, NoSuchChunk, PeerUnavailable, XoloError
from xolo.core.records import ChunkRef


def cluster_http(*, connections: int = 64, timeout: float = 30.0) -> PeerHTTP:
    """The pooled client a router uses for every peer: keep-alive, bounded connections, short
    connect timeouts so a dead peer is skipped quickly."""
    return PeerHTTP(connections=connections, timeout=timeout)


class PeerVolume:
    """A ChunkVolume whose chunks live on a peer."""

    def __init__(
        self,
        *,
        peer_id: str,
        url: str,
        secret: str,
        http: PeerHTTP,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.peer_id = peer_id
        self.url = url.rstrip("/")
        self._secret = secret
        self._http = http
        self._clock = clock

    def __repr__(self) -> str:
        return f"PeerVolume({self.peer_id!r}, {self.url!r})"

    async def _call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        content: bytes | None = None,
        json: Any = None,
        digest: bool = False,
    ) -> PeerAnswer:
        query = urlencode(params or {})
        if json is not None:
            content = dumps(json).encode()
        streamed = method == "PUT" and path.startswith("/v1/chunks/")  # named by its hash
        header = sign_request(
            self._secret,
            method,
            path,
            query,
            now=self._clock(),
            audience=self.url,
            body=None if streamed else (content or b""),
        )
        signed = {HEADER: header}
        signed.update(headers or {})
        if json is not None:
            signed["content-type"] = "application/json"
        url = self.url + path + (f"?{query}" if query else "")
        try:
            return await self._http.request(
                method, url, headers=signed, body=content, digest=digest
            )
        except PeerUnavailable as exc:
            raise PeerUnavailable(f"peer {self.peer_id} at {exc}") from None

    def _fail(self, response: PeerAnswer) -> XoloError:
        if response.status == 404:
            return NoSuchChunk(f"not on peer {self.peer_id}")
        code = None
        try:
            error = loads(response.body)["error"]
            message, code = error["message"], error.get("code")
        except (ValueError, KeyError, TypeError, AttributeError):
            message = response.body[:200].decode(errors="replace")
        if code == ChunkCorrupt.code:  # the peer found its copy damaged: read another
            return ChunkCorrupt(f"peer {self.peer_id}: {message}")
        return PeerUnavailable(f"peer {self.peer_id} answered {response.status}: {message}")

    async def _json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self._call(method, path, **kwargs)
        if response.status >= 300:
            raise self._fail(response)
        try:
            return loads(response.body)
        except ValueError:
            raise PeerUnavailable(f"peer {self.peer_id} answered with malformed JSON") from None

    def places(self) -> int:
        """A peer is one place."""
        return 1

    async def put(self, sha256: str, data: bytes, *, copies: int = 1, quorum: int = 1) -> int:
        """``PUT`` the chunk to the peer; one copy, whatever ``copies`` and ``quorum`` ask
        (a peer holds one copy)."""
        response = await self._call("PUT", f"/v1/chunks/{sha256}", content=data)
        if response.status != 201:
            raise self._fail(response)
        return 1

    async def read(self, sha256: str, offset: int = 0, length: int | None = None) -> bytes:
        """``GET`` (a Range request for a part); a whole chunk is checked on arrival (``_check``)
        and is ChunkCorrupt unless it matches."""
        if not offset and length is None:
            return (await self.read_checked(sha256))[0]
        if length == 0:
            return b""
        last = "" if length is None else str(offset + length - 1)
        headers = {"range": f"bytes={offset}-{last}"}
        response = await self._call("GET", f"/v1/chunks/{sha256}", headers=headers, digest=True)
        if response.status not in (200, 206):
            raise self._fail(response)
        if response.status == 200:  # the peer sent the whole chunk: check it, then cut
            self._check(sha256, response)
            piece = response.body[offset : None if length is None else offset + length]
        else:
            piece = response.body
        if length is not None and len(piece) != length:
            # A copy shorter than the chunk (a truncated file): never part of a body.
            raise ChunkCorrupt(f"the copy on peer {self.peer_id} is shorter than the chunk")
        return piece

    async def read_checked(self, sha256: str) -> tuple[bytes, int | None]:
        """A whole-chunk ``GET``, checked as ``read`` checks it; the peer's CRC-32C."""
        response = await self._call("GET", f"/v1/chunks/{sha256}", digest=True)
        if response.status != 200:
            raise self._fail(response)
        self._check(sha256, response)
        return response.body, response.crc32c

    def _check(self, sha256: str, response: PeerAnswer) -> None:
        """A whole chunk arrived as its peer has it: its CRC-32C is the one the peer recorded
        when it stored the chunk (and checked its disk against), or, when the peer recorded
        none, its SHA-256 is its name. ChunkCorrupt otherwise."""
        recorded = response.headers.get(CRC_HEADER)
        if recorded is not None:
            if response.crc32c is None or f"{response.crc32c:08x}" != recorded.lower():
                raise ChunkCorrupt(f"the copy from peer {self.peer_id} fails its CRC-32C")
        elif response.sha256 != sha256:
            raise ChunkCorrupt(
                f"the copy on peer {self.peer_id} hashes to {str(response.sha256)[:16]}…"
            )

    async def size(self, sha256: str) -> int | None:
        """``HEAD`` on the chunk; the size is the peer's ``content-length``."""
        response = await self._call("HEAD", f"/v1/chunks/{sha256}")
        if response.status == 404:
            return None
        if response.status != 200:
            raise self._fail(response)
        return int(response.headers["content-length"])

    async def has(self, names: Sequence[str]) -> list[bool]:
        """One ``POST /v1/chunks/has`` for all names, without ``live``: a doomed copy still
        counts."""
        if not names:
            return []
        return [bool(x) for x in await self._json("POST", "/v1/chunks/has", json=list(names))]

    async def copies(self, names: Sequence[str]) -> list[int]:
        """The peer's copies that will stay (doomed ones count as none)."""
        if not names:
            return []
        doc = await self._json("POST", "/v1/chunks/has", params={"live": "1"}, json=list(names))
        return [int(bool(x)) for x in doc]

    def read_urls(self, sha256: str) -> list[str]:
        """The peer itself: a client reads from its chunk API directly."""
        return [self.url]

    def upload_urls(self, sha256: str, copies: int) -> list[str]:
        """The peer itself, which holds one copy whatever ``copies`` asks."""
        return [self.url]

    async def inventory(self, after: str, limit: int) -> list[ChunkRef]:
        """One page of the peer's ``GET /v1/chunks`` listing."""
        doc = await self._json("GET", "/v1/chunks", params={"after": after, "limit": str(limit)})
        return [ChunkRef(sha256=name, size=int(size)) for name, size in doc["chunks"]]

    async def doom(self, names: Sequence[str], *, mark: str = "") -> list[bool]:
        """Phase one, done by the peer (``POST /v1/chunks/doom?mark=``; the query is signed)."""
        if not names:
            return []
        doc = await self._json("POST", "/v1/chunks/doom", params={"mark": mark}, json=list(names))
        return [bool(x) for x in doc]

    async def delete_doomed(self, names: Sequence[str], *, mark: str = "") -> list[bool]:
        """Phase two, done by the peer (``POST /v1/chunks/delete?mark=``)."""
        if not names:
            return []
        params = {"mark": mark}
        doc = await self._json("POST", "/v1/chunks/delete", params=params, json=list(names))
        return [bool(x) for x in doc]

    async def scrub(
        self, names: Sequence[str] | None = None, *, after: str = "", limit: int = 64
    ) -> ScrubReport:
        """Done by the peer, which re-hashes its own files: only the report crosses the
        network."""
        body: dict[str, Any] = {"after": after, "limit": limit}
        if names is not None:
            body["names"] = list(names)
        doc = await self._json("POST", "/v1/chunks/scrub", json=body)
        return ScrubReport(
            checked=doc["checked"], bytes=doc["bytes"], bad=doc["bad"], next_after=doc["next_after"]
        )

    async def usage(self) -> Usage:
        """The peer's own totals (``GET /v1/chunks/usage``)."""
        doc = await self._json("GET", "/v1/chunks/usage")
        return Usage(used_bytes=doc["used_bytes"], chunks=doc["chunks"])

    def local_path(self, sha256: str) -> Path | None:
        """Always None: the file is on another machine."""
        return None

    async def clean_temp(self, older_than: float) -> int:
        """Nothing to do from here: a peer cleans its own temporary files."""
        return 0  # a peer cleans its own temporary files (see cluster/peer.py)

    async def close(self) -> None:
        """Nothing to release: the shared ``PeerHTTP`` belongs to the router."""
        return None  # the shared client belongs to the router
