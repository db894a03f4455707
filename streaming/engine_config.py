"""What the streaming engine is asked to do (:class:`EngineConfig`) and what it derives from that
and the model's framing (:class:`Schedule`). Both are frozen: a change is a new object.

Rules for the network state (stateful ``stream`` mode; ``window`` mode starts every window from a
fresh state, exactly as in training):

* a new source, a new model, a new mode or a new config starts a fresh state;
* a live source resumed after a pause starts a fresh state (the paused stretch is not replayed);
* when inference falls behind and the backlog of bins is dropped, the state is reset
  (``Schedule.reset_on_drop``): stepping over a gap would feed the network a jump in time.
  In window mode a drop just replaces the waiting window by the newer one;
* when the no-gesture gate sees the scene go idle (a pause between gestures), the state is reset,
  so the next gesture starts from a zero state, as the model was trained, and an output read over
  the last T steps holds that gesture only.

Filters, in the order the source thread applies them (each on by default, chosen by measurement:
docs/results.md, "Live in a room"): the hot-pixel filter
(:mod:`~neuromoco.streaming.hot_pixel_filter`), then the neighbour (background-activity) filter
(:class:`neuromoco.denoise.Denoiser`) — unless the model's framing already applies that same
filter (``FramingSpec.denoise_us``, e.g. ``dvs128-gesture``), where a second pass would change what
the model was trained on. The recorder always gets the raw input.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .gesture_gate import GateConfig

Mode = Literal["window", "stream"]
MODES: tuple[str, ...] = ("window", "stream")
"""The streaming modes, the user's words (``--mode``): ``window`` runs the network afresh over the
T bins of each window; ``stream`` steps it once per time bin, carrying its state. The model side
calls the graph that ``stream`` runs ``step`` (:func:`neuromoco.streaming.model.graph_for`)."""

DEFAULT_WINDOW_US = 500_000
"""Window length (µs) used when the model's framing has none (it was trained on whole clips)."""

DEFAULT_NOISE_FILTER_US = 10_000
"""Support window (µs) of the engine's neighbour filter when it is on by default: the filter
``dvs128-gesture`` was trained with (tonic's ``Denoise(filter_time=10000)``), and the one that
turned gesture-demo's noisy-room hops from 53 % right to 97 % (docs/results.md)."""

DEFAULT_SPIKE_SPAN_US = 1_000_000
"""What a spiking model's live (stream-mode) decision counts: the output spikes of the last 1 s.
``dvs128-gesture`` was trained to decide over a whole 6 s trial; live, a 6 s count still holds the
previous gesture for seconds. Measured on the continuous benchmark (docs/results.md): in-gesture
hops right 31.8 % with 6 s, 38.5 % with 2 s, 44.3 % with 1 s."""

AUTO = "auto"
"""``EngineConfig.noise_filter_us`` default: :data:`DEFAULT_NOISE_FILTER_US`, unless the model's
framing applies the neighbour filter itself."""

TARGET_HOP_US = 33_000
"""Prediction period aimed at in window mode (µs of stream time): about 30 predictions/s, a
display rate; with time bins the hop is the whole number of bins closest to it."""


def check_mode(mode: str) -> Mode:
    """``mode`` when it is one of :data:`MODES`; ``ValueError`` naming the choices otherwise."""
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
    return mode


@dataclass(frozen=True)
class EngineConfig:
    """Settings of a streaming engine (the ``neuromoco-app`` flags).

    Attributes:
        mode: ``"window"`` (fresh network run over T bins every hop) or ``"stream"`` (one
            stateful step per time bin).
        hop_us: window mode: tick period (µs of stream time); default: the bin duration times
            the integer closest to :data:`TARGET_HOP_US`. Stream mode: emit a prediction every
            ``hop_us // bin_us`` steps (default every bin).
        window_us, window_events: override the model's window (default: its framing's
            ``window_us``/``window_events``, else :data:`DEFAULT_WINDOW_US`).
        noise_filter_us: neighbour (background-activity) filter support window (µs); None: off;
            ``"auto"`` (default): :data:`DEFAULT_NOISE_FILTER_US`, or off when the model's
            framing applies the same filter itself.
        hot_pixel_filter: mask pixels that fire far above their neighbours for seconds
            (:class:`~neuromoco.streaming.hot_pixel_filter.HotPixelFilter`; default on).
        gate: the no-gesture gate (:class:`~neuromoco.streaming.gesture_gate.GateConfig`);
            None: every prediction shows its top
            class (``gesture == label``) and a stream-mode state is never reset at pauses.
        spike_span_us: stream mode, models with spiking outputs: the decision counts the output
            spikes of this last stretch (µs; at most the model's window; None: the window).
        early_threshold, early_steps: early-decision rule (off when the threshold is None).
        keep_predictions: how many predictions/status events the poll queues keep.
        lossless: never drop (the source waits for inference). None: lossless only for replayed
            sources running as fast as possible (``speed <= 0``); live and paced sources drop.
        partial_windows: window mode: emit windows from the first hop on, with the time before
            the first event as empty bins (default: the first window once it is full).
    """

    mode: Mode = "window"
    hop_us: int | None = None
    window_us: int | None = None
    window_events: int | None = None
    noise_filter_us: int | str | None = AUTO
    hot_pixel_filter: bool = True
    gate: GateConfig | None = field(default_factory=GateConfig)
    spike_span_us: int | None = DEFAULT_SPIKE_SPAN_US
    early_threshold: float | None = None
    early_steps: int = 3
    keep_predictions: int = 1000
    lossless: bool | None = None
    partial_windows: bool = False

    def __post_init__(self):
        check_mode(self.mode)
        if isinstance(self.noise_filter_us, str) and self.noise_filter_us != AUTO:
            raise ValueError(
                f"noise_filter_us must be µs, None or {AUTO!r}, got {self.noise_filter_us!r}"
            )
        for name in ("hop_us", "window_us", "window_events", "noise_filter_us", "spike_span_us"):
            v = getattr(self, name)
            if v == AUTO:
                continue
            if v is not None and int(v) <= 0:
                raise ValueError(f"{name} must be positive, got {v}")
        if int(self.keep_predictions) < 1:
            raise ValueError(f"keep_predictions must be ≥ 1, got {self.keep_predictions}")


