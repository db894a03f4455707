"""Scene activity: how many *supported* events per second the busiest part of the sensor carried
just before a tick.

"Supported" means the events left by the one neighbour filter (:class:`neuromoco.denoise.Denoiser`,
10 ms) after the hot-pixel filter: a moving hand makes events whose neighbours fire too;
background activity and hot pixels are isolated and mostly removed. "Busiest part" means the
``top`` busiest blocks of ``block`` × ``block`` pixels: what survives of background activity is
spread evenly over the array, while a gesture is concentrated where the hand moves, so counting
only the busiest blocks separates the two about twice as well as counting the whole array
(measured in docs/results.md, "Live in a room"). The no-gesture gate
(:mod:`neuromoco.streaming.gesture_gate`) reads this figure.
"""

from __future__ import annotations

from collections import deque

import numpy as np


class ActivityMeter:
    """Supported events per second in the ``top`` busiest ``block``-pixel blocks over the
    ``span_us`` before a given time.

    Feed it the supported events in stream order (:meth:`add`) and ask :meth:`rate_hz` for ticks
    in non-decreasing order. Memory: the events of the last ``span_us`` plus those of one chunk
    beyond the tick asked for (timestamps and block numbers only).

    Args:
        sensor_size: ``(width, height)`` pixels.
        span_us: how far back a query looks (µs).
        block: block side (pixels).
        top: how many of the busiest blocks count.
    """

    def __init__(self, sensor_size, span_us: int = 500_000, block: int = 32, top: int = 2):
        if int(span_us) <= 0:
            raise ValueError(f"activity span must be positive, got {span_us} µs")
        if int(block) <= 0 or int(top) <= 0:
            raise ValueError(f"activity block and top must be positive, got {block}, {top}")
        self.span_us = int(span_us)
        self.block = int(block)
        self.top = int(top)
        self._bw = -(-int(sensor_size[0]) // self.block)
        self._nb = self._bw * -(-int(sensor_size[1]) // self.block)
        self._chunks: deque[tuple[np.ndarray, np.ndarray]] = deque()

    def reset(self) -> None:
        self._chunks.clear()

    def add(self, events: np.ndarray) -> None:
        """The newest supported events (sorted by ``t``)."""
        if events.shape[0]:
            t = np.ascontiguousarray(events["t"], dtype=np.int64)
            b = (events["y"] // self.block).astype(np.int32) * self._bw + events["x"] // self.block
            self._chunks.append((t, b.astype(np.int32)))

    def counts(self, t_us: int) -> np.ndarray:
        """Supported events per block in ``[t_us − span_us, t_us)``."""
        lo = int(t_us) - self.span_us
        while self._chunks and int(self._chunks[0][0][-1]) < lo:
            self._chunks.popleft()  # wholly before every later query too
        out = np.zeros(self._nb, np.int64)
        for t, b in self._chunks:
            if int(t[0]) >= t_us:
                break
            i, j = np.searchsorted(t, [lo, t_us], "left")
            if j > i:
                out += np.bincount(b[i:j], minlength=self._nb)
        return out

    def rate_hz(self, t_us: int) -> float:
        """Supported events per second in the ``top`` busiest blocks before ``t_us``."""
        c = self.counts(t_us)
        k = min(self.top, c.shape[0])
        busiest = np.partition(c, c.shape[0] - k)[-k:].sum()
        return float(busiest) * 1e6 / self.span_us
