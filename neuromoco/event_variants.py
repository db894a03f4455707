"""Variants of a recorded gesture, made on the events: off centre, farther away, slower or faster,
mirrored, time-reversed, in a noisy room. They measure whether a model keeps its decision when a
person stands elsewhere or moves differently than in its training data (docs/results.md).

Pure functions of a structured event array (``t`` µs, ``x``, ``y`` pixels, ``p``); each returns a
new sorted array and never moves an event off the sensor (events that would leave it are
dropped, as a real sensor would not see them).

Label changes: a mirror image of a DVS128 Gesture swaps the side and the turning sense
(``right_arm_clockwise`` ↔ ``left_arm_counter_clockwise``; right ↔ left hand wave); time reversal
swaps the turning sense only. :func:`variant_label` maps a class name accordingly.
"""

from __future__ import annotations

import numpy as np

from neuromoco.types import SensorSize


def _keep_inside(x: np.ndarray, y: np.ndarray, sensor_size: SensorSize) -> np.ndarray:
    w, h = int(sensor_size[0]), int(sensor_size[1])
    return (x >= 0) & (x < w) & (y >= 0) & (y < h)


def _with_xy(events: np.ndarray, x: np.ndarray, y: np.ndarray, sensor_size) -> np.ndarray:
    keep = _keep_inside(x, y, sensor_size)
    out = events[keep].copy()
    out["x"] = x[keep]
    out["y"] = y[keep]
    return out


def shift(events: np.ndarray, dx: int, dy: int, sensor_size: SensorSize) -> np.ndarray:
    """The scene moved by ``(dx, dy)`` pixels (a subject standing off centre)."""
    x = events["x"].astype(np.int64) + int(dx)
    y = events["y"].astype(np.int64) + int(dy)
    return _with_xy(events, x, y, sensor_size)


def zoom(
    events: np.ndarray,
    factor: float,
    sensor_size: SensorSize,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """The subject ``factor`` times its size (0.7: farther away), about the sensor's centre.

    A smaller subject also makes fewer events (its edges are shorter): with ``factor < 1`` each
    event is kept with probability ``factor`` (``rng``, default seed 0)."""
    if not factor > 0:
        raise ValueError(f"zoom factor must be positive, got {factor}")
    w, h = int(sensor_size[0]), int(sensor_size[1])
    cx, cy = (w - 1) / 2.0, (h - 1) / 2.0
    x = np.floor(cx + (events["x"] - cx) * factor + 0.5).astype(np.int64)
    y = np.floor(cy + (events["y"] - cy) * factor + 0.5).astype(np.int64)
    out = _with_xy(events, x, y, sensor_size)
    if factor < 1:
        rng = rng or np.random.default_rng(0)
        out = out[rng.random(out.shape[0]) < factor]
    return out


def time_scale(events: np.ndarray, factor: float) -> np.ndarray:
    """The gesture played ``factor`` times as long (1.5: slower, 1/1.5: faster), from its first
    event."""
    if not factor > 0:
        raise ValueError(f"time scale factor must be positive, got {factor}")
    out = events.copy()
    if out.shape[0]:
        t0 = int(out["t"][0])
        out["t"] = t0 + np.floor((out["t"] - t0) * float(factor)).astype(np.int64)
    return out


def time_reverse(events: np.ndarray) -> np.ndarray:
    """The gesture played backwards over the same span; polarity flips (a brightness increase
    seen backwards is a decrease)."""
    if events.shape[0] == 0:
        return events.copy()
    out = events[::-1].copy()
    t0, t1 = int(events["t"][0]), int(events["t"][-1])
    out["t"] = t0 + t1 - out["t"]
    out["p"] = 1 - out["p"]
    return out


def mirror(events: np.ndarray, sensor_size: SensorSize) -> np.ndarray:
    """Left and right swapped (``x → width − 1 − x``)."""
    out = events.copy()
    out["x"] = int(sensor_size[0]) - 1 - events["x"].astype(np.int64)
    return out


_SIDE = {"right": "left", "left": "right"}
_SENSE = {"clockwise": "counter_clockwise", "counter_clockwise": "clockwise"}


def variant_label(name: str, mirrored: bool = False, reversed_: bool = False) -> str:
    """The DVS128 Gesture class a mirrored and/or time-reversed ``name`` belongs to."""
    side, _, rest = name.partition("_")
    if mirrored and side in _SIDE:
        name, side = f"{_SIDE[side]}_{rest}", _SIDE[side]
    if mirrored != reversed_:  # each of the two turns the sense round; both restore it
        for sense, other in _SENSE.items():
            if name.endswith(f"_arm_{sense}"):
                return name[: -len(sense)] + other
    return name