@dataclass(frozen=True)
class Schedule:
    """The engine's plan for one model and config.

    Attributes:
        mode: as in the config; also what the windower emits (``window``: ``[T, 2, H, W]``;
            ``stream``: the newest bin).
        T: time bins per window (the model's).
        window_us, window_events: the window in use (exactly one is set).
        tick_us: windower tick period (µs): the hop in window mode, one bin in stream mode.
        report_hop_us: how often a prediction comes out (µs of stream time).
        emit_every: stream mode: steps between predictions.
        backlog: windows/bins the hand-over between the threads holds (1 window; T bins).
        reset_on_drop: reset the network state when the backlog is dropped (stream mode).
        partial: the windower emits windows reaching before the first event (stream mode
            always: the state needs every bin; window mode with ``partial_windows``).
        noise_filter_us: the engine's neighbour filter in force (µs), None when off.
        spike_span: stream mode: the steps a spiking model's decision counts (None: T).
    """

    mode: Mode
    T: int
    window_us: int | None
    window_events: int | None
    tick_us: int
    report_hop_us: int
    emit_every: int
    backlog: int
    reset_on_drop: bool
    partial: bool
    noise_filter_us: int | None = None
    spike_span: int | None = None


def plan(config: EngineConfig, framing) -> Schedule:
    """The :class:`Schedule` for ``config`` on a model with ``framing`` (a ``FramingSpec``).

    Raises ``ValueError`` for a combination that cannot run (e.g. stream mode on a model whose
    bins are not of fixed duration)."""
    window_us, window_events = config.window_us, config.window_events
    if window_us is None and window_events is None:
        window_us, window_events = framing.window_us, framing.window_events
    if window_us is None and window_events is None:
        window_us = DEFAULT_WINDOW_US - DEFAULT_WINDOW_US % framing.T
    if window_us is not None:
        window_events = None
    T = int(framing.T)
    hop = config.hop_us
    nf = config.noise_filter_us
    if nf == AUTO:
        nf = None if getattr(framing, "denoise_us", None) else DEFAULT_NOISE_FILTER_US
    nf = None if nf is None else int(nf)
    if config.mode == "stream":
        if framing.split_by != "time" or window_us is None or window_us % T:
            raise ValueError(
                "stream mode steps one time bin at a time: it needs a time-split model "
                f"(split_by='time') and a window divisible by T={T} µs "
                f"(split_by={framing.split_by!r}, window_us={window_us}); use --mode window"
            )
        bin_us = window_us // T
        span = config.spike_span_us
        span = None if span is None else max(1, min(T, int(span) // bin_us))
        hop = bin_us if hop is None else int(hop)
        if hop % bin_us:
            raise ValueError(
                f"stream mode: hop {hop} µs must be a multiple of the bin ({bin_us} µs)"
            )
        return Schedule(
            mode="stream", T=T, window_us=window_us, window_events=None, tick_us=bin_us,
            report_hop_us=hop, emit_every=hop // bin_us, backlog=T,
            reset_on_drop=True, partial=True, noise_filter_us=nf, spike_span=span,
        )  # fmt: skip
    if hop is None:
        if framing.split_by == "time" and window_us is not None and window_us % T == 0:
            bin_us = window_us // T
            hop = bin_us * max(1, round(TARGET_HOP_US / bin_us))
        else:
            hop = TARGET_HOP_US
    return Schedule(
        mode="window", T=T, window_us=window_us, window_events=window_events, tick_us=int(hop),
        report_hop_us=int(hop), emit_every=1, backlog=1, reset_on_drop=False,
        partial=config.partial_windows, noise_filter_us=nf,
    )  # fmt: skip
