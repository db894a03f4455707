"""Incremental windowing: a live event stream → ``[T, 2, H, W]`` windows equal to offline framing.

A :class:`Windower` receives event chunks (``push``) together with a *watermark* — the stream
time (µs) before which every event has been delivered — and emits a :class:`Window` at every
*tick* of a hop grid ``origin + m·hop_us``. The window at ``tick`` holds exactly what
:func:`neuromoco.framing.to_frames` gives for the same events:

* time split, duration window: events in ``[tick − window_us, tick)`` in ``T`` bins of
  ``window_us / T`` µs (``to_frames(..., split_by="time", t_start=tick − window_us, t_end=tick)``);
* number split, duration window: the events of ``[tick − window_us, tick)`` split into ``T``
  equal-count bins (spikingjelly's rule);
* count window (``window_events=N``): the last ``N`` events before ``tick``, split by number
  (or by time over their own span).

Two strategies, chosen automatically:

* **ring** (time split, ``window_us % T == 0`` and the bin duration divides the hop): a ring of
  ``T`` per-bin count frames on the global bin grid ``origin + k·bin_us``; each event is counted
  once, into its bin, when it arrives; a tick only copies ``T`` frames (and normalises the copy).
  Memory: ``T·2·H·W`` float32 plus the events of the current chunk that lie beyond the next tick.
* **buffer** (every other case): the events that can still fall into a future window are kept
  (older chunks are trimmed at every tick) and each window is framed with ``to_frames``.

With ``denoise_us`` (the spec's neighbour denoise, :mod:`neuromoco.denoise`), every pushed chunk is
first denoised with a state carried from chunk to chunk, on the sensor's coordinates: the windows
equal offline framing of the stream denoised from its first event on (``to_frames(all events up
to the tick, ..., denoise_us=...)``), whatever the chunking.

Both are exact (counts are integers below 2**24, so float32 sums do not depend on order). Events
older than the last emitted tick (out-of-order input) cannot join windows that were already
emitted: they are counted in :attr:`Windower.late` and dropped.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

import numpy as np

from neuromoco.denoise import Denoiser
from neuromoco.events import EVENT_DTYPE, SensorSize
from neuromoco.framing import (
    FramingSpec,
    Normalize,
    SplitBy,
    apply_normalize,
    to_frames,
)
from neuromoco.types import concat_events

from .engine_config import TARGET_HOP_US, Mode, check_mode

_NO_BIN = np.iinfo(np.int64).min


@dataclass(frozen=True)
class Window:
    """One emitted window.

    Attributes:
        t_us: the tick: window end (exclusive), stream time in µs.
        t_start_us: window start (inclusive) in µs for duration windows; the first event's
            timestamp for count windows (``t_us`` when empty).
        frames: float32 ``[T, 2, H, W]`` (``mode="window"``) or ``[1, 2, H, W]`` (``mode="stream"``:
            only the newest bin ``[t_us − bin_us, t_us)``), owned by the receiver.
        n_events: events inside ``frames``.
        index: tick number (0 for the first emitted tick), counts every tick of the grid.
        full: False while the window still reaches before the first event of the stream.
        arrival: ``time.perf_counter()`` of the chunk that completed the window (set by the
            caller through ``push(..., arrival=)``), for end-to-end latency.
    """

    t_us: int
    t_start_us: int
    frames: np.ndarray
    n_events: int
    index: int
    full: bool
    arrival: float = 0.0


class Windower:
    """Sliding windows over a live stream, bit-for-bit equal to offline ``to_frames``.

    Args:
        T: bins per window.
        sensor_size: ``(width, height)`` of the incoming events (pixels).
        size: model ``(width, height)``; coordinates are resized as in ``to_frames``.
        split_by: ``"time"`` or ``"number"``.
        window_us: window duration in µs (time windows).
        window_events: window length in events (count windows; used when ``window_us`` is None).
        hop_us: tick period in µs (stream time).
        normalize: the framing normalisation, applied to each emitted copy.
        origin_us: stream time of the tick grid origin; default: the first event's timestamp.
        denoise_us: neighbour denoise window (µs) applied to the stream before windowing
            (None: off); the denoise state lives as long as the stream (``reset`` clears it).
        mode: the streaming mode it feeds (``EngineConfig.mode``): ``"window"`` (``[T, 2, H, W]``
            per tick) or ``"stream"`` (only the newest bin; needs the ring strategy and ``hop_us``
            equal to the bin duration).
        partial: emit ticks whose window still reaches before the first event (default False:
            the first window is emitted once it is full).
    """

    def __init__(
        self,
        T: int,
        sensor_size: SensorSize,
        size: SensorSize | None = None,
        split_by: SplitBy = "time",
        window_us: int | None = None,
        window_events: int | None = None,
        hop_us: int = TARGET_HOP_US,
        normalize: Normalize = "none",
        origin_us: int | None = None,
        mode: Mode = "window",
        partial: bool = False,
        denoise_us: int | None = None,
    ):
        if int(T) <= 0:
            raise ValueError(f"T must be positive, got {T}")
        if window_us is None and window_events is None:
            raise ValueError("a window needs window_us (µs) or window_events (count)")
        if window_us is not None and int(window_us) <= 0:
            raise ValueError(f"window_us must be positive, got {window_us}")
        if window_events is not None and int(window_events) <= 0:
            raise ValueError(f"window_events must be positive, got {window_events}")
        if int(hop_us) <= 0:
            raise ValueError(f"hop_us must be positive, got {hop_us}")
        if split_by not in ("time", "number"):
            raise ValueError(f"split_by must be 'time' or 'number', got {split_by!r}")
        check_mode(mode)
        if denoise_us is not None and int(denoise_us) <= 0:
            raise ValueError(f"denoise_us must be positive, got {denoise_us}")
        self.denoise_us = int(denoise_us) if denoise_us is not None else None
        self.T = int(T)
        self.sensor_size = (int(sensor_size[0]), int(sensor_size[1]))
        self.size = (int(size[0]), int(size[1])) if size is not None else self.sensor_size
        self.split_by = split_by
        self.window_us = int(window_us) if window_us is not None else None
        self.window_events = (
            int(window_events) if window_events is not None and window_us is None else None
        )
        self.hop_us = int(hop_us)
        self.normalize = normalize
        self.mode = mode
        self.partial = bool(partial)
        self.ring = (
            split_by == "time"
            and self.window_us is not None
            and self.window_us % self.T == 0
            and self.hop_us % (self.window_us // self.T) == 0
        )
        self.bin_us = self.window_us // self.T if self.ring else None
        if mode == "stream" and not (self.ring and self.hop_us == self.bin_us):
            raise ValueError(
                "mode='stream' needs split_by='time', window_us divisible by T and "
                f"hop_us equal to the bin duration (window_us={window_us}, T={T}, hop_us={hop_us})"
            )
        self._origin_arg = origin_us
        w, h = self.size
        if self.ring:
            self._slots = np.zeros((self.T, 2, h, w), dtype=np.float32)
        self.reset()

    @classmethod
    def from_spec(
        cls,
        spec: FramingSpec,
        sensor_size: SensorSize,
        hop_us: int,
        window_us: int | None = None,
        window_events: int | None = None,
        **kw,
    ) -> Windower:
        """A windower reproducing ``spec`` (T, split, size, normalisation) on a stream from a
        sensor of ``sensor_size``; ``window_us``/``window_events`` override the spec's window."""
        if window_us is None and window_events is None:
            window_us, window_events = spec.window_us, spec.window_events
        return cls(
            T=spec.T,
            sensor_size=sensor_size,
            size=spec.size,
            split_by=spec.split_by,
            window_us=window_us,
            window_events=window_events,
            hop_us=hop_us,
            normalize=spec.normalize,
            denoise_us=spec.denoise_us,
            **kw,
        )

    # ------------------------------------------------------------------ state
    def reset(self) -> None:
        """Forget the stream (a new source): empty ring/buffer, origin re-read from the next event."""
        self.origin_us: int | None = int(self._origin_arg) if self._origin_arg is not None else None
        self.next_tick: int | None = None
        self.tick_index = 0
        self.last_tick: int | None = None
        self.late = 0
        self.n_seen = 0
        self._first_t: int | None = None
        self._pending: deque[np.ndarray] = deque()  # events not yet integrated / still needed
        self.kept = np.zeros(0, EVENT_DTYPE)
        """The events the last :meth:`push` kept (late ones dropped, denoised when the framing
        denoises): what the windows are made of."""
        # the framing's neighbour filter, its state carried from chunk to chunk
        self._denoiser = (
            None if self.denoise_us is None else Denoiser(self.sensor_size, self.denoise_us)
        )
        if self.ring:
            self._slots[:] = 0
            self._slot_bin = np.full(self.T, _NO_BIN, dtype=np.int64)
            self._slot_n = np.zeros(self.T, dtype=np.int64)

    @property
    def n_denoised(self) -> int:
        """Events removed by the denoise so far."""
        d = self._denoiser
        return 0 if d is None else d.n_in - d.n_out

    @property
    def nbytes(self) -> int:
        """Bytes held by the windower (ring frames + buffered events)."""
        n = sum(c.nbytes for c in self._pending)
        if self.ring:
            n += self._slots.nbytes
        return n

    # ------------------------------------------------------------------ input
    def push(
        self, events: np.ndarray, watermark_us: int | None = None, arrival: float = 0.0
    ) -> list[Window]:
        """Add a chunk of events (sorted by ``t``) and return the windows it completes.

        ``watermark_us``: every event with ``t < watermark_us`` has now been delivered (default:
        the chunk's last timestamp). Ticks ``≤ watermark_us`` are emitted.
        """
        if events.dtype != EVENT_DTYPE:
            events = _as_events(events)
        if events.shape[0]:
            if self.last_tick is not None and int(events["t"][0]) < self.last_tick:
                keep = events["t"] >= self.last_tick
                self.late += int(events.shape[0] - np.count_nonzero(keep))
                events = events[keep]
        if self.denoise_us is not None and events.shape[0]:
            if watermark_us is None:
                # the stream advanced to the chunk's last event, even if the denoise drops it
                watermark_us = int(events["t"][-1])
            events = self._denoiser(events)
        self.kept = events
        if events.shape[0]:
            self.n_seen += events.shape[0]
            if self._first_t is None:
                self._first_t = int(events["t"][0])
            if self.origin_us is None:
                self.origin_us = self._first_t
            self._pending.append(events)
            if watermark_us is None:
                watermark_us = int(events["t"][-1])
        if watermark_us is None or self.origin_us is None:
            return []
        if self.next_tick is None:
            self.next_tick = self._first_tick()
        out: list[Window] = []
        while self.next_tick <= watermark_us:
            tick = self.next_tick
            if self.ring:
                # integrate lazily, once per tick: one bincount over the hop's events is much
                # cheaper than one per incoming slice
                self._integrate_before(tick)
            w = self._make_window(tick, arrival)
            if w is not None:
                out.append(w)
            self.last_tick = tick
            self.tick_index += 1
            self.next_tick = tick + self.hop_us
            if not self.ring:
                self._trim(self.next_tick)
        return out

    def flush(self, end_us: int, arrival: float = 0.0) -> list[Window]:
        """Emit every tick up to ``end_us`` (the end of a finite stream)."""
        return self.push(np.empty(0, EVENT_DTYPE), watermark_us=end_us, arrival=arrival)

    # ------------------------------------------------------------------ internals
    def _first_tick(self) -> int:
        o = self.origin_us
        if self.partial:
            return o + self.hop_us
        if self.window_us is not None:
            # first tick whose window [tick − window_us, tick) starts at or after the origin
            m = max(1, -(-self.window_us // self.hop_us))
            return o + m * self.hop_us
        return o + self.hop_us

    def _is_full(self, tick: int, n_before: int) -> bool:
        if self.window_us is not None:
            return self._first_t is not None and tick - self.window_us >= self.origin_us
        return n_before >= self.window_events

    def _integrate_before(self, t_end: int) -> None:
        """Count pending events with ``t < t_end`` into their ring bins (one bincount)."""
        parts = []
        while self._pending:
            c = self._pending[0]
            t = c["t"]
            if int(t[0]) >= t_end:
                break
            if int(t[-1]) < t_end:
                parts.append(self._pending.popleft())
                continue
            n = int(np.searchsorted(t, t_end, side="left"))
            parts.append(c[:n])
            self._pending[0] = c[n:]
            break
        if not parts:
            return
        # structured fields are unaligned (13-byte records): convert each field once, in
        # unsigned 32-bit arithmetic (signed int64 floor division is several times slower)
        ev = concat_events(parts)
        idx = self._flat_index(ev)
        t0, t1 = int(ev["t"][0]), int(ev["t"][-1])
        bin_us, o = self.bin_us, self.origin_us
        k0 = (t0 - o) // bin_us
        k1 = (t1 - o) // bin_us
        nb = self._slots[0].size
        if k0 == k1:
            cuts = [0, idx.shape[0]]
        else:
            t = ev["t"]
            edges = o + np.arange(k0 + 1, k1 + 1, dtype=np.int64) * bin_us
            cuts = [0, *np.searchsorted(t, edges, side="left").tolist(), idx.shape[0]]
        for j in range(k1 - k0 + 1):
            a, b = cuts[j], cuts[j + 1]
            if b > a:
                counts = np.bincount(idx[a:b], minlength=nb)
                if counts.shape[0] > nb:
                    raise ValueError(
                        f"event coordinates outside the {self.sensor_size[0]}x"
                        f"{self.sensor_size[1]} sensor (or polarity > 1)"
                    )
                self._add_to_bin(k0 + j, counts, b - a)

    def _flat_index(self, ev: np.ndarray) -> np.ndarray:
        """``(p·H + y')·W + x'`` (uint32) with coordinates resized as in ``neuromoco.framing``."""
        w_in, h_in = self.sensor_size
        w, h = self.size
        u = np.uint32
        idx = ev["y"].astype(u)
        x = ev["x"].astype(u)
        if (w, h) != (w_in, h_in):
            idx *= u(h)
            idx //= u(h_in)
            x *= u(w)
            x //= u(w_in)
        idx *= u(w)
        idx += x
        x = ev["p"].astype(u)
        x *= u(h * w)
        idx += x
        return idx

    def _add_to_bin(self, k: int, counts: np.ndarray, n: int) -> None:
        s = k % self.T
        if self._slot_bin[s] > k:
            # out-of-order event for a bin already recycled (only with hop > window): drop it
            self.late += n
            return
        if self._slot_bin[s] != k:
            # the slot held bin k − T·j, which no future window needs any more
            self._slots[s] = 0
            self._slot_bin[s] = k
            self._slot_n[s] = 0
        flat = self._slots[s].reshape(-1)
        flat += counts  # integer counts < 2**24: exact in float32, whatever the order
        self._slot_n[s] += n

    def _make_window(self, tick: int, arrival: float) -> Window | None:
        if self.ring:
            return self._ring_window(tick, arrival)
        return self._buffer_window(tick, arrival)

    def _ring_window(self, tick: int, arrival: float) -> Window | None:
        full = self._is_full(tick, 0)
        if not (full or self.partial):
            return None
        k_end = (tick - self.origin_us) // self.bin_us
        ks = range(k_end - 1, k_end) if self.mode == "stream" else range(k_end - self.T, k_end)
        frames = np.empty((len(ks), *self._slots.shape[1:]), dtype=np.float32)
        n = 0
        for i, k in enumerate(ks):
            s = k % self.T
            if self._slot_bin[s] == k:
                frames[i] = self._slots[s]
                n += int(self._slot_n[s])
            else:
                frames[i] = 0
        apply_normalize(frames, self.normalize)
        t0 = tick - self.bin_us * len(ks)
        return Window(tick, t0, frames, n, self.tick_index, full, arrival)

    def _buffered_before(self, tick: int) -> np.ndarray:
        parts = []
        for c in self._pending:
            t = c["t"]
            if int(t[0]) >= tick:
                break
            if int(t[-1]) < tick:
                parts.append(c)
            else:
                parts.append(c[: int(np.searchsorted(t, tick, side="left"))])
                break
        if not parts:
            return np.empty(0, EVENT_DTYPE)
        return concat_events(parts)

    def _buffer_window(self, tick: int, arrival: float) -> Window | None:
        ev = self._buffered_before(tick)
        if self.window_us is not None:
            t_start = tick - self.window_us
            ev = ev[int(np.searchsorted(ev["t"], t_start, side="left")) :]
        else:
            n_before = ev.shape[0]
            ev = ev[max(0, n_before - self.window_events) :]
        full = self._is_full(tick, self._count_before(tick))
        if not (full or self.partial):
            return None
        # a time window spans [tick - window_us, tick); a count window spans its events
        timed = self.window_us is not None
        frames = to_frames(
            ev,
            self.T,
            self.sensor_size,
            split_by=self.split_by,
            size=self.size,
            t_start=tick - self.window_us if timed else None,
            t_end=tick if timed else None,
            normalize=self.normalize,
        )
        if timed:
            t0 = tick - self.window_us
        else:
            t0 = int(ev["t"][0]) if ev.shape[0] else tick
        return Window(tick, t0, frames, int(ev.shape[0]), self.tick_index, full, arrival)

    def _count_before(self, tick: int) -> int:
        # events ever seen with t < tick: everything seen minus what is pending at/after tick
        after = 0
        for c in reversed(self._pending):
            t = c["t"]
            if int(t[-1]) < tick:
                break
            after += c.shape[0] - int(np.searchsorted(t, tick, side="left"))
        return self.n_seen - after

    def _trim(self, next_tick: int) -> None:
        """Drop buffered events that no window from ``next_tick`` on can contain."""
        if self.window_us is not None:
            t_keep = next_tick - self.window_us
            while self._pending:
                c = self._pending[0]
                t = c["t"]
                if int(t[-1]) < t_keep:
                    self._pending.popleft()
                    continue
                i = int(np.searchsorted(t, t_keep, side="left"))
                if i:
                    self._pending[0] = c[i:]
                return
        else:
            # keep the last window_events events before next_tick (and everything after it)
            need = self.window_events
            have = 0
            keep_from = None
            for j in range(len(self._pending) - 1, -1, -1):
                c = self._pending[j]
                t = c["t"]
                n_before = int(np.searchsorted(t, next_tick, side="left"))
                have += n_before
                if have >= need:
                    keep_from = j
                    cut = have - need  # events of chunk j that are too old
                    break
            if keep_from is None:
                return
            for _ in range(keep_from):
                self._pending.popleft()
            if cut:
                self._pending[0] = self._pending[0][cut:]


def _as_events(events: np.ndarray) -> np.ndarray:
    names = events.dtype.names
    if names is None or not {"t", "x", "y", "p"} <= set(names):
        raise ValueError("events must be a structured array with fields t, x, y, p")
    out = np.empty(events.shape[0], EVENT_DTYPE)
    for f in ("t", "x", "y", "p"):
        out[f] = events[f]
    return out
