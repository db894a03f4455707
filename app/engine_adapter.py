"""The one place where the app touches ``neuromoco.streaming``: sources, models, engines.

Kept as a small class so tests can substitute failures or a fake engine, and so the window never
depends on more of the streaming API than these few calls. Streaming modules are imported inside
the methods: importing the app stays cheap and never pulls torch before a model is loaded.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SOURCE_KINDS = ("demo", "file", "camera", "webcam")


@dataclass(frozen=True)
class SourceSpec:
    """What to stream: ``kind`` in :data:`SOURCE_KINDS`; ``arg`` = file path, camera serial
    (``None``: the first camera), webcam index, or the demo seed."""

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
            return "the first camera" if self.arg is None else f"camera {self.arg}"
        return f"webcam {0 if self.arg is None else self.arg}"


def speed_value(speed: float | None) -> float:
    """GUI speed (``None`` = as fast as possible) → source speed (0 = as fast as possible)."""
    return 0.0 if speed is None else float(speed)


class EngineAdapter:
    """Builds sources, predictors and engines from ``neuromoco.streaming``.

    Args:
        loop_files: replay recordings in a loop (``--loop``).
        seed: seed of the demo stream.
        threads: inference CPU threads (default: half the CPUs, at least 1, leaving the rest
            to the source thread and to drawing; on 2 cores torch with 2 threads beside a busy
            GUI was several times slower than with 1).
        engine_options: passed to the engine: ``hop_us``, ``window_us``, ``noise_filter_us``,
            ``early_threshold``, ``early_steps`` (the ``neuromoco-app`` flags).
    """

    def __init__(
        self,
        loop_files: bool = False,
        seed: int = 0,
        threads: int | None = None,
        engine_options: dict | None = None,
    ):
        self.loop_files = loop_files
        self.seed = int(seed)
        self.threads = threads if threads is not None else max(1, (os.cpu_count() or 2) // 2)
        self.engine_options = dict(engine_options or {})

    def list_cameras(self) -> list[str]:
        """Serial numbers of the connected iniVation cameras (``[]`` when none)."""
        from neuromoco.streaming.camera_source import list_cameras

        return [c["serial"] for c in list_cameras()]

    def open_source(self, spec: SourceSpec, speed: float | None = 1.0):
        """Open the source of ``spec`` (raises ``SourceError``/``EventFormatError``/``ValueError``
        with a message naming the source and the reason)."""
        if spec.kind == "demo":
            from neuromoco.streaming.synthetic_source import SyntheticSource

            seed = self.seed if spec.arg is None else int(spec.arg)
            return SyntheticSource(seed=seed, speed=speed_value(speed))
        if spec.kind == "file":
            from neuromoco.streaming.file_source import FileSource

            return FileSource(Path(str(spec.arg)), speed=speed_value(speed), loop=self.loop_files)
        if spec.kind == "camera":
            from neuromoco.streaming.camera_source import CameraSource

            return CameraSource(None if spec.arg in (None, "") else str(spec.arg))
        from neuromoco.streaming.webcam_source import WebcamSource

        return WebcamSource(int(spec.arg or 0))

    def load_predictor(
        self, model: str | None, mode: str, backend: str | None, source_kind: str | None = None
    ):
        """Load ``model`` (a bundled name or a path; ``None``: the bundled default of
        ``source_kind``) for ``mode``; raises ``ModelError``."""
        from neuromoco.streaming.model import load_model

        return load_model(
            model,
            backend=backend or "auto",
            mode=mode,
            threads=self.threads,
            source_kind=source_kind,
        )

    def default_model(self, source_kind: str) -> str:
        """The bundled model a source of ``source_kind`` runs when the user chose none."""
        from neuromoco.streaming.model import default_model_name

        return default_model_name(source_kind)

    def create_engine(self, predictor, mode: str, on_prediction, on_status):
        """An engine (not started), warmed up (one model call on empty input, which also shows
        a model that cannot run). Raises ``ValueError`` for a mode the model cannot run (e.g.
        ``stream`` on a count-split model) or a model that fails."""
        from neuromoco.streaming.engine import Engine

        engine = Engine(
            predictor,
            mode=mode,
            on_prediction=on_prediction,
            on_status=on_status,
            **self.engine_options,
        )
        engine.warmup(1)
        return engine
