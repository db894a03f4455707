"""Atomic file writes: a failed or interrupted write never leaves a partial file or clobbers the old one.

Everything the project writes for users (recordings, checkpoints, ONNX files, reports, datasets,
caches) goes through this module: the data is written to a temporary file beside the target,
flushed to disk (``fsync``), given the permissions a plain ``open()`` would give (``mkstemp``
creates 0600), and renamed over the target with ``os.replace`` (atomic on POSIX and Windows
within one folder).

* :func:`atomic_path`: the building block, a context manager yielding the temporary path.
* :func:`atomic_write`, :func:`atomic_write_text`, :func:`atomic_copy`: one-call forms.
* :func:`atomic_paths`: several files that replace their targets only once *all* are complete.
* :func:`remove_stale_temps`: delete temporary files left by writers that were killed.

Temporary files are named ``.<target name>.<pid>.<random>.tmp<suffix>``: the writer's process id
lets :func:`remove_stale_temps` tell a dead writer's leftovers from a live writer's file (a cache
built by several processes at once).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

_TEMP_NAME = re.compile(r"^\..+\.(?P<pid>\d+)\.[A-Za-z0-9_]+\.tmp(\..*)?$")
"""``.<target name>.<pid>.<mkstemp random>.tmp<suffix>``, the names :func:`atomic_path` makes."""


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _parent(path: Path, mkdir: bool) -> Path:
    parent = path.parent if str(path.parent) else Path(".")
    if mkdir:
        parent.mkdir(parents=True, exist_ok=True)
    elif not parent.is_dir():
        raise FileNotFoundError(f"{path}: output folder {parent} does not exist")
    return parent


def _new_temp(path: Path, suffix: str, mkdir: bool) -> Path:
    parent = _parent(path, mkdir)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp" + suffix, dir=parent
    )
    os.close(fd)
    return Path(tmp)


def _seal(tmp: Path) -> None:
    """Flush ``tmp`` to disk and give it the permissions of a file made by ``open()``."""
    with open(tmp, "rb+") as f:
        os.fsync(f.fileno())
    os.chmod(tmp, 0o666 & ~_umask())


@contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = "", mkdir: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on normal exit it replaces ``path``.

    Args:
        path: the final file.
        suffix: extra suffix of the temporary name (some writers check the extension).
        mkdir: create missing parent folders; otherwise a missing folder is a
            ``FileNotFoundError`` naming it.

    On an exception inside the block the temporary file is removed and the exception propagates.
    """
    with atomic_paths([path], suffixes=[suffix], mkdir=mkdir) as (tmp,):
        yield tmp


@contextmanager
def atomic_paths(
    paths: Sequence[str | os.PathLike],
    suffixes: Sequence[str] | None = None,
    mkdir: bool = False,
) -> Iterator[list[Path]]:
    """Yield one temporary path beside each of ``paths``; they replace the targets only when the
    block exits normally, after every one of them has been written and flushed to disk.

    Use it for files that belong together (a model's checkpoint, ONNX graph and metrics): an
    error in any write leaves all the old files as they were. The final renames run one after
    the other (each is atomic; the group is not, a crash between two renames is possible but
    leaves only complete files).

    Args:
        paths: the final files.
        suffixes: extra suffix of each temporary name (default none).
        mkdir: create missing parent folders.
    """
    targets = [Path(p) for p in paths]
    suffixes = list(suffixes) if suffixes is not None else [""] * len(targets)
    if len(suffixes) != len(targets):
        raise ValueError(f"{len(targets)} paths but {len(suffixes)} suffixes")
    temps: list[Path] = []
    try:
        for path, suffix in zip(targets, suffixes, strict=True):
            temps.append(_new_temp(path, suffix, mkdir))
        yield list(temps)
        for tmp in temps:
            _seal(tmp)
        for tmp, path in zip(temps, targets, strict=True):
            os.replace(tmp, path)
    except BaseException:
        for tmp in temps:
            tmp.unlink(missing_ok=True)
        raise


def atomic_write(
    path: str | os.PathLike, write: Callable[[Path], None], suffix: str = "", mkdir: bool = False
) -> None:
    """Call ``write(tmp_path)``, then move the result onto ``path`` (see :func:`atomic_path`)."""
    with atomic_path(path, suffix=suffix, mkdir=mkdir) as tmp:
        write(tmp)


def atomic_write_text(path: str | os.PathLike, text: str, mkdir: bool = True) -> None:
    """Write ``text`` (UTF-8) to ``path`` atomically."""
    with atomic_path(path, mkdir=mkdir) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_copy(src: str | os.PathLike, dst: str | os.PathLike, mkdir: bool = False) -> None:
    """Copy the bytes of ``src`` onto ``dst`` atomically (``dst`` is complete or untouched)."""
    with atomic_path(dst, mkdir=mkdir) as tmp:
        shutil.copyfile(src, tmp)


def _pid_alive(pid: int) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would terminate the process there: assume alive
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by another user
        return True
    return True


def remove_stale_temps(folder: str | os.PathLike) -> int:
    """Delete the temporary files of :func:`atomic_path` in ``folder`` whose writer process is
    gone (killed mid-write); files of live writers are kept. Returns how many were removed."""
    folder = Path(folder)
    if not folder.is_dir():
        return 0
    n = 0
    for p in folder.glob(".*.tmp*"):
        m = _TEMP_NAME.match(p.name)
        if m is None:
            continue
        pid = int(m["pid"])
        if pid != os.getpid() and not _pid_alive(pid):
            try:
                p.unlink()
                n += 1
            except OSError:
                pass
    return n
