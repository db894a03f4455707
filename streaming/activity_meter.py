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

import numpy as np


class ActivityMeter:
    """Supported events per second in the ``top`` busiest ``block``-pixel blocks over the
    ``span_us`` before a given time, on a grid of ``bin_us`` time bins.

    Feed it the supported events in stream order (:meth:`add`) and ask :meth:`rate_hz` for ticks
    in non-decreasing order. A query at ``t`` counts the events of the ``span_us / bin_us`` whole
    bins before the bin that holds ``t`` (bin ``k`` = ``[k·bin_us, (k+1)·bin_us)``): the span is
    exact to one bin (10 ms of 500 by default), and each chunk costs one ``bincount``, each query
    a sum of ``span_us / bin_us`` small rows — about 2 % of a core at 1 M ev/s in 1 ms slices
    (docs/benchmarks.md). Memory: one row of per-block counts per bin of the span and per bin of
    a chunk that reaches beyond the tick asked for.

    Args:
        sensor_size: ``(width, height)`` pixels.
        span_us: how far back a query looks (µs, a multiple of ``bin_us``).
        block: block side (pixels).
        top: how many of the busiest blocks count.
        bin_us: time resolution (µs).
    """

    def __init__(
        self, sensor_size, span_us: int = 500_000, block: int = 32, top: int = 2,
        bin_us: int = 10_000,
    ):  # fmt: skip
        if int(span_us) <= 0 or int(bin_us) <= 0 or int(span_us) % int(bin_us):
            raise ValueError(
                f"activity span must be a positive multiple of the bin ({bin_us} µs), "
                f"got {span_us} µs"
            )
        if int(block) <= 0 or int(top) <= 0:
            raise ValueError(f"activity block and top must be positive, got {block}, {top}")
        self.span_us = int(span_us)
        self.bin_us = int(bin_us)
        self.block = int(block)
        self.top = int(top)
        self._bw = -(-int(sensor_size[0]) // self.block)
        self._nb = self._bw * -(-int(sensor_size[1]) // self.block)
        self._rows: dict[int, np.ndarray] = {}

    def reset(self) -> None:
        self._rows.clear()

    def add(self, events: np.ndarray) -> None:
        """The newest supported events (sorted by ``t``)."""
        n = events.shape[0]
        if n == 0:
            return
        k = events["t"] // self.bin_us
        k0 = int(k[0])
        nbins = int(k[-1]) - k0 + 1
        b = (events["y"] // self.block).astype(np.int64) * self._bw + events["x"] // self.block
        grid = np.bincount((k - k0) * self._nb + b, minlength=nbins * self._nb)
        grid = grid.reshape(nbins, self._nb)
        for i in np.flatnonzero(grid.any(axis=1)):
            row = self._rows.get(k0 + int(i))
            if row is None:
                self._rows[k0 + int(i)] = grid[i].copy()
            else:
                row += grid[i]

    def counts(self, t_us: int) -> np.ndarray:
        """Supported events per block in the span before ``t_us`` (see the class docstring)."""
        hi = int(t_us) // self.bin_us
        lo = hi - self.span_us // self.bin_us
        for k in [k for k in self._rows if k < lo]:
            del self._rows[k]  # before every later query too
        out = np.zeros(self._nb, np.int64)
        for k, row in self._rows.items():
            if k < hi:
                out += row
        return out

    def rate_hz(self, t_us: int) -> float:
        """Supported events per second in the ``top`` busiest blocks before ``t_us``."""
        c = self.counts(t_us)
        k = min(self.top, c.shape[0])
        busiest = np.partition(c, c.shape[0] - k)[-k:].sum()
        return float(busiest) * 1e6 / self.span_us
