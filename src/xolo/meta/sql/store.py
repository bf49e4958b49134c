"""The SQL MetaStore: every concern over one database, whichever its dialect."""

from __future__ import annotations

from xolo.meta.sql.cluster import SqlCluster
from xolo.meta.sql.notify import SqlNotify
from xolo.meta.sql.objects import SqlObjects
from xolo.meta.sql.tx import Database


class SqlMetaStore(SqlObjects, SqlCluster, SqlNotify):
    """A MetaStore over a ``Database``; the dialect modules only open the database."""

    def __init__(self, db: Database, *, chain_key: bytes | None = None) -> None:
        SqlObjects.__init__(self, db, chain_key=chain_key)
        SqlCluster.__init__(self, db, chain_key=chain_key)
        SqlNotify.__init__(self, db)

    async def close(self) -> None:
        """See ``MetaStore.close``; this closes the ``Database`` too."""
        await self._db.close()
