"""The layout of a data directory, in one place::

<data>/meta.db      SQLite metadata (WAL: also meta.db-wal, meta.db-shm)
<data>/chunks/      content-addressed chunks (see xolo/chunks/README.md)
<data>/master.key   seals secrets and signs tokens; mode 0600, never in meta.db
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

from xolo.core.credentials import new_master_key


@dataclass(frozen=True, slots=True)
class DataDir:
    """A data directory's paths, so that no other module spells out the layout."""

    root: Path

    @classmethod
    def create(cls, root: Path | str) -> DataDir:
        """The data directory at ``root``, made if it does not exist yet."""
        path = Path(root)
        path.mkdir(parents=True, exist_ok=True)
        return cls(path)

    @property
    def meta_path(self) -> Path:
        """The SQLite metadata file."""
        return self.root / "meta.db"

    @property
    def chunks_path(self) -> Path:
        """The root of the disk chunk volume."""
        return self.root / "chunks"

    @property
    def master_key_path(self) -> Path:
        """Where the master key is kept (unused when XOLO_MASTER_KEY is set)."""
        return self.root / "master.key"

    def master_key(self) -> bytes:
        """Read the master key, creating it on first use (safe if several processes race)."""
        env = os.environ.get("XOLO_MASTER_KEY")
        if env:
            return env.encode()
        return key_file(self.master_key_path)


def key_file(path: Path) -> bytes:
    """The key in ``path``, created on first use with mode 0600 (safe if processes race)."""
    with contextlib.suppress(FileNotFoundError):
        return path.read_bytes().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, new_master_key())
        os.fsync(fd)
    finally:
        os.close(fd)
    try:
        os.link(temp, path)  # fails if another process won the race: use theirs
    except FileExistsError:
        pass
    finally:
        os.unlink(temp)
    return path.read_bytes().strip()
