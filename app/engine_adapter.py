"""The one place where the app touches ``neuromoco.streaming``: sources, models, engines.

Kept as a small class so tests can substitute failures or a fake engine, and so the window never
depends on more of the streaming API than these few calls. Streaming modules are imported inside
the methods: importing the app stays cheap and never pulls torch before a model is loaded.
"""

from __future__ import annotations

from neuromoco.streaming.engine_config import MODES, EngineConfig
from neuromoco.streaming.recorder import RECORD_FORMATS
from neuromoco.streaming.source_factory import FILE_SUFFIXES, SOURCE_KINDS, SourceSpec

__all__ = [
    "FILE_SUFFIXES",
    "MODES",
    "RECORD_FORMATS",
    "SOURCE_KINDS",
    "EngineAdapter",
    "SourceSpec",
    "speed_value",
]


def speed_value(speed: float | None) -> float:
    """GUI speed (``None`` = as fast as possible) → source speed (0 = as fast as possible)."""
    return 0.0 if speed is None else float(speed)


class EngineAdapter:
    """Builds sources, predictors and engines from ``neuromoco.streaming``.

    Args:
        loop_files: replay recordings in a loop (``--loop``).
        seed: seed of the demo stream.
        threads: inference CPU threads (default: ``neuromoco.streaming.model.inference_threads``,
            half the CPUs).
        engine_config: the engine settings (the ``neuromoco-app`` flags: hop, window, noise
            filter, early decision); the mode is chosen per engine.
    """

    def __init__(
        self,
        loop_files: bool = False,
        seed: int = 0,
        threads: int | None = None,
        engine_config: EngineConfig | None = None,
    ):
        self.loop_files = loop_files
        self.seed = int(seed)
        self.threads = threads
        self.engine_config = engine_config or EngineConfig()

    @classmethod
    def from_args(cls, args, **config) -> EngineAdapter:
        """The adapter for parsed ``neuromoco-app`` arguments (``neuromoco.app.main``);
        ``config`` adds engine settings (e.g. ``keep_predictions``)."""
        ms = lambda v: None if v is None else int(round(v * 1000))  # noqa: E731
        nf = getattr(args, "noise_filter_us", None)
        defaults = EngineConfig()  # the engine's defaults are the app's: one place decides them
        engine_config = EngineConfig(
            hop_us=ms(getattr(args, "hop_ms", None)),
            window_us=ms(getattr(args, "window_ms", None)),
            noise_filter_us=defaults.noise_filter_us if nf is None else (int(nf) or None),
            hot_pixel_filter=not getattr(args, "no_hot_pixel_filter", False),
            gate=None if getattr(args, "no_gesture_gate", False) else defaults.gate,
            early_threshold=getattr(args, "early_threshold", None),
            early_steps=getattr(args, "early_steps", 3),
            **config,
        )
        return cls(
            loop_files=bool(getattr(args, "loop", False)),
            seed=getattr(args, "seed", 0),
            engine_config=engine_config,
        )

    def list_cameras(self) -> list[str]:
        """Serial numbers of the connected iniVation cameras (``[]`` when none)."""
        from neuromoco.streaming.camera_source import list_cameras

        return [c["serial"] for c in list_cameras()]

    def open_source(self, spec: SourceSpec, speed: float | None = 1.0):
        """Open the source of ``spec`` (raises ``SourceError``/``EventFormatError``/``ValueError``
        with a message naming the source and the reason)."""
        from neuromoco.streaming.source_factory import open_source

        return open_source(spec, speed=speed_value(speed), loop=self.loop_files, seed=self.seed)

    def open_model(
        self, model: str | None, mode: str, backend: str | None, source_kind: str | None = None
    ):
        """A predictor of ``model`` (a bundled name or a path; ``None``: the bundled default of
        ``source_kind``) for ``mode`` (``neuromoco.streaming.model.open_model``); raises
        ``ModelError``."""
        from neuromoco.streaming.model import open_model

        return open_model(
            model,
            backend=backend or "auto",
            mode=mode,
            threads=self.threads,
            source_kind=source_kind,
        )

    def default_model_name(self, source_kind: str) -> str:
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
            self.engine_config,
            mode=mode,
            on_prediction=on_prediction,
            on_status=on_status,
        )
        engine.warmup(1)
        return engine

    def check_model_name(self, name: str) -> str:
        """``name`` if it can name a model of the user's; ``ValueError`` saying why otherwise."""
        from neuromoco.streaming.teaching import check_name

        return check_name(name)

    def teach(self, examples, name: str, base: str, on_progress=None):
        """Teach ``base`` the ``(label, events, sensor_size)`` examples as user model ``name``;
        returns ``(card, path)`` (``neuromoco.streaming.teaching``)."""
        from neuromoco.streaming.teaching import teach_examples

        return teach_examples(examples, name, base, on_progress)
