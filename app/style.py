"""Colours shared by every view, so a class has the same colour in bars, history, heatmap and trace."""

from __future__ import annotations

import numpy as np

BACKGROUND = (18, 18, 24)
"""Plot and event-view background (RGB)."""

ON_RGB = (255, 176, 40)
"""ON events (p=1, brightness increase): warm orange."""

OFF_RGB = (50, 150, 255)
"""OFF events (p=0, brightness decrease): blue."""

TEXT = "#e8e8ee"
DIM_TEXT = "#9a9aa8"
ERROR_TEXT = "#ff6b6b"
OK_TEXT = "#7ddc7d"

# A qualitative palette (Tableau 10 + 10 more, distinguishable on a dark background).
_PALETTE = np.array(
    [
        (78, 121, 167),
        (242, 142, 43),
        (225, 87, 89),
        (118, 183, 178),
        (89, 161, 79),
        (237, 201, 72),
        (176, 122, 161),
        (255, 157, 167),
        (156, 117, 95),
        (186, 176, 172),
        (31, 119, 180),
        (255, 127, 14),
        (44, 160, 44),
        (214, 39, 40),
        (148, 103, 189),
        (140, 86, 75),
        (227, 119, 194),
        (188, 189, 34),
        (23, 190, 207),
        (127, 127, 127),
    ],
    dtype=np.uint8,
)


def class_colors(n: int) -> np.ndarray:
    """``[n, 3]`` uint8 RGB colours, one per class (the palette repeats beyond 20 classes)."""
    if n <= 0:
        return np.zeros((0, 3), dtype=np.uint8)
    return _PALETTE[np.arange(n) % len(_PALETTE)]


def class_names_or_default(names, n: int) -> list[str]:
    """``names`` when it has ``n`` entries, else ``["class 0", ...]``."""
    if names is not None and len(names) == n:
        return [str(s) for s in names]
    return [f"class {i}" for i in range(n)]


def fit_left_axis(plot_item, labels: list[str]) -> None:
    """Make a plot's left axis wide enough for ``labels`` (pyqtgraph only widens an axis after
    a first paint that skips the labels which do not fit, so a fresh plot would show none)."""
    from PySide6 import QtGui

    axis = plot_item.getAxis("left")
    fm = QtGui.QFontMetrics(axis.style.get("tickFont") or QtGui.QFont())
    width = max((fm.horizontalAdvance(s) for s in labels), default=20)
    axis.setWidth(width + 16)


def cache_axes(plot_item) -> None:
    """Cache each axis as a pixmap: pyqtgraph otherwise replays the axis' text drawing on every
    repaint of its plot (2-4 ms per axis on the project machine, ~10 axes per frame); with the
    cache an unchanged axis is a blit and a changed one redraws once."""
    from PySide6 import QtWidgets

    mode = QtWidgets.QGraphicsItem.CacheMode.DeviceCoordinateCache
    for name in ("left", "bottom", "right", "top"):
        axis = plot_item.getAxis(name)
        if axis is not None:
            axis.setCacheMode(mode)
