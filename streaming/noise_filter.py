"""Background-activity noise filter (vectorised numpy), for live streams; off by default."""

from __future__ import annotations

import numpy as np

from neuromoco.events import SensorSize

_NEVER = np.iinfo(np.int64).min // 2


class BackgroundActivityFilter:
    """Drop events with no support: an event passes iff one of its 8 neighbouring pixels (any
    polarity, the pixel itself excluded) had an event at most ``dt_us`` µs earlier. Every event,
    passed or not, updates its pixel's last timestamp (the usual BAF rule, as in dv-processing's
    ``BackgroundActivityNoiseFilter``).

    Stateful across chunks (call in stream order). Vectorised per chunk: the latest earlier event
    of each neighbour inside the chunk is found by one sort on ``(pixel, index)`` and one
    ``searchsorted`` per neighbour offset, so the result equals a per-event loop exactly.

    Args:
        sensor_size: ``(width, height)`` pixels.
        dt_us: support window in µs.
    """

    def __init__(self, sensor_size: SensorSize, dt_us: int = 2000):
        if int(dt_us) <= 0:
            raise ValueError(f"dt_us must be positive, got {dt_us}")
        self.sensor_size = (int(sensor_size[0]), int(sensor_size[1]))
        self.dt_us = int(dt_us)
        w, h = self.sensor_size
        self._pw = w + 2  # padded grid: border pixels never fire, so no bounds checks
        self._last = np.full((h + 2) * self._pw, _NEVER, dtype=np.int64)
        pw = self._pw
        self._offsets = np.array([-pw - 1, -pw, -pw + 1, -1, 1, pw - 1, pw, pw + 1], np.int64)
        self.n_in = 0
        self.n_out = 0

    def reset(self) -> None:
        self._last[:] = _NEVER

    def __call__(self, events: np.ndarray) -> np.ndarray:
        n = events.shape[0]
        if n == 0:
            return events
        t = events["t"].astype(np.int64, copy=False)
        pix = (events["y"].astype(np.int64) + 1) * self._pw + events["x"].astype(np.int64) + 1
        idx = np.arange(n, dtype=np.int64)
        keys = pix * n + idx
        order = np.argsort(keys, kind="stable")
        skeys = keys[order]
        support = np.full(n, _NEVER, dtype=np.int64)
        for d in self._offsets:
            q = pix + d
            # latest earlier event of pixel q inside the chunk
            pos = np.searchsorted(skeys, q * n + idx, side="left") - 1
            posc = np.maximum(pos, 0)
            hit = (pos >= 0) & (skeys[posc] // n == q)
            prev = np.where(hit, t[order[posc]], self._last[q])
            np.maximum(support, prev, out=support)
        keep = (t - support) <= self.dt_us
        # update per-pixel last timestamps with the chunk's latest event per pixel
        last_of_pixel = np.ones(n, dtype=bool)
        last_of_pixel[:-1] = (skeys[1:] // n) != (skeys[:-1] // n)
        sel = order[last_of_pixel]
        self._last[pix[sel]] = t[sel]
        self.n_in += n
        out = events[keep]
        self.n_out += out.shape[0]
        return out
