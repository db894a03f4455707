"""Peer implementations used by the cross-check tests and the benchmarks (never at run time);
they live with the tests, since tests never import ``bench``.

spikingjelly 2.0's ``spikingjelly.datasets`` package imports torchvision and torchaudio on import,
which this project deliberately does not install (see pyproject.toml). Its framing code lives in
``spikingjelly/datasets/utils.py`` and needs torchvision only for an unused ``transforms`` import,
so :func:`spikingjelly_utils` loads that one file with a placeholder ``torchvision`` module and a
bare parent package, restoring ``sys.modules`` afterwards. The functions run unchanged.
"""

from __future__ import annotations

import importlib.util
import sys
import types
from functools import cache

import numpy as np


@cache
def spikingjelly_utils() -> types.ModuleType:
    """spikingjelly's ``datasets/utils.py`` module (integrate_events_* functions)."""
    import spikingjelly

    path = spikingjelly.__path__[0] + "/datasets/utils.py"
    saved = {k: sys.modules.get(k) for k in ("torchvision", "spikingjelly.datasets")}
    tv = types.ModuleType("torchvision")
    tv.transforms = types.ModuleType("torchvision.transforms")
    pkg = types.ModuleType("spikingjelly.datasets")
    pkg.__path__ = [spikingjelly.__path__[0] + "/datasets"]
    try:
        if saved["torchvision"] is None:
            sys.modules["torchvision"] = tv
        sys.modules["spikingjelly.datasets"] = pkg
        spec = importlib.util.spec_from_file_location("spikingjelly.datasets.utils", path)
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod
    finally:
        for k, v in saved.items():
            if v is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = v
        sys.modules.pop("spikingjelly.datasets.utils", None)


def sj_frames_by_number(events, T: int, sensor_size) -> np.ndarray:
    """spikingjelly's ``integrate_events_by_fixed_frames_number(split_by='number')`` on our events."""
    w, h = sensor_size
    d = {k: events[k] for k in ("t", "x", "y", "p")}
    return spikingjelly_utils().integrate_events_by_fixed_frames_number(d, "number", T, h, w)
