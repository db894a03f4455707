"""The streaming engine: source → windower → inference, off the caller's thread.

Two worker threads:

* the **source thread** iterates the source, records raw events (optional), filters noise
  (optional), windows the stream and offers each completed window to the inference slot — it
  never waits for inference;
* the **inference thread** takes windows from that slot and runs the session. The slot holds one
  window in ``window`` mode (a newer window replaces a waiting one: the older is *dropped*) and
  ``T`` bins in ``stream`` mode (on overflow the backlog is dropped and the network state is
  reset, since stepping over a gap would be wrong).

The engine is set up by an :class:`~neuromoco.streaming.engine_config.EngineConfig` (frozen) from
which it plans a :class:`~neuromoco.streaming.engine_config.Schedule` for the model (window,
tick, backlog, and when the network state is reset: see that module).

Everything the caller sees comes through thread-safe channels: ``on_prediction`` /
``on_status`` / ``on_window`` / ``on_events`` hooks (called on the worker threads — a Qt app
re-emits them as signals, or copies what it draws), or
polling with :meth:`Engine.poll_predictions`, :meth:`Engine.poll_status`, :meth:`Engine.stats`,
:meth:`Engine.latest_window`. Errors never escape a worker thread: they become a
:class:`StatusEvent` of kind ``"error"``. Control (:meth:`start`, :meth:`stop`, :meth:`pause`,
:meth:`resume`, :meth:`switch_source`, :meth:`set_mode`, :meth:`set_predictor`,
:meth:`set_speed`, :meth:`start_recording`) may be called from any thread; :meth:`stop` returns
within about a second.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np

from neuromoco.denoise import Denoiser

from .activity_meter import ActivityMeter
from .engine_config import (
    DEFAULT_NOISE_FILTER_US,
    DEFAULT_WINDOW_US,
    EngineConfig,
    Schedule,
    check_mode,
    plan,
)
from .hot_pixel_filter import HotPixelFilter
from .prediction import Prediction
from .recorder import Recorder, RecorderStats, check_record_target
from .session import InferenceSession
from .source import EventSource
from .windower import Window, Windower

__all__ = ["DEFAULT_WINDOW_US", "Engine", "EngineConfig", "EngineStats", "StatusEvent"]


@dataclass(frozen=True)
class StatusEvent:
    """Something the user should see: ``kind`` is one of ``started``, ``ended``, ``error``,
    ``paused``, ``resumed``, ``config``, ``recording``, ``warning`` (e.g. a recording that falls
    behind); ``message`` is one line of text."""

    kind: str
    message: str
    source: str | None = None
    t_wall: float = 0.0


@dataclass(frozen=True)
class EngineStats:
    """A snapshot for a status bar (rates over the last ~2 s of wall time)."""

    source: str | None
    source_status: str
    running: bool
    paused: bool
    mode: str
    T: int
    window_us: int | None
    window_events: int | None
    hop_us: int
    events_in: int
    events_per_s: float
    windows: int
    predictions: int
    predictions_per_s: float
    dropped: int
    late: int
    latency_p50_ms: float | None
    latency_p99_ms: float | None
    model: str


@dataclass(frozen=True)
class _End:
    gen: int


class _Slot:
    """Bounded hand-over between the threads that never blocks the producer (unless lossless).

    On overflow the waiting items are dropped (window mode: the waiting window is replaced by
    the newer one); with ``reset_on_drop`` (stream mode) the consumer is told to reset the
    network state, since stepping over the dropped bins would be wrong."""

    def __init__(self, capacity: int, reset_on_drop: bool):
        self.capacity = capacity
        self.reset_on_drop = reset_on_drop
        self._items: deque = deque()
        self._cv = threading.Condition()
        self.dropped = 0
        self.reset_needed = False

    def put(self, item, block: bool = False, stop: threading.Event | None = None) -> None:
        with self._cv:
            if block:
                # lossless replay: wait for room (checking the stop flag) instead of dropping
                while len(self._items) >= self.capacity and not (stop and stop.is_set()):
                    self._cv.wait(0.05)
            if not isinstance(item, _End) and len(self._items) >= self.capacity:
                n = sum(not isinstance(i, _End) for i in self._items)
                self._items = deque(i for i in self._items if isinstance(i, _End))
                self.dropped += n
                self.reset_needed = self.reset_on_drop
            self._items.append(item)
            self._cv.notify()

    def get(self, timeout: float):
        with self._cv:
            if not self._items:
                self._cv.wait(timeout)
            if not self._items:
                return None, False
            reset, self.reset_needed = self.reset_needed, False
            item = self._items.popleft()
            self._cv.notify_all()
            return item, reset

    def clear(self) -> None:
        with self._cv:
            self._items.clear()
            self.reset_needed = False

    def __len__(self) -> int:
        return len(self._items)


def _drain(q: deque, max_n: int | None = None) -> list:
    """Pop up to ``max_n`` (default all) items from the left of ``q`` (thread-safe: popleft is
    atomic, and the workers only append)."""
    out = []
    while q and (max_n is None or len(out) < max_n):
        out.append(q.popleft())
    return out


class Engine:
    """Runs a source through a model, off the caller's thread.

    Args:
        predictor: a loaded predictor (``neuromoco.streaming.model.open_model``).
        config: what to do (:class:`EngineConfig`); keyword ``options`` override its fields
            (``Engine(p, mode="stream", hop_us=...)`` is ``Engine(p, EngineConfig(mode=...))``).
        on_prediction, on_status: called with each :class:`Prediction` / :class:`StatusEvent`.
        on_window: called with each :class:`Window` the windower completes.
        on_events: called with every raw chunk the source yields (before noise filtering, also
            while a live source is paused) and the source's watermark (µs or None): the hook
            through which a GUI sees the events it draws.

    Hooks run on the worker threads; an exception in one is reported as a status error.
    """

    def __init__(
        self,
        predictor,
        config: EngineConfig | None = None,
        *,
        on_prediction: Callable[[Prediction], None] | None = None,
        on_status: Callable[[StatusEvent], None] | None = None,
        on_window: Callable[[Window], None] | None = None,
        on_events: Callable[[np.ndarray, int | None], None] | None = None,
        **options,
    ):
        config = replace(config or EngineConfig(), **options)
        self.on_prediction = on_prediction
        self.on_status = on_status
        self.on_window = on_window
        self.on_events = on_events
        self._lock = threading.RLock()
        self._predictor = predictor
        self._config = config
        self._schedule = self._plan(config, predictor)  # validates the combination now
        self._gen = 0
        self._src_gen = -1
        self._source: EventSource | None = None
        self._src_thread: threading.Thread | None = None
        self._inf_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._paused = False
        self._slot = self._new_slot()
        self._predictions: deque[Prediction] = deque(maxlen=config.keep_predictions)
        self._status_q: deque[StatusEvent] = deque(maxlen=config.keep_predictions)
        self._latest_window: Window | None = None
        self._recorder: Recorder | None = None
        self._last_recorder: Recorder | None = None
        self.recorder_options: dict = {}
        """Keyword options of new :class:`Recorder` objects (``flush_s``, ``max_bytes``, …)."""
        self._ended = threading.Event()
        self._idle = threading.Event()
        self._reset_counters()

    # ---------------------------------------------------------------- configuration
    @staticmethod
    def _plan(config: EngineConfig, predictor) -> Schedule:
        schedule = plan(config, predictor.framing)
        if schedule.mode == "stream":
            try:
                predictor.init_state(1)
            except Exception as e:
                raise ValueError(f"stream mode: this model cannot be stepped ({e})") from None
        return schedule

    def _new_slot(self) -> _Slot:
        return _Slot(self._schedule.backlog, self._schedule.reset_on_drop)

    def _make_windower(self, sensor_size) -> Windower:
        c = self._schedule
        # from_spec: every framing field of the model (split, size, normalisation, denoise)
        # reaches the windower; the schedule decides the window, the tick and what is emitted
        return Windower.from_spec(
            self._predictor.framing,
            sensor_size,
            hop_us=c.tick_us,
            window_us=c.window_us,
            window_events=c.window_events,
            mode=c.mode,
            partial=c.partial,
        )

    def _make_session(self) -> InferenceSession:
        return InferenceSession(
            self._predictor,
            self._schedule.mode,
            emit_every=self._schedule.emit_every,
            early_threshold=self._config.early_threshold,
            early_steps=self._config.early_steps,
            gate=self._config.gate,
            spike_span=self._schedule.spike_span,
        )

    def _make_filters(self, sensor_size, windower: Windower):
        """``(hot-pixel filter, neighbour filter, activity meter, the meter's own neighbour
        filter)`` for a new source or configuration (None where off)."""
        c, s = self._config, self._schedule
        hot = HotPixelFilter(sensor_size) if c.hot_pixel_filter else None
        nf = Denoiser(sensor_size, s.noise_filter_us) if s.noise_filter_us else None
        meter = own = None
        if c.gate is not None:
            g = c.gate
            meter = ActivityMeter(sensor_size, g.activity_span_us, g.activity_block, g.activity_top)
            # the gate reads supported events: the engine's filter's output, else the
            # windower's when the model's framing applies the same filter (filtered once),
            # else (the user turned filtering off) the meter filters for itself
            if nf is None and windower.denoise_us != DEFAULT_NOISE_FILTER_US:
                own = Denoiser(sensor_size, DEFAULT_NOISE_FILTER_US)
        return hot, nf, meter, own

    @property
    def mode(self) -> str:
        return self._config.mode

    @property
    def predictor(self):
        return self._predictor

    @property
    def config(self) -> EngineConfig:
        """The settings in force."""
        return self._config

    @property
    def schedule(self) -> Schedule:
        """What the engine does with them for this model: window, tick, backlog, resets."""
        return self._schedule

    def set_mode(self, mode: str) -> None:
        """Switch between ``window`` and ``stream`` mode (restarts windowing on the next chunk)."""
        self._reconfigure(mode=mode)

    def set_predictor(self, predictor) -> None:
        """Run another model from now on (restarts windowing on the next chunk)."""
        self._reconfigure(predictor=predictor)

    def _reconfigure(self, mode=None, predictor=None):
        if mode is not None:
            check_mode(mode)
        with self._lock:
            config = replace(self._config, mode=mode) if mode is not None else self._config
            predictor = predictor if predictor is not None else self._predictor
            schedule = self._plan(config, predictor)  # raises before anything changes
            self._config, self._predictor, self._schedule = config, predictor, schedule
            self._gen += 1
        self._emit_status("config", self.describe())

    def warmup(self, repeats: int = 2) -> float:
        """Run the model on empty input (first calls allocate and compile); returns the last
        call's time in ms. Raises ValueError if the model fails on a well-formed input."""
        p = self._predictor
        w, h = p.framing.size
        T = self._schedule.T
        dt = 0.0
        try:
            for _ in range(max(1, repeats)):
                t0 = time.perf_counter()
                if self._schedule.mode == "window":
                    p.window(np.zeros((T, 1, 2, h, w), np.float32))
                else:
                    p.step(np.zeros((1, 2, h, w), np.float32), p.init_state(1))
                dt = (time.perf_counter() - t0) * 1e3
        except Exception as e:
            raise ValueError(f"the model fails on an empty {self.mode} input: {e}") from None
        return dt

    def describe(self) -> str:
        c = self._schedule
        win = f"{c.window_us / 1e3:g} ms" if c.window_us else f"{c.window_events} events"
        return (
            f"mode {c.mode}, window {win}, T={c.T}, hop {c.report_hop_us / 1e3:g} ms; "
            f"model {self._predictor.describe()}"
        )

    # ---------------------------------------------------------------- lifecycle
    def _reset_counters(self) -> None:
        self.events_in = 0
        self.windows = 0
        self.n_predictions = 0
        self.dropped = 0
        self.late = 0
        self._latencies: deque[float] = deque(maxlen=2000)
        self._rate_ev: deque[tuple[float, int]] = deque(maxlen=512)
        self._rate_pred: deque[float] = deque(maxlen=512)

    @property
    def running(self) -> bool:
        t = self._src_thread
        return t is not None and t.is_alive()

    @property
    def paused(self) -> bool:
        return self._paused

    @property
    def source(self):
        return self._source

    def start(self, source, record=None, record_format: str | None = None) -> None:
        """Start streaming ``source`` (a started engine switches to it); ``record``: a path to
        record its raw events to from the very first chunk (see :meth:`start_recording`)."""
        if self._inf_thread is not None and self._inf_thread.is_alive():
            self.switch_source(source, record=record, record_format=record_format)
            return
        recorder = self._new_recorder(record, source, record_format)
        self._stop.clear()
        self._slot = self._new_slot()
        self._inf_thread = threading.Thread(
            target=self._inference_loop, name="neuromoco-inference", daemon=True
        )
        self._inf_thread.start()
        self._start_source(source, recorder)

    def _start_source(self, source, recorder: Recorder | None = None) -> None:
        with self._lock:
            self._recorder = recorder
            if recorder is not None:
                self._emit_status("recording", f"recording to {recorder.path}")
            self._gen += 1  # a new source gets a fresh windower and session
            gen = self._gen
            self._src_gen = gen
            self._source = source
            self._paused = False
            self._ended.clear()
            self._idle.clear()
            self._src_thread = threading.Thread(
                target=self._source_loop, args=(source, gen), name="neuromoco-source", daemon=True
            )
            self._src_thread.start()

    def switch_source(
        self, source, timeout: float = 1.0, record=None, record_format: str | None = None
    ) -> None:
        """Stop the current source (recording, if any, is written) and stream ``source``.

        Counters and the prediction poll queue start afresh for the new source."""
        if record is not None:  # a bad target fails before the current source is stopped
            check_record_target(record, record_format)
        self._stop_source(timeout)
        self._slot.clear()
        self._predictions.clear()  # a new source starts a new history
        self._reset_counters()
        if self._inf_thread is None or not self._inf_thread.is_alive():
            self.start(source, record, record_format)
        else:
            self._start_source(source, self._new_recorder(record, source, record_format))

    def _stop_source(self, timeout: float) -> bool:
        src, th = self._source, self._src_thread
        if src is not None:
            try:
                src.close()
            except Exception as e:  # a source must not prevent stopping
                self._emit_status("error", f"closing {src.name}: {e}")
        ok = True
        if th is not None and th is not threading.current_thread():
            th.join(timeout)
            ok = not th.is_alive()
        self._finish_recording()
        return ok

    def stop(self, timeout: float = 1.0) -> bool:
        """Stop everything; returns True when both threads ended within ``timeout`` seconds."""
        t0 = time.perf_counter()
        self._stop.set()
        ok = self._stop_source(timeout * 0.6)
        th = self._inf_thread
        if th is not None and th is not threading.current_thread():
            th.join(max(0.05, timeout - (time.perf_counter() - t0)))
            ok = ok and not th.is_alive()
        return ok

    def pause(self) -> None:
        """Freeze the stream: replayed sources stop in place; live sources are read and discarded."""
        with self._lock:
            self._paused = True
            src = self._source
        if src is not None and not src.live:
            src.pause()
        self._emit_status("paused", "paused")

    def resume(self) -> None:
        with self._lock:
            self._paused = False
            src = self._source
        if src is not None and not src.live:
            src.resume()
        self._emit_status("resumed", "resumed")

    def set_speed(self, speed: float) -> None:
        """Replay speed of the current source (1 = real time, 0 = as fast as possible)."""
        src = self._source
        if src is not None and not src.live:
            src.speed = speed

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the source has ended and every queued window was processed."""
        return self._idle.wait(timeout)

    # ---------------------------------------------------------------- recording
    def _new_recorder(self, record, source, record_format: str | None = None) -> Recorder | None:
        if record is None:
            return None
        return Recorder(
            record,
            source.sensor_size,
            record_format,
            on_status=self._emit_status,
            **self.recorder_options,
        )

    def start_recording(self, path, format: str | None = None) -> None:
        """Record the raw input events of the current source to ``path`` (streamed to
        ``<stem>.partial<suffix>`` as they arrive, renamed to ``path`` on :meth:`stop_recording`,
        on a source switch, or when the engine stops: see :mod:`neuromoco.streaming.recorder`).
        ``format``: one of ``aedat4`` (default), ``aedat3``, ``evt2``, ``evt3``, ``dat``."""
        src = self._source
        if src is None:
            raise ValueError("start a source before recording")
        check_record_target(path, format)
        self._finish_recording()
        self._recorder = self._new_recorder(path, src, format)
        self._emit_status("recording", f"recording to {path}")

    def stop_recording(self, timeout: float | None = None):
        """Finish the recording; returns its path once written (None when not recording, when
        writing failed — an ``error`` status says why — or when the backlog is still being
        written after ``timeout`` seconds: a ``recording`` status says when it is done)."""
        return self._finish_recording(timeout)

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    def recording_stats(self) -> RecorderStats | None:
        """Counters of the current recording, else of the last one (None: never recorded)."""
        rec = self._recorder or self._last_recorder
        return None if rec is None else rec.stats()

    def _finish_recording(self, timeout: float | None = None):
        rec, self._recorder = self._recorder, None
        if rec is None:
            return None
        self._last_recorder = rec
        # the recorder reports "wrote N events to PATH" (or the error) itself, from its thread
        path = rec.close(timeout)
        if path is None and not rec.finished.is_set():
            st = rec.stats()
            self._emit_status(
                "recording",
                f"finishing {rec.path}: {st.backlog_events} events still to write",
            )
        return path

    # ---------------------------------------------------------------- outputs
    def poll_predictions(self, max_n: int | None = None) -> list[Prediction]:
        """Predictions since the last poll (oldest first)."""
        return _drain(self._predictions, max_n)

    def poll_status(self) -> list[StatusEvent]:
        """Status events since the last poll (oldest first)."""
        return _drain(self._status_q)

    def latest_window(self) -> Window | None:
        """The newest window (frames ``[T, 2, H, W]`` or ``[1, 2, H, W]``), for display."""
        return self._latest_window

    def stats(self) -> EngineStats:
        now = time.perf_counter()
        ev = [(t, n) for t, n in list(self._rate_ev) if now - t <= 2.0]
        pr = [t for t in list(self._rate_pred) if now - t <= 2.0]
        span = 2.0 if self.running else max(1e-9, (ev[-1][0] - ev[0][0]) if len(ev) > 1 else 1.0)
        lat = list(self._latencies)  # one C-level copy: safe while the worker appends
        lat = np.array(lat) if lat else None
        c = self._schedule
        src = self._source
        p = self._predictor
        return EngineStats(
            source=None if src is None else src.name,
            source_status="none" if src is None else src.status,
            running=self.running,
            paused=self._paused,
            mode=c.mode,
            T=c.T,
            window_us=c.window_us,
            window_events=c.window_events,
            hop_us=c.report_hop_us,
            events_in=self.events_in,
            events_per_s=sum(n for _, n in ev) / span,
            windows=self.windows,
            predictions=self.n_predictions,
            predictions_per_s=len(pr) / 2.0,
            dropped=self.dropped,
            late=self.late,
            latency_p50_ms=None if lat is None else float(np.percentile(lat, 50)),
            latency_p99_ms=None if lat is None else float(np.percentile(lat, 99)),
            model=p.describe(),
        )

    def _emit_status(self, kind: str, message: str) -> None:
        src = self._source
        ev = StatusEvent(kind, message, None if src is None else src.name, time.time())
        self._status_q.append(ev)
        cb = self.on_status
        if cb is not None:
            try:
                cb(ev)
            except Exception:  # a broken status callback must not kill the worker
                pass

    # ---------------------------------------------------------------- workers
    def _source_loop(self, source, gen: int) -> None:
        name = source.name
        self._emit_status("started", f"streaming {name}")
        try:
            with self._lock:
                cfg_gen = self._gen
                windower = self._make_windower(source.sensor_size)
                hot, nf, meter, own = self._make_filters(source.sensor_size, windower)
            live = bool(source.live)
            gap = False
            for chunk in source:
                block = self._config.lossless
                if block is None:
                    block = not live and source.speed <= 0
                if self._stop.is_set() or self._source is not source:
                    break
                arrival = time.perf_counter()
                wm = source.watermark_us
                if self.on_events is not None:
                    try:
                        self.on_events(chunk, wm)
                    except Exception as e:
                        self._emit_status("error", f"events hook: {type(e).__name__}: {e}")
                if self._paused and live:
                    gap = True
                    continue  # live events during a pause are discarded
                if gap:
                    # a live stream resumed after a pause: start windows (and stream-mode state)
                    # afresh instead of emitting the paused stretch as a burst of empty windows
                    gap = False
                    with self._lock:
                        self._gen += 1
                if self._gen != cfg_gen:
                    with self._lock:
                        cfg_gen = self._gen
                        windower = self._make_windower(source.sensor_size)
                        hot, nf, meter, own = self._make_filters(source.sensor_size, windower)
                n = chunk.shape[0]
                if n:
                    self.events_in += n
                    self._rate_ev.append((arrival, n))
                    rec = self._recorder
                    if rec is not None:
                        rec.add(chunk)  # the raw input: filters never change a recording
                    if wm is None:  # the stream reached the chunk's end, whatever is dropped
                        wm = int(chunk["t"][-1])
                    if hot is not None:
                        chunk = hot(chunk)
                    if nf is not None:
                        chunk = nf(chunk)
                windows = windower.push(chunk, wm, arrival)
                if n and meter is not None:  # before the windows ask it for their activity
                    if own is not None:
                        meter.add(own(chunk))
                    else:
                        meter.add(chunk if nf is not None else windower.kept)
                self.late = windower.late
                for w in windows:
                    self.windows += 1
                    self._latest_window = w
                    act = None if meter is None else meter.rate_hz(w.t_us)
                    item = (cfg_gen, w, self._truth(source, w), act)
                    self._slot.put(item, block, self._stop)
                    if self.on_window is not None:
                        try:
                            self.on_window(w)
                        except Exception as e:
                            self._emit_status("error", f"window callback: {type(e).__name__}: {e}")
            status = source.status
            if self._stop.is_set() or self._source is not source:
                self._emit_status("ended", f"{name}: stopped")
            else:
                msg = status if status.startswith(("ended", "error")) else "ended"
                self._emit_status("error" if msg.startswith("error") else "ended", f"{name}: {msg}")
        except Exception as e:  # never let a source failure escape the thread
            if isinstance(e, OSError | ValueError):  # user-facing errors name file and reason
                msg = str(e) if str(name) in str(e) else f"{name}: {e}"
            else:
                msg = f"{name}: {type(e).__name__}: {e}"
            self._emit_status("error", msg)
        finally:
            self._slot.put(_End(gen))

    def _truth(self, source: EventSource, w: Window):
        k = source.truth_label(w.t_start_us, w.t_us)
        if k is None:
            return None
        names = source.class_names
        return k, (names[k] if names and k < len(names) else None)

    def _inference_loop(self) -> None:
        session = None
        sess_gen = -1
        last_err, last_err_t = None, 0.0
        while not self._stop.is_set():
            backlog, reset_on_drop = self._schedule.backlog, self._schedule.reset_on_drop
            if self._slot.capacity != backlog:  # the mode changed: a window or T bins
                self._slot.capacity, self._slot.reset_on_drop = backlog, reset_on_drop
            item, reset = self._slot.get(0.05)
            self.dropped = self._slot.dropped
            if item is None:
                continue
            if isinstance(item, _End):
                if item.gen == self._src_gen and not len(self._slot):
                    self._ended.set()
                    self._idle.set()
                continue
            gen, w, truth, activity = item
            try:
                if gen != sess_gen:
                    with self._lock:
                        if gen != self._gen:
                            continue  # a window from before a reconfiguration
                        session = self._make_session()
                        sess_gen = gen
                if reset:
                    session.reset()
                pred = session.process(
                    w,
                    dropped=self.dropped,
                    truth_index=None if truth is None else truth[0],
                    truth_label=None if truth is None else truth[1],
                    activity_hz=activity,
                )
            except Exception as e:
                # a model that fails on every window would flood the status channel: repeat an
                # identical message at most once per second
                msg = f"inference: {type(e).__name__}: {e}"
                now = time.perf_counter()
                if msg != last_err or now - last_err_t >= 1.0:
                    self._emit_status("error", msg)
                    last_err, last_err_t = msg, now
                continue
            if pred is None or gen != self._gen:
                continue  # nothing to emit, or the source/config changed while it ran
            self.n_predictions += 1
            self._latencies.append(pred.latency_ms)
            self._rate_pred.append(time.perf_counter())
            self._predictions.append(pred)
            cb = self.on_prediction
            if cb is not None:
                try:
                    cb(pred)
                except Exception as e:
                    self._emit_status("error", f"prediction callback: {type(e).__name__}: {e}")
