"""The sensor size of a file that does not store one: the two rules every reader shares.

* **From a camera name** (:func:`camera_size`): headers that name the camera (AEDAT 2.0's
  ``# AEChip``, AEDAT 3.1's ``#Source``, Prophesee's ``plugin_name``) are matched against the
  format's known cameras (``Format.cameras`` in :mod:`neuromoco.formats.registry`): the first
  name fragment found in the camera name gives the size.
* **From the events** (:func:`infer_sensor_size`): files that name no camera and store no size
  (CSV/TXT text, spikingjelly's ``.npz``) take the smallest known sensor that holds every event,
  in the order of :data:`KNOWN_SENSOR_SIZES`; events beyond all of them give
  ``(max x + 1, max y + 1)``, the smallest sensor that holds them. A file without events gets
  the first (128×128). Readers mark such a size with ``extra["sensor_size_inferred"]``; pass
  ``sensor_size=`` to be sure (a file whose events happen to stay in a corner is not told apart).

ATIS ``.bin`` keeps its own data-set rule (34×34 N-MNIST, else 240×180 N-Caltech101, see
:mod:`neuromoco.formats.atis_bin`): its files come from those two data sets only.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from neuromoco.types import SensorSize

KNOWN_SENSOR_SIZES: tuple[SensorSize, ...] = (
    (128, 128),  # DVS128 (DVS128 Gesture, CIFAR10-DVS)
    (240, 180),  # DAVIS240 (N-Caltech101 is 240×180 too)
    (346, 260),  # DAVIS346
    (640, 480),  # VGA: Prophesee Gen3, DVXplorer
    (1280, 720),  # HD: Prophesee Gen4 / IMX636
)
"""(width, height) pixels, smallest first: the sizes :func:`infer_sensor_size` tries."""


def infer_sensor_size(max_x: int, max_y: int) -> SensorSize:
    """The smallest of :data:`KNOWN_SENSOR_SIZES` holding pixels up to (``max_x``, ``max_y``),
    else ``(max_x + 1, max_y + 1)``. ``-1`` for both (no events) gives 128×128."""
    for w, h in KNOWN_SENSOR_SIZES:
        if max_x < w and max_y < h:
            return w, h
    return max_x + 1, max_y + 1


def extent(chunks: Iterable[np.ndarray]) -> tuple[int, int, int]:
    """``(n_events, max_x, max_y)`` over chunks of events (``EVENT_DTYPE``; pixels), with
    ``max_x = max_y = -1`` when there are none. One pass, one chunk in memory at a time."""
    n = 0
    max_x = max_y = -1
    for ev in chunks:
        if ev.size:
            n += ev.shape[0]
            max_x = max(max_x, int(ev["x"].max()))
            max_y = max(max_y, int(ev["y"].max()))
    return n, max_x, max_y


def camera_size(name: str | None, cameras: Sequence[tuple[str, SensorSize]]) -> SensorSize | None:
    """The size of the first of ``cameras`` (lower-case name fragment, (width, height)) whose
    fragment occurs in ``name`` (compared in lower case, spaces removed); None when none does
    or there is no name."""
    if not name:
        return None
    low = name.lower().replace(" ", "")
    for key, size in cameras:
        if key in low:
            return size
    return None
