"""Atomic writes: complete file or nothing, usual permissions, old file kept on failure."""

from __future__ import annotations

import os

import pytest

from neuromoco.atomic import atomic_path, atomic_write, atomic_write_text


def test_replaces_only_on_success_and_leaves_no_temp(tmp_path):
    target = tmp_path / "out.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("disk on fire")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]
    atomic_write_text(target, "new")
    assert target.read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.txt"]


def test_permissions_follow_umask_not_mkstemp(tmp_path):
    old = os.umask(0o022)
    try:
        atomic_write(tmp_path / "a.bin", lambda p: p.write_bytes(b"x"))
    finally:
        os.umask(old)
    assert (tmp_path / "a.bin").stat().st_mode & 0o777 == 0o644


def test_missing_folder_is_named_unless_mkdir(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write(tmp_path / "no" / "a.bin", lambda p: p.write_bytes(b"x"))
    atomic_write_text(tmp_path / "no" / "b.txt", "ok", mkdir=True)
    assert (tmp_path / "no" / "b.txt").read_text() == "ok"
