"""A thread-safe tap on the event stream that keeps the current window for display.

The engine's source thread calls :meth:`EventTap.on_events` with every chunk it reads and the
source's watermark (the engine's ``on_events`` hook); the GUI thread calls :meth:`EventTap.snapshot` from a
~30 Hz timer. ``push`` only appends a reference under a lock and drops chunks that fell out of
the window, so the source never waits on the GUI; ``snapshot`` copies the list of chunk
references under the lock and does the counting outside it, so the GUI never waits on the source.

What is shown is the last ``window_us`` µs of events (or the last ``window_events`` events when
the model windows by count) at **sensor** resolution, split into ``T`` equal-duration bins for the
per-bin strip. This is for display only; the model's own framing happens in the engine.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

import numpy as np

from neuromoco.events import EVENT_DTYPE
from neuromoco.streaming.engine_config import DEFAULT_WINDOW_US


@dataclass(frozen=True)
class DisplayWindow:
    """What the event view draws.

    Attributes:
        frames: ``[T, 2, H', W']`` int32 event counts per time bin (channel 0 = OFF, 1 = ON),
            sum-pooled to ``H' = ⌈H/pool⌉``, ``W' = ⌈W/pool⌉``.
        accumulated: ``[2, H, W]`` int32 counts of the whole window at sensor resolution.
        t_start: first µs of the window (inclusive).
        t_end: last µs of the window (exclusive).
        n_events: events in the window.
    """

    frames: np.ndarray
    accumulated: np.ndarray
    t_start: int
    t_end: int
    n_events: int


class EventTap:
    """Keeps the newest events of a stream for display (thread-safe, bounded memory).

    Args:
        sensor_size: ``(width, height)`` in pixels.
        window_us: how many µs of the newest events to keep (default 500 ms).
        window_events: keep the newest N events instead (overrides ``window_us``).
        max_events: hard cap on kept events whatever the window (memory bound for dense streams).
    """

    def __init__(
        self,
        sensor_size: tuple[int, int],
        window_us: int | None = DEFAULT_WINDOW_US,
        window_events: int | None = None,
        max_events: int = 2_000_000,
    ):
        w, h = int(sensor_size[0]), int(sensor_size[1])
        if w <= 0 or h <= 0:
            raise ValueError(f"sensor_size must be positive (width, height), got {sensor_size}")
        if window_events is None and (window_us is None or window_us <= 0):
            raise ValueError("EventTap needs a positive window_us or window_events")
        self.sensor_size = (w, h)
        self.window_us = None if window_events is not None else int(window_us)
        self.window_events = None if window_events is None else int(window_events)
        self.max_events = int(max_events)
        self._lock = threading.Lock()
        self._chunks: deque[np.ndarray] = deque()
        self._kept = 0
        self._total = 0
        self._watermark: int | None = None
        self.version = 0
        """Incremented by every push/advance/clear: a viewer redraws only when it changed."""
        self.t_first: int | None = None
        """Timestamp (µs) of the first event pushed: the origin of the displayed stream time."""

    @property
    def total_events(self) -> int:
        """Events pushed since creation (all chunks, including those no longer kept)."""
        return self._total

    def push(self, events: np.ndarray) -> None:
        """Add a chunk (structured events, sorted by ``t``); called from the source thread."""
        n = int(events.shape[0])
        if n == 0:
            return
        if self.t_first is None:
            self.t_first = int(events["t"][0])
        with self._lock:
            self._chunks.append(events)
            self._kept += n
            self._total += n
            self.version += 1
            self._trim(int(events["t"][-1]))

    def _trim(self, t_last: int) -> None:
        # Drop whole chunks that are entirely out of the window; the partial one is cut in snapshot.
        limit = (
            self.max_events
            if self.window_events is None
            else min(self.max_events, self.window_events)
        )
        while len(self._chunks) > 1:
            first = self._chunks[0]
            n0 = first.shape[0]
            too_old = self.window_us is not None and int(first["t"][-1]) < t_last - self.window_us
            too_many = self._kept - n0 >= limit
            if not (too_old or too_many):
                break
            self._chunks.popleft()
            self._kept -= n0

    def on_events(self, events: np.ndarray, watermark_us: int | None) -> None:
        """The engine's ``on_events`` hook: :meth:`push` the chunk, :meth:`advance` the time."""
        self.push(events)
        self.advance(watermark_us)

    def advance(self, watermark_us: int | None) -> None:
        """The stream time up to which every event has been pushed (a silent scene still moves
        the window on, so the view empties instead of freezing on the last events)."""
        if watermark_us is not None and watermark_us != self._watermark:
            self._watermark = int(watermark_us)
            self.version += 1

    def clear(self) -> None:
        """Forget all events (on source switch)."""
        with self._lock:
            self._chunks.clear()
            self._kept = 0
            self._watermark = None
            self.version += 1

    def _window_end(self, t: np.ndarray) -> int:
        t_end = int(t[-1]) + 1 if t.shape[0] else 0
        wm = self._watermark
        return max(t_end, wm) if wm is not None else t_end

    def _columns(self) -> tuple[np.ndarray, ...] | None:
        """``(t, x, y, p)`` of the current window (``None`` before any event).

        Concatenated field by field: a replayed file arrives in 1 ms slices, so a 500 ms
        window is ~500 chunks, and concatenating structured arrays promotes the dtype of every
        chunk field by field in Python (10× slower than this)."""
        with self._lock:
            chunks = list(self._chunks)
        if not chunks:
            return None
        if len(chunks) == 1:
            c = chunks[0]
            cols = [c["t"], c["x"], c["y"], c["p"]]
        else:
            cols = [np.concatenate([c[f] for c in chunks]) for f in ("t", "x", "y", "p")]
        if self.window_events is not None:
            i0 = max(cols[0].shape[0] - self.window_events, 0)
        else:
            t_end = self._window_end(cols[0])
            i0 = int(np.searchsorted(cols[0], t_end - self.window_us, side="left"))
        i0 = max(i0, cols[0].shape[0] - self.max_events)
        return tuple(c[i0:] for c in cols)

    def latest_events(self) -> np.ndarray | None:
        """The events of the current window (``None`` before any event)."""
        cols = self._columns()
        if cols is None:
            return None
        ev = np.empty(cols[0].shape[0], dtype=EVENT_DTYPE)
        for f, c in zip(("t", "x", "y", "p"), cols, strict=True):
            ev[f] = c
        return ev

    def snapshot(self, T: int = 1, pool: int = 1) -> DisplayWindow | None:
        """The current window: its accumulated ``[2, H, W]`` counts at sensor resolution and
        ``T`` equal-duration count frames sum-pooled by ``pool`` (``[T, 2, ⌈H/pool⌉,
        ⌈W/pool⌉]``, for the small per-bin tiles); ``None`` before any event."""
        if T < 1:
            raise ValueError(f"T must be ≥ 1, got {T}")
        if pool < 1:
            raise ValueError(f"pool must be ≥ 1, got {pool}")
        cols = self._columns()
        if cols is None:
            return None
        t, x, y, p = cols
        w, h = self.sensor_size
        if self.window_us is not None:
            t_end = self._window_end(t)
            t_start = t_end - self.window_us
        else:
            t_start, t_end = (int(t[0]), int(t[-1]) + 1) if t.size else (0, 1)
        # int32 indices (T·2·H·W < 2³¹ for any real sensor): half the memory traffic of int64
        idx_t = np.int64 if T * 2 * h * w >= 2**31 else np.int32
        xi = np.minimum(x, w - 1).astype(idx_t)
        yi = np.minimum(y, h - 1).astype(idx_t)
        flat = p.astype(idx_t) * h
        flat += yi
        flat *= w
        flat += xi
        acc = np.bincount(flat, minlength=2 * h * w).astype(np.int32).reshape(2, h, w)
        if T == 1 and pool == 1:
            frames = acc[None]
        else:
            hp, wp = -(-h // pool), -(-w // pool)
            dur = max(t_end - t_start, 1)
            b = ((t - t_start) * T // dur).astype(idx_t)
            np.clip(b, 0, T - 1, out=b)
            flat = b * 2
            flat += p
            flat *= hp
            flat += yi // pool
            flat *= wp
            flat += xi // pool
            frames = np.bincount(flat, minlength=T * 2 * hp * wp).astype(np.int32)
            frames = frames.reshape(T, 2, hp, wp)
        return DisplayWindow(frames, acc, t_start, t_end, int(t.shape[0]))
