"""One way to open a source from a description: the app's window and its headless runner (and
anything else) build sources here, so a kind of source is opened the same way everywhere."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from neuromoco.formats import registry  # light: imports no reader

SOURCE_KINDS = ("demo", "file", "camera", "webcam")

FILE_SUFFIXES: tuple[str, ...] = tuple(registry.suffixes_of(registry.NAMES))
"""The suffixes of every format a ``file`` source reads (sorted; the content decides the format,
so they are what a file dialog offers, not a rule)."""


@dataclass(frozen=True)
class SourceSpec:
    """What to stream: ``kind`` in :data:`SOURCE_KINDS`; ``arg`` = file path, camera serial
    (``None``: the first camera), webcam index (``None``: 0), or the demo seed (``None``: the
    caller's default)."""

    kind: str
    arg: str | int | None = None

    def __post_init__(self):
        if self.kind not in SOURCE_KINDS:
            raise ValueError(f"unknown source kind {self.kind!r}; one of {SOURCE_KINDS}")

    def describe(self) -> str:
        if self.kind == "demo":
            return "the procedural-gesture demo"
        if self.kind == "file":
            return f"file {self.arg}"
        if self.kind == "camera":
            return "the first camera" if self.arg in (None, "") else f"camera {self.arg}"
        return f"webcam {0 if self.arg is None else self.arg}"


def open_source(spec: SourceSpec, speed: float = 1.0, loop: bool = False, seed: int = 0):
    """Open the source ``spec`` describes.

    ``speed``: replay speed of recordings and the demo (1 = real time, 0 = as fast as
    possible); ``loop``: replay a file forever; ``seed``: the demo's seed when ``spec.arg`` is
    None. Raises ``SourceError``/``EventFormatError``/``ValueError`` naming the source and the
    reason (a missing file, no camera, a webcam that cannot be opened...).
    """
    if spec.kind == "demo":
        from .synthetic_source import SyntheticSource

        return SyntheticSource(seed=seed if spec.arg is None else int(spec.arg), speed=speed)
    if spec.kind == "file":
        from .file_source import FileSource

        return FileSource(Path(str(spec.arg)), speed=speed, loop=loop)
    if spec.kind == "camera":
        from .camera_source import CameraSource

        return CameraSource(None if spec.arg in (None, "") else str(spec.arg))
    from .webcam_source import WebcamSource

    return WebcamSource(int(spec.arg or 0))
