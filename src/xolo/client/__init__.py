"""Talking to xolo from Python: ``Client`` (blocking) and ``AsyncClient`` (asyncio), built in
httpx's manner (``base.py`` decides, ``sync.py`` and ``aio.py`` only do I/O), and the
change-feed handlers (``xolo.on``, ``xolo.every``, ``xolo.run``). Errors: ``errors.py``."""

from xolo.client.aio import AsyncClient
from xolo.client.base import BucketInfo, Entry, ObjectInfo
from xolo.client.sync import Client

__all__ = ["AsyncClient", "BucketInfo", "Client", "Entry", "ObjectInfo"]
