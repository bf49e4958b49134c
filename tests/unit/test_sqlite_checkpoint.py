"""The SQLite runner checkpoints the WAL on its own thread, so commits never carry the
checkpoint: the database file takes the committed pages long before the writer's backstop."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from xolo.meta.sqlite_runner import BACKSTOP_PAGES, CHECKPOINT_EVERY, SQLiteRunner


def test_background_checkpoint_moves_committed_pages_into_the_database_file(
    tmp_path: Path,
) -> None:
    path = tmp_path / "meta.db"
    runner = SQLiteRunner(path)
    try:
        runner.write_sync(lambda c: c.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v BLOB)"))
        empty = path.stat().st_size

        async def fill() -> None:
            for i in range(CHECKPOINT_EVERY * 3):  # one awaited write is one batch
                await runner.write(
                    lambda c, i=i: c.execute("INSERT INTO t VALUES (?, ?)", (i, b"x" * 8192))
                )

        asyncio.run(fill())
        pages_written = CHECKPOINT_EVERY * 3 * 3  # each row spans at least two 4 KiB pages
        assert pages_written < BACKSTOP_PAGES  # the writer's own checkpoint never ran
        checkpointer = runner._checkpointer
        assert checkpointer is not None
        for _ in range(3):  # a nudge after the last write: its checkpoint covers them all
            checkpointer.ran.clear()
            checkpointer.nudge()
            assert checkpointer.ran.wait(10)
            if path.stat().st_size > empty + 512 * 1024:
                break
        assert path.stat().st_size > empty + 512 * 1024
    finally:
        runner.close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM t").fetchone()[0] == CHECKPOINT_EVERY * 3
