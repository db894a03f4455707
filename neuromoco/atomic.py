"""Atomic file writes: a failed or interrupted write never leaves a partial file or clobbers the old one.

Everything the project writes for users (recordings, checkpoints, ONNX files, reports, datasets)
goes through :func:`atomic_path`: the data is written to a temporary file beside the target,
flushed to disk, given the permissions a plain ``open()`` would give (``mkstemp`` creates 0600),
and renamed over the target with ``os.replace`` (atomic on POSIX and Windows within one folder).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


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
    path = Path(path)
    parent = path.parent if str(path.parent) else Path(".")
    if mkdir:
        parent.mkdir(parents=True, exist_ok=True)
    elif not parent.is_dir():
        raise FileNotFoundError(f"{path}: output folder {parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp" + suffix, dir=parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with open(tmp_path, "rb+") as f:
            os.fsync(f.fileno())
        os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
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
