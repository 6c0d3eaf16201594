"""Several workers share one metrics directory (mock_server/cli.py): removed when the mock stops,
and, when a mock was killed (SIGKILL: the crash tests, a CI runner's timeout) and could not, by
the next mock to start, which finds the directory's owner lock free. A live instance's directory
and one that says nothing of its owner are left alone."""

from __future__ import annotations

import fcntl
import os
import tempfile
from pathlib import Path

import pytest

from mock_server.cli import METRICS_DIR_PREFIX, METRICS_OWNER, own_metrics_dir


@pytest.fixture
def tmp(monkeypatch, tmp_path) -> Path:
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    return tmp_path


def _directory(tmp: Path, name: str, *, owner: bool) -> Path:
    d = tmp / f"{METRICS_DIR_PREFIX}{name}"
    d.mkdir()
    (d / "counter_123.db").write_bytes(b"x")
    if owner:
        (d / METRICS_OWNER).touch()
    return d


def test_a_killed_instances_directory_is_removed_by_the_next_start(tmp):
    dead = _directory(tmp, "dead", owner=True)  # its lock file, no one holding it
    mine, fd = own_metrics_dir()
    try:
        assert not dead.exists()
        assert Path(mine).parent == tmp and (Path(mine) / METRICS_OWNER).exists()
    finally:
        os.close(fd)


def test_a_live_instances_directory_and_an_unowned_one_are_kept(tmp):
    live = _directory(tmp, "live", owner=True)
    unowned = _directory(tmp, "old", owner=False)  # an older version's, or one being made
    holder = os.open(live / METRICS_OWNER, os.O_RDWR)
    fcntl.flock(holder, fcntl.LOCK_EX)  # another open file: conflicts as another process's would
    try:
        first, fd1 = own_metrics_dir()
        second, fd2 = own_metrics_dir()  # a second instance keeps the first one's too
        try:
            assert live.exists() and unowned.exists() and Path(first).exists()
        finally:
            os.close(fd1)
            os.close(fd2)
        # Once the first's lock is free (its process gone), the next start removes it.
        _third, fd3 = own_metrics_dir()
        os.close(fd3)
        assert not Path(first).exists() and not Path(second).exists() and live.exists()
    finally:
        os.close(holder)


def test_an_owner_file_that_is_a_link_is_not_followed(tmp):
    target = tmp / "someone-elses-file"
    target.write_text("kept")
    linked = _directory(tmp, "linked", owner=False)
    (linked / METRICS_OWNER).symlink_to(target)
    _, fd = own_metrics_dir()
    os.close(fd)
    assert linked.exists() and target.read_text() == "kept"
