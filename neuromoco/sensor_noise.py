"""Generated sensor noise: background activity and hot pixels, as a real DVS room produces them.

A DVS pixel fires now and then with no change in the scene (junction leakage, shot noise): the
*background activity*, about 0.1–1 Hz per pixel indoors, uniform over the array and independent
between pixels (a Poisson process per pixel). A few defective *hot pixels* fire all the time, tens
to hundreds of Hz each, whatever the scene. Both are made here, seeded, as structured events
(``neuromoco.types.EVENT_DTYPE``), to build pauses between real gestures and noisy rooms for the
continuous benchmark (``neuromoco.streaming.continuous_evaluation``) and tests.

Units: timestamps in µs, rates in Hz (events per second) per pixel.
"""

from __future__ import annotations

import numpy as np

from neuromoco.types import EVENT_DTYPE, SensorSize, concat_events


def _check(t0_us: int, t1_us: int, sensor_size: SensorSize, rate_hz: float) -> tuple[int, int]:
    if int(t1_us) < int(t0_us):
        raise ValueError(f"sensor noise: t1_us {t1_us} is before t0_us {t0_us}")
    if not rate_hz >= 0:
        raise ValueError(f"sensor noise: rate must be ≥ 0 Hz, got {rate_hz}")
    w, h = int(sensor_size[0]), int(sensor_size[1])
    if w <= 0 or h <= 0:
        raise ValueError(f"sensor noise: sensor_size must be positive, got {sensor_size}")
    return w, h


def background_activity(
    t0_us: int,
    t1_us: int,
    sensor_size: SensorSize,
    rate_hz: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Uncorrelated background events in ``[t0_us, t1_us)``: every pixel a Poisson process of
    ``rate_hz``, random polarity. Returns a sorted ``EVENT_DTYPE`` array."""
    w, h = _check(t0_us, t1_us, sensor_size, rate_hz)
    span = int(t1_us) - int(t0_us)
    n = int(rng.poisson(rate_hz * w * h * span * 1e-6)) if span and rate_hz else 0
    ev = np.empty(n, EVENT_DTYPE)
    ev["t"] = np.sort(rng.integers(int(t0_us), int(t1_us), n)) if n else 0
    ev["x"] = rng.integers(0, w, n)
    ev["y"] = rng.integers(0, h, n)
    ev["p"] = rng.integers(0, 2, n)
    return ev


def choose_hot_pixels(
    n: int, sensor_size: SensorSize, rng: np.random.Generator, margin: int = 2
) -> np.ndarray:
    """``n`` distinct pixels ``[n, 2]`` (x, y), at least ``margin`` pixels from the border and
    not touching each other (a hot pixel has normal neighbours, as on a real array)."""
    w, h = _check(0, 0, sensor_size, 0.0)
    if n < 0:
        raise ValueError(f"sensor noise: number of hot pixels must be ≥ 0, got {n}")
    out: list[tuple[int, int]] = []
    tries = 0
    while len(out) < n:
        tries += 1
        if tries > 10_000:
            raise ValueError(f"sensor noise: cannot place {n} hot pixels on a {w}x{h} sensor")
        x = int(rng.integers(margin, max(margin + 1, w - margin)))
        y = int(rng.integers(margin, max(margin + 1, h - margin)))
        if all(abs(x - a) > 1 or abs(y - b) > 1 for a, b in out):
            out.append((x, y))
    return np.array(out, dtype=np.int64).reshape(-1, 2)


def hot_pixel_events(
    pixels: np.ndarray,
    t0_us: int,
    t1_us: int,
    rate_hz: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Events of hot ``pixels`` (``[n, 2]`` x, y) in ``[t0_us, t1_us)``: each a Poisson process
    of ``rate_hz`` with one polarity of its own (a defective pixel's comparator sticks to one side).
    Returns a sorted ``EVENT_DTYPE`` array."""
    if not rate_hz >= 0:
        raise ValueError(f"sensor noise: rate must be ≥ 0 Hz, got {rate_hz}")
    span = int(t1_us) - int(t0_us)
    if span < 0:
        raise ValueError(f"sensor noise: t1_us {t1_us} is before t0_us {t0_us}")
    parts = []
    for x, y in np.asarray(pixels, dtype=np.int64).reshape(-1, 2):
        k = int(rng.poisson(rate_hz * span * 1e-6)) if span and rate_hz else 0
        ev = np.empty(k, EVENT_DTYPE)
        ev["t"] = rng.integers(int(t0_us), int(t1_us), k) if k else 0
        ev["x"], ev["y"] = x, y
        ev["p"] = int(rng.integers(0, 2))
        parts.append(ev)
    return merge_events(parts)


def merge_events(parts) -> np.ndarray:
    """One time-sorted array from several (stable: ties keep the order of ``parts``)."""
    from neuromoco.events import sort_events  # here: synth.stream imports this module, light

    return sort_events(concat_events([np.asarray(p, EVENT_DTYPE) for p in parts]))[0]


def add_room_noise(
    events: np.ndarray,
    sensor_size: SensorSize,
    t0_us: int,
    t1_us: int,
    rng: np.random.Generator,
    background_hz: float = 0.5,
    hot_pixels: int = 5,
    hot_hz: float = 200.0,
) -> np.ndarray:
    """``events`` plus a noisy room over ``[t0_us, t1_us)``: ``background_hz`` per pixel of
    background activity and ``hot_pixels`` hot pixels at ``hot_hz`` each (the issue-K protocol:
    0.5 Hz/pixel, 5 hot pixels at 200 Hz). Returns a new sorted array."""
    bg = background_activity(t0_us, t1_us, sensor_size, background_hz, rng)
    hot = hot_pixel_events(
        choose_hot_pixels(hot_pixels, sensor_size, rng), t0_us, t1_us, hot_hz, rng
    )
    return merge_events([events, bg, hot])
