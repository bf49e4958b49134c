"""Opening a metadata store by URL, the one place that maps a URL to an implementation.

memory://                         in this process only
sqlite:///relative/or/absolute    a SQLite file (``sqlite:////abs/path`` also works)
postgresql://user@host/db         PostgreSQL (``postgres://`` too); ``?schema=name`` picks a
                                  schema, so several stores can share one database
"""

from __future__ import annotations

import urllib.parse

from xolo.core.errors import InvalidArgument
from xolo.meta.base import MetaStore
from xolo.meta.memory import MemoryMetaStore
from xolo.meta.sqlite import SQLiteMetaStore


def sqlite_path(url: str) -> str | None:
    """The file a ``sqlite:///`` URL names, or None for another scheme."""
    if not url.startswith("sqlite://"):
        return None
    path = url[len("sqlite://") :]
    if path.startswith("/"):
        path = path[1:]  # sqlite:///rel → rel; sqlite:////abs → /abs
    if not path:
        raise InvalidArgument("a sqlite URL needs a path: sqlite:///PATH")
    return path


async def open_meta_store(url: str, *, chain_key: bytes | None = None) -> MetaStore:
    """The store ``url`` names, migrated and ready; ``chain_key`` MACs its audit chains."""
    if url == "memory://":
        return MemoryMetaStore(chain_key=chain_key)
    path = sqlite_path(url)
    if path is not None:
        return SQLiteMetaStore(path, chain_key=chain_key)
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme in ("postgresql", "postgres"):
        from xolo.meta.postgres import PostgresMetaStore

        query = urllib.parse.parse_qs(parsed.query)
        schema = query.pop("schema", [None])[0]
        rest = urllib.parse.urlencode(query, doseq=True)
        dsn = urllib.parse.urlunsplit(parsed._replace(query=rest))
        return await PostgresMetaStore.open(dsn, schema=schema, chain_key=chain_key)
    raise InvalidArgument(
        f"unknown metadata URL {url!r}: use sqlite:///PATH, postgresql://USER@HOST/DB or memory://"
    )
