"""Neighbour denoise: tonic's ``Denoise(filter_time)``, vectorised, with state carried across chunks.

The rule, read from tonic 1.7.0's ``tonic/functional/denoise.py`` (``denoise_numpy``) — a Python
loop over the events in stream order, one timestamp per pixel::

    for each event (x, y, t):
        memory[x, y] = t + filter_time
        keep it iff memory[x−1, y] > t or memory[x+1, y] > t
                 or memory[x, y−1] > t or memory[x, y+1] > t

So an event is kept iff one of its **4** direct neighbours (left, right, up, down — not the 8 of
the usual background-activity filter, and not the pixel itself) had an event, of either polarity,
strictly less than ``filter_time`` µs before it (``t − t_neighbour < filter_time``). Every event,
kept or dropped, updates its pixel's memory, and events are processed in stream order, so of two
neighbours with the same timestamp the second is supported by the first but not the other way
round. Pixels outside the sensor never fire.

One quirk of tonic is dropped on purpose: tonic initialises every pixel's memory to
``filter_time`` (as if every pixel had fired at t = 0), so events with an absolute timestamp
``t < filter_time`` are never removed. Here a pixel that has not fired gives no support. The two
agree for every stream whose timestamps are ≥ ``filter_time`` µs (all recordings of the
DVS128 Gesture dataset and every live camera stream after its first 10 ms); for a stream starting
at 0, tonic keeps unsupported events of the first ``filter_time`` µs and this does not. (tonic
also sizes its pixel table from the largest x and y of the sample, which only matters through
that quirk.)

"Offline" denoise of a recording means: this rule applied to the recording from its first event
on; :func:`denoise` with a :class:`DenoiseState` carried from chunk to chunk gives exactly the
same events whatever the chunking (the streaming windower relies on it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from neuromoco.types import SensorSize

_NEVER = np.iinfo(np.int64).min // 2  # "never fired": t − _NEVER is huge, never < filter_us


@dataclass
class DenoiseState:
    """Last timestamp (µs) of every pixel so far, on a grid padded by one pixel on each side
    (border pixels never fire, so neighbour look-ups need no bounds checks).

    Attributes:
        sensor_size: ``(width, height)`` in pixels.
        last_t: int64 ``[(height + 2) · (width + 2)]``.
    """

    sensor_size: tuple[int, int]
    last_t: np.ndarray

    @classmethod
    def empty(cls, sensor_size: SensorSize) -> DenoiseState:
        """The state before the first event: no pixel has fired."""
        w, h = int(sensor_size[0]), int(sensor_size[1])
        if w <= 0 or h <= 0:
            raise ValueError(f"sensor_size must be positive (width, height), got {sensor_size}")
        return cls((w, h), np.full((h + 2) * (w + 2), _NEVER, dtype=np.int64))

    def copy(self) -> DenoiseState:
        return DenoiseState(self.sensor_size, self.last_t.copy())


def denoise(
    events: np.ndarray,
    filter_us: int,
    sensor_size: SensorSize,
    state: DenoiseState | None = None,
) -> tuple[np.ndarray, DenoiseState]:
    """Keep the events supported by a 4-neighbour event less than ``filter_us`` µs earlier.

    Args:
        events: structured events (fields ``t`` µs, ``x``, ``y``; any others are carried along),
            in stream order.
        filter_us: support window in µs (tonic's ``filter_time``), > 0.
        sensor_size: ``(width, height)`` of the event coordinates, in pixels.
        state: the state returned for the previous chunk of the same stream; None at its start.
            It is advanced in place (pass ``state.copy()`` to keep the old one).

    Returns:
        ``(kept_events, state)``: the kept events (a new array, same dtype and order) and the
        state to pass with the next chunk.

    Raises:
        ValueError: bad ``filter_us``, coordinates outside the sensor, or a state for another
            sensor size.
    """
    if int(filter_us) <= 0:
        raise ValueError(f"denoise: filter_us must be a positive number of µs, got {filter_us}")
    w, h = int(sensor_size[0]), int(sensor_size[1])
    if state is None:
        state = DenoiseState.empty((w, h))
    elif state.sensor_size != (w, h):
        raise ValueError(
            f"denoise: the state is for a {state.sensor_size} sensor, the events for {(w, h)}"
        )
    n = events.shape[0]
    if n == 0:
        return events[:0].copy(), state
    x = events["x"].astype(np.int64)
    y = events["y"].astype(np.int64)
    if int(x.min()) < 0 or int(y.min()) < 0 or int(x.max()) >= w or int(y.max()) >= h:
        raise ValueError(
            f"denoise: event coordinates outside the {w}x{h} sensor: "
            f"x in [{int(x.min())}, {int(x.max())}], y in [{int(y.min())}, {int(y.max())}]"
        )
    t = events["t"].astype(np.int64, copy=False)
    pw = w + 2
    pix = (y + 1) * pw + (x + 1)
    idx = np.arange(n, dtype=np.int64)
    # Sort by (pixel, stream index): the latest earlier event of pixel q before event i is the
    # entry just before (q, i) in this order, so one searchsorted per neighbour offset gives the
    # same answer as tonic's sequential loop, for any order of timestamps.
    keys = pix * n + idx
    order = np.argsort(keys, kind="stable")
    skeys = keys[order]
    spix = pix[order]
    st = t[order]
    # Work in sorted order: the queries (q, i) = key + d·n are then sorted too, and a
    # searchsorted of sorted needles is several times faster (cache-friendly) than of random ones.
    support = np.full(n, _NEVER, dtype=np.int64)
    last = state.last_t
    for d in (-1, 1, -pw, pw):
        pos = np.searchsorted(skeys, skeys + d * n, side="left") - 1
        posc = np.maximum(pos, 0)
        hit = (pos >= 0) & (spix[posc] == spix + d)
        prev = np.where(hit, st[posc], last[spix + d])
        np.maximum(support, prev, out=support)
    keep = np.empty(n, dtype=bool)
    keep[order] = (st - support) < int(filter_us)
    # each pixel's memory becomes its last event of this chunk (kept or not), as in tonic
    is_last = np.ones(n, dtype=bool)
    is_last[:-1] = spix[1:] != spix[:-1]
    last[spix[is_last]] = st[is_last]
    return events[keep], state


class Denoiser:
    """:func:`denoise` as a stateful filter for a stream: call it on each chunk in stream order.

    The one neighbour filter of the project: the framing (``FramingSpec.denoise_us``, offline and
    in the streaming windower) and the streaming engine's background-activity filter
    (``EngineConfig.noise_filter_us``, ``neuromoco-app --noise-filter-us``) both run this rule.

    Args:
        sensor_size: ``(width, height)`` of the events, in pixels.
        filter_us: support window in µs (> 0).

    Attributes:
        n_in, n_out: events seen and kept so far.
    """

    def __init__(self, sensor_size: SensorSize, filter_us: int):
        if int(filter_us) <= 0:
            raise ValueError(f"denoise: filter_us must be a positive number of µs, got {filter_us}")
        self.sensor_size = (int(sensor_size[0]), int(sensor_size[1]))
        self.filter_us = int(filter_us)
        self.state = DenoiseState.empty(self.sensor_size)
        self.n_in = 0
        self.n_out = 0

    def reset(self) -> None:
        """Forget every pixel's history (the next event has no support from before)."""
        self.state = DenoiseState.empty(self.sensor_size)

    def __call__(self, events: np.ndarray) -> np.ndarray:
        kept, self.state = denoise(events, self.filter_us, self.sensor_size, self.state)
        self.n_in += int(events.shape[0])
        self.n_out += int(kept.shape[0])
        return kept
