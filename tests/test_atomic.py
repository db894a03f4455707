"""Atomic writes: complete file or nothing, usual permissions, old file kept on failure."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from neuromoco.atomic import (
    atomic_copy,
    atomic_path,
    atomic_paths,
    atomic_write,
    atomic_write_text,
    remove_stale_temps,
)


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


def test_group_replaces_all_files_only_when_every_one_is_written(tmp_path):
    names = ["m.pt", "m.onnx", "m.json"]
    for n in names:
        (tmp_path / n).write_text(f"old {n}")
    with pytest.raises(OSError, match="export failed"):
        with atomic_paths([tmp_path / n for n in names], suffixes=["", ".onnx", ""]) as tmps:
            tmps[0].write_text("new m.pt")
            assert tmps[1].name.endswith(".tmp.onnx")  # writers that check the extension
            raise OSError("export failed")
    assert [(tmp_path / n).read_text() for n in names] == [f"old {n}" for n in names]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)  # no temporary file left
    with atomic_paths([tmp_path / n for n in names]) as tmps:
        for n, t in zip(names, tmps, strict=True):
            t.write_text(f"new {n}")
        assert all((tmp_path / n).read_text() == f"old {n}" for n in names)  # not before the end
    assert [(tmp_path / n).read_text() for n in names] == [f"new {n}" for n in names]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(names)
    with pytest.raises(ValueError, match="suffixes"):
        with atomic_paths([tmp_path / "a", tmp_path / "b"], suffixes=[""]):
            pass


def test_copy_is_complete_or_absent(tmp_path, monkeypatch):
    src, dst = tmp_path / "last.pt", tmp_path / "best.pt"
    src.write_bytes(b"new" * 1000)
    dst.write_bytes(b"old")

    def broken_copy(a, b):
        open(b, "wb").write(b"ne")  # a partial copy, then the disk fills up
        raise OSError("disk full")

    monkeypatch.setattr("shutil.copyfile", broken_copy)
    with pytest.raises(OSError, match="disk full"):
        atomic_copy(src, dst)
    assert dst.read_bytes() == b"old" and len(list(tmp_path.iterdir())) == 2
    monkeypatch.undo()
    atomic_copy(src, dst)
    assert dst.read_bytes() == src.read_bytes()


def test_temporary_files_of_killed_writers_are_removed_live_ones_kept(tmp_path):
    # A child process dies (os._exit: no cleanup) inside atomic_path: its temporary file stays.
    code = (
        "import os, sys\n"
        "from neuromoco.atomic import atomic_path\n"
        "with atomic_path(sys.argv[1]) as tmp:\n"
        "    tmp.write_bytes(b'half')\n"
        "    os._exit(3)\n"
    )
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "a.bin")], timeout=60)
    assert r.returncode == 3
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].startswith(".a.bin.") and left[0].endswith(".tmp")
    with atomic_path(tmp_path / "b.bin") as mine:  # a live writer (this process)
        mine.write_bytes(b"x")
        assert remove_stale_temps(tmp_path) == 1
        assert sorted(p.name for p in tmp_path.iterdir()) == [mine.name]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.bin"]
