"""The download flusher: background writeback every N bytes, at most one at a time, and a
failed background flush is an error at the end, never silently a non-durable file."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from xolo.client.flush import Flusher


def test_flusher_runs_one_background_flush_at_a_time_and_fsyncs_at_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    started, release = threading.Event(), threading.Event()
    calls: list[str] = []

    def slow_fdatasync(fd: int) -> None:
        calls.append("fdatasync")
        started.set()
        release.wait(10)

    monkeypatch.setattr(os, "fdatasync", slow_fdatasync)
    monkeypatch.setattr(os, "fsync", lambda fd: calls.append("fsync"))
    with (tmp_path / "f").open("wb") as f:
        flusher = Flusher(f.fileno(), every=100)
        flusher.wrote(60)
        assert calls == []  # below the threshold: nothing yet
        flusher.wrote(60)
        assert started.wait(10)
        flusher.wrote(500)  # a flush is running: no second one starts
        assert calls == ["fdatasync"]
        release.set()
        flusher.finish()
    assert calls == ["fdatasync", "fsync"]


def test_flusher_raises_a_failed_background_flush_at_finish(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def failing_fdatasync(fd: int) -> None:
        raise OSError(5, "Input/output error")

    synced: list[int] = []
    monkeypatch.setattr(os, "fdatasync", failing_fdatasync)
    monkeypatch.setattr(os, "fsync", synced.append)
    with (tmp_path / "f").open("wb") as f:
        flusher = Flusher(f.fileno(), every=1)
        flusher.wrote(10)
        with pytest.raises(OSError, match="Input/output"):
            flusher.finish()
    assert synced == []  # a file whose writeback failed is not declared durable
