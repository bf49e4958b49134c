"""Everything a client does that is not I/O, shared by ``Client`` and ``AsyncClient``.

In httpx's manner: the two clients differ only in how they send a request and wait. What to
send (``Spec``), how to read the answer, which router to ask, whether and when to retry, and
what the cache holds are decided here, once, and unit-tested without sockets through httpx's
transport seam.
"""

from __future__ import annotations

import base64
import json
import random
import time
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from xolo.client.config import ClientConfig
from xolo.client.errors import error_from_response
from xolo.core.errors import (
    InvalidArgument,
    NotFound,
    NotImplementedByXolo,
    TransportError,
    XoloError,
)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
"""Answers worth asking again (another router may answer, or this one a moment later)."""
BACKOFF_BASE = 0.1
BACKOFF_CAP = 5.0
RETRY_AFTER_CAP = 30.0
DOWN_FOR = 5.0
"""Seconds a router that failed is passed over while another is up."""
DEFAULT_CACHE_BYTES = 64 * 1024 * 1024
META_PREFIX = "x-xolo-meta-"


@dataclass(frozen=True, slots=True, kw_only=True)
class ObjectInfo:
    """What the server says of one object version."""

    bucket: str
    key: str
    size: int
    etag: str
    sha256: str | None = None
    content_type: str = "application/octet-stream"
    modified: datetime | None = None
    version: str | None = None
    version_id: str | None = None
    metadata: Mapping[str, str] = field(default_factory=dict)
    tag_count: int = 0


@dataclass(frozen=True, slots=True, kw_only=True)
class Entry:
    """One listing entry: an object, or a common prefix (a "directory") when ``is_dir``."""

    key: str
    size: int = 0
    etag: str | None = None
    modified: datetime | None = None
    is_dir: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class BucketInfo:
    """What the server says of one bucket."""

    name: str
    created: datetime
    settings: Mapping[str, Any]
    object_count: int
    bytes: int
    versioning: str | None = None


@dataclass(slots=True, kw_only=True)
class Spec:
    """One request to make, whichever router answers it."""

    method: str
    path: str
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    content: bytes | None = None
    stream: Any = None
    """An iterable (or async iterable) body, sent once: never replayed after it was sent."""
    json: Any = None
    idempotent: bool = True
    """Whether sending it twice is the same as sending it once (a plain PUT is; an append
    is not), so a retry after the request may have been applied is safe."""
    ok: tuple[int, ...] = (200,)
    basic: bool = False
    """Authenticate with the key itself even when the client uses tokens (to get one)."""


def _time(value: str | None) -> datetime | None:
    if not value:
        return None
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def object_path(bucket: str, key: str) -> str:
    """The native API path of an object, its key quoted."""
    return f"{bucket_path(bucket)}/objects/{urllib.parse.quote(key, safe='/')}"


def bucket_path(bucket: str) -> str:
    """The native API path of a bucket."""
    return f"/v1/buckets/{urllib.parse.quote(bucket, safe='')}"


class RouterPool:
    """Health-aware balancing: round-robin over the routers that answer, passing over one
    that failed for a few seconds (while another is up) so requests go where they succeed."""

    def __init__(self, urls: Iterable[str], clock: Callable[[], float]) -> None:
        self.urls = list(urls)
        self._down_until = {u: 0.0 for u in self.urls}
        self._next = random.randrange(len(self.urls))
        self._clock = clock

    def pick(self) -> str:
        """The router the next request goes to."""
        now = self._clock()
        for _ in range(len(self.urls)):
            url = self.urls[self._next % len(self.urls)]
            self._next += 1
            if self._down_until[url] <= now:
                return url
        return min(self.urls, key=lambda u: self._down_until[u])  # all down: the soonest back

    def failed(self, url: str) -> None:
        """Pass the router over for ``DOWN_FOR`` seconds (while another is up)."""
        self._down_until[url] = self._clock() + DOWN_FOR

    def succeeded(self, url: str) -> None:
        """The router answered: use it again at once."""
        self._down_until[url] = 0.0


class LRUCache:
    """A bounded in-memory cache of object bytes by (bucket, key), with their ETag. It never
    answers on its own: a read sends ``If-None-Match`` and uses the bytes only on 304, so it
    cannot return bytes another client has replaced."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.used = 0
        self._items: OrderedDict[tuple[str, str], tuple[str, bytes]] = OrderedDict()

    def get(self, bucket: str, key: str) -> tuple[str, bytes] | None:
        """The cached (ETag, bytes) of an object, if any."""
        item = self._items.get((bucket, key))
        if item is not None:
            self._items.move_to_end((bucket, key))
        return item

    def put(self, bucket: str, key: str, etag: str, data: bytes) -> None:
        """Cache an object's bytes, evicting the least recently used beyond the capacity."""
        self.drop(bucket, key)
        if len(data) > self.capacity:
            return
        self._items[(bucket, key)] = (etag, data)
        self.used += len(data)
        while self.used > self.capacity:
            _, (_, old) = self._items.popitem(last=False)
            self.used -= len(old)

    def drop(self, bucket: str, key: str) -> None:
        """Forget a cached object (it was written or deleted through this client)."""
        old = self._items.pop((bucket, key), None)
        if old is not None:
            self.used -= len(old[1])


class BaseClient:
    """Configuration, routing, retry decisions, request specs and response parsing."""

    def __init__(
        self,
        config: ClientConfig,
        *,
        cache_bytes: int = DEFAULT_CACHE_BYTES,
        clock: Callable[[], float] = time.monotonic,
        use_tokens: bool = False,
    ) -> None:
        self.config = config
        self.routers = RouterPool(config.routers, clock)
        self.cache = LRUCache(cache_bytes) if cache_bytes > 0 else None
        self.use_tokens = use_tokens and config.credentials is not None
        """Send a short-lived bearer token rather than the secret with every request."""
        self.token: str | None = None

    # -- authentication --------------------------------------------------------------------

    @staticmethod
    def token_spec() -> Spec:
        """The request that exchanges the key for a bearer token."""
        return Spec(method="POST", path="/v1/auth/token", json={}, basic=True)

    def wants_token(self, spec: Spec) -> bool:
        """Whether a token must be fetched before sending ``spec``."""
        return self.use_tokens and self.token is None and not spec.basic

    def should_reauthenticate(self, spec: Spec, status: int, reauthenticated: bool) -> bool:
        """One fresh token after a 401 (the old one expired or was revoked), never more."""
        if status != 401 or spec.basic or self.token is None or reauthenticated:
            return False
        self.token = None
        # A stream was consumed by the refused attempt: sending it again would send nothing.
        # The next request gets a new token; this one fails with its 401.
        return spec.stream is None

    def _auth_headers(self, spec: Spec) -> dict[str, str]:
        if self.token is not None and not spec.basic:
            return {"authorization": f"Bearer {self.token}"}
        creds = self.config.credentials
        if creds is None:
            return {}
        raw = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
        return {"authorization": f"Basic {raw}"}

    # -- retry decisions -------------------------------------------------------------------

    def backoff(self, attempt: int, headers: Mapping[str, str] | None = None) -> float:
        """Seconds to wait before retry ``attempt`` (0-based): the server's ``Retry-After``
        when it gave one, else exponential backoff with full jitter."""
        if headers is not None:
            after = headers.get("retry-after")
            if after is not None:
                try:
                    return min(max(float(after), 0.0), RETRY_AFTER_CAP)
                except ValueError:
                    pass
        return random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * 2**attempt))

    def retry_transport(self, spec: Spec, exc: httpx.TransportError, attempt: int) -> bool:
        """Whether a request that got no answer is sent again: always when it never left
        (no connection), otherwise only when it is idempotent and its body can be replayed."""
        if attempt >= self.config.retries:
            return False
        never_sent = isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout)
        return never_sent or (spec.idempotent and spec.stream is None)

    def retry_status(self, spec: Spec, status: int, attempt: int) -> bool:
        """Whether an answer with this status is asked again."""
        return (
            status in RETRY_STATUSES
            and attempt < self.config.retries
            and spec.idempotent
            and spec.stream is None
        )

    @staticmethod
    def transport_error(exc: httpx.TransportError) -> XoloError:
        """The xolo error for a request that got no answer."""
        return TransportError(f"no answer from the router: {type(exc).__name__}")

    @staticmethod
    def direct_unavailable(exc: XoloError) -> bool:
        """Whether a failed direct-transfer request means "use the router instead": the router
        has no direct routes (an older or single-node server: 404 ``NotFound``) or has them
        turned off (501). A missing bucket or key is not that."""
        return (isinstance(exc, NotFound) and exc.code == "NotFound") or isinstance(
            exc, NotImplementedByXolo
        )

    def raise_for(self, spec: Spec, response: httpx.Response) -> None:
        """Raise the error the answer stands for unless its status is expected."""
        if response.status_code in spec.ok:
            return
        raise error_from_response(response.status_code, response.content, response.headers)

    def request_kwargs(self, spec: Spec) -> dict[str, Any]:
        """httpx's arguments for ``spec``: authentication, query and body."""
        headers = {**self._auth_headers(spec), **spec.headers}
        kwargs: dict[str, Any] = {"params": spec.params or None, "headers": headers}
        if spec.json is not None:
            kwargs["json"] = spec.json
        elif spec.stream is not None:
            kwargs["content"] = spec.stream
        elif spec.content is not None:
            kwargs["content"] = spec.content
        return kwargs

    # -- buckets ---------------------------------------------------------------------------

    @staticmethod
    def _bucket_spec(
        method: str,
        name: str,
        settings: Mapping[str, Any] | None = None,
        *,
        create_only: bool = False,
    ) -> Spec:
        """A bucket request; ``create_only`` asks the server to create the bucket if absent
        and otherwise change nothing (``If-None-Match: *``), in one step."""
        ok = {"PUT": (200, 201), "DELETE": (204,), "GET": (200,)}[method]
        headers = {"if-none-match": "*"} if create_only else {}
        body = dict(settings or {}) if method == "PUT" else None
        return Spec(method=method, path=bucket_path(name), json=body, headers=headers, ok=ok)

    @staticmethod
    def parse_bucket(doc: Mapping[str, Any]) -> BucketInfo:
        """A BucketInfo from the native API's bucket document."""
        created = _time(doc["created"])
        assert created is not None
        return BucketInfo(
            name=doc["name"],
            created=created,
            settings=doc.get("settings", {}),
            object_count=int(doc.get("object_count", 0)),
            bytes=int(doc.get("bytes", 0)),
            versioning=doc.get("versioning"),
        )

    # -- objects ---------------------------------------------------------------------------

    @staticmethod
    def put_spec(
        bucket: str,
        key: str,
        *,
        content: bytes | None = None,
        stream: Any = None,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        if_match: str | None = None,
        create_only: bool = False,
        sha256: str | None = None,
    ) -> Spec:
        """The PUT of one object, with its metadata, tags, conditions and SHA-256."""
        headers: dict[str, str] = {}
        if content_type:
            headers["content-type"] = content_type
        for name, value in (metadata or {}).items():
            headers[META_PREFIX + name] = value
        if tags:
            headers["x-xolo-tagging"] = urllib.parse.urlencode(dict(tags))
        if if_match is not None:
            headers["if-match"] = f'"{if_match.strip(chr(34))}"'
        if create_only:
            headers["if-none-match"] = "*"
        if sha256 is not None:
            headers["x-checksum-sha256"] = sha256
        return Spec(
            method="PUT",
            path=object_path(bucket, key),
            headers=headers,
            content=content,
            stream=stream,
            # A conditional write that may have been applied is not repeated: its retry would
            # answer 412 for a write that succeeded.
            idempotent=if_match is None and not create_only,
        )

    @staticmethod
    def parse_written(doc: Mapping[str, Any]) -> ObjectInfo:
        """An ObjectInfo from the document a write answers."""
        return ObjectInfo(
            bucket=doc["bucket"],
            key=doc["key"],
            size=int(doc["size"]),
            etag=doc["etag"],
            sha256=doc.get("sha256"),
            content_type=doc.get("content_type", "application/octet-stream"),
            modified=_time(doc.get("modified")),
            version=doc.get("version"),
            version_id=doc.get("version_id"),
        )

    @staticmethod
    def parse_head(bucket: str, key: str, headers: Mapping[str, str]) -> ObjectInfo:
        """An ObjectInfo from a read's headers."""
        size = headers.get("content-length", "0")
        if "content-range" in headers:
            size = headers["content-range"].rpartition("/")[2]
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=int(size) if size.isdigit() else 0,
            etag=headers.get("etag", "").strip('"'),
            sha256=headers.get("x-checksum-sha256"),
            content_type=headers.get("content-type", "application/octet-stream"),
            modified=_http_time(headers.get("last-modified")),
            version=headers.get("x-xolo-version"),
            version_id=headers.get("x-xolo-version-id"),
            metadata={
                k[len(META_PREFIX) :]: v for k, v in headers.items() if k.startswith(META_PREFIX)
            },
            tag_count=int(headers.get("x-xolo-tag-count", "0")),
        )

    def get_spec(
        self,
        bucket: str,
        key: str,
        *,
        range: str | tuple[int, int] | None = None,
        version_id: str | None = None,
        method: str = "GET",
    ) -> Spec:
        """A GET (or HEAD) of an object, revalidating a cached copy by its ETag."""
        headers: dict[str, str] = {}
        if isinstance(range, tuple):
            range = f"bytes={range[0]}-{range[1]}"
        if range is not None:
            headers["range"] = range
        params = {"version_id": version_id} if version_id else {}
        cached = self._cached(bucket, key, range, version_id)
        if cached is not None and method == "GET":
            headers["if-none-match"] = f'"{cached[0]}"'
        return Spec(
            method=method,
            path=object_path(bucket, key),
            headers=headers,
            params=params,
            ok=(200, 206, 304),
        )

    def _cached(
        self, bucket: str, key: str, range: str | None, version_id: str | None
    ) -> tuple[str, bytes] | None:
        if self.cache is None or range is not None or version_id is not None:
            return None
        return self.cache.get(bucket, key)

    def read_result(self, bucket: str, key: str, spec: Spec, response: httpx.Response) -> bytes:
        """The bytes of a GET: the cached ones on 304, else the body (kept in the cache when
        it is a whole current object), verified against the SHA-256 the server sent."""
        if response.status_code == 304:
            cached = self.cache.get(bucket, key) if self.cache else None
            if cached is None:
                raise InvalidArgument("the server answered 304 to a read this client did not cache")
            return cached[1]
        data = response.content
        verify_sha256(data, response.headers, whole=response.status_code == 200)
        if self.cache is not None and response.status_code == 200 and not spec.params:
            self.cache.put(bucket, key, response.headers.get("etag", "").strip('"'), data)
        return data

    @staticmethod
    def list_spec(
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        cursor: str | None = None,
        limit: int = 1000,
    ) -> Spec:
        """One page of a listing."""
        params = {"prefix": prefix, "limit": str(limit)}
        if delimiter:
            params["delimiter"] = delimiter
        if cursor:
            params["cursor"] = cursor
        return Spec(method="GET", path=bucket_path(bucket) + "/objects", params=params)

    @staticmethod
    def parse_listing(doc: Mapping[str, Any]) -> tuple[list[Entry], str | None]:
        """A page's entries (objects and common prefixes, in key order) and cursor."""
        entries = [
            Entry(
                key=o["key"],
                size=int(o["size"]),
                etag=o.get("etag"),
                modified=_time(o.get("modified")),
            )
            for o in doc.get("objects", [])
        ]
        entries += [Entry(key=p, is_dir=True) for p in doc.get("common_prefixes", [])]
        entries.sort(key=lambda e: e.key.encode())
        return entries, doc.get("next_cursor")

    @staticmethod
    def delete_spec(bucket: str, key: str, *, version_id: str | None = None) -> Spec:
        """The DELETE of an object or one of its versions."""
        params = {"version_id": version_id} if version_id else {}
        return Spec(method="DELETE", path=object_path(bucket, key), params=params, ok=(204,))

    @staticmethod
    def copy_spec(src_bucket: str, src_key: str, bucket: str, key: str) -> Spec:
        """A server-side copy (no bytes travel)."""
        source = urllib.parse.quote(f"{src_bucket}/{src_key}", safe="/")
        return Spec(
            method="PUT", path=object_path(bucket, key), headers={"x-xolo-copy-source": source}
        )

    @staticmethod
    def append_spec(bucket: str, key: str, data: bytes) -> Spec:
        """An append: never repeated once it may have been applied."""
        return Spec(method="POST", path=object_path(bucket, key), content=data, idempotent=False)

    @staticmethod
    def presign_spec(method: str, bucket: str, key: str, expires: int) -> Spec:
        """The request for a presigned URL."""
        doc = {"method": method.upper(), "bucket": bucket, "key": key, "expires": expires}
        return Spec(method="POST", path="/v1/presign", json=doc)

    @staticmethod
    def check_rm(prefix: str, *, recursive: bool, everything: bool) -> None:
        """The guard against emptying a bucket by accident (as the Elastik SDK has): a
        recursive delete needs a prefix, or ``everything=True`` to mean the whole bucket."""
        if recursive and not prefix and not everything:
            raise InvalidArgument(
                "refusing to delete every object of the bucket: pass everything=True to mean it"
            )
        if recursive and prefix and not prefix.endswith("/") and not everything:
            raise InvalidArgument(
                f"a recursive delete takes a directory prefix ending in '/', not {prefix!r}"
            )

    @staticmethod
    def direct_plan_spec(bucket: str, chunks: list[tuple[str, int]]) -> Spec:
        """Ask where each chunk of a direct transfer goes (and which the cluster has)."""
        return Spec(
            method="POST",
            path=f"{bucket_path(bucket)}/direct",
            json={"chunks": [[sha, size] for sha, size in chunks]},
        )

    @staticmethod
    def direct_read_spec(bucket: str, key: str, *, version_id: str | None = None) -> Spec:
        """Where an object's chunks may be read directly (signed chunk GET URLs)."""
        params = {"version_id": version_id} if version_id else {}
        path = f"{bucket_path(bucket)}/direct/{urllib.parse.quote(key, safe='/')}"
        return Spec(method="GET", path=path, params=params)

    @staticmethod
    def direct_commit_spec(
        bucket: str,
        key: str,
        chunks: list[tuple[str, int]],
        *,
        content_type: str | None = None,
        metadata: Mapping[str, str] | None = None,
        if_match: str | None = None,
        create_only: bool = False,
        plan: str = "",
        receipts: Mapping[str, str] | None = None,
        proofs: Mapping[str, str] | None = None,
    ) -> Spec:
        """Commit the manifest of chunks written directly (the router checks their copies,
        and for each chunk the peer's receipt or the proof of its bytes under ``plan``)."""
        headers: dict[str, str] = {}
        if if_match is not None:
            headers["if-match"] = f'"{if_match.strip(chr(34))}"'
        if create_only:
            headers["if-none-match"] = "*"
        doc: dict[str, Any] = {
            "chunks": [[sha, size] for sha, size in chunks],
            "plan": plan,
            "receipts": dict(receipts or {}),
            "proofs": dict(proofs or {}),
        }
        if content_type:
            doc["content_type"] = content_type
        if metadata:
            doc["metadata"] = dict(metadata)
        path = f"{bucket_path(bucket)}/manifests/{urllib.parse.quote(key, safe='/')}"
        return Spec(method="PUT", path=path, json=doc, headers=headers, idempotent=not headers)

    @staticmethod
    def events_spec(
        bucket: str, *, prefix: str = "", types: Iterable[str] = (), after: int | None = None
    ) -> Spec:
        """The change feed of a bucket from sequence ``after`` (from now on when None)."""
        params = {"bucket": bucket}
        if prefix:
            params["prefix"] = prefix
        if types:
            params["types"] = ",".join(types)
        headers: dict[str, str] = {}
        if after is None:
            params["start"] = "end"
        else:
            headers["last-event-id"] = str(after)
        return Spec(method="GET", path="/v1/events", params=params, headers=headers)

    def invalidate(self, bucket: str, key: str) -> None:
        """Drop a key from the cache after this client changed it."""
        if self.cache is not None:
            self.cache.drop(bucket, key)


def _http_time(value: str | None) -> datetime | None:
    if not value:
        return None
    from email.utils import parsedate_to_datetime

    try:
        return parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None


def verify_sha256(data: bytes, headers: Mapping[str, str], *, whole: bool) -> None:
    """A whole object's bytes must hash to the SHA-256 the server recorded for it."""
    import hashlib

    from xolo.core.errors import IntegrityError

    expected = headers.get("x-checksum-sha256")
    if whole and expected and hashlib.sha256(data).hexdigest() != expected:
        raise IntegrityError("the bytes received do not match the object's SHA-256")


def as_json_bytes(value: Any) -> bytes:
    """A value as compact UTF-8 JSON."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()
