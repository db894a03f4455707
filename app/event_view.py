"""The event view: the current window accumulated (ON/OFF in two colours) and a per-bin strip."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtWidgets

from neuromoco.app.event_tap import DisplayWindow
from neuromoco.app.style import BACKGROUND, DIM_TEXT, OFF_RGB, ON_RGB


def robust_scale(counts: np.ndarray) -> float:
    """The 99th percentile of the non-zero counts (≥ 1): one hot pixel does not wash out the
    image, and single events stay visible."""
    nz = counts[counts > 0]
    if nz.size == 0:
        return 1.0
    k = int(0.99 * (nz.size - 1))
    return max(float(np.partition(nz, k)[k]), 1.0)


def polarity_rgb(counts: np.ndarray, scale: float | None = None) -> np.ndarray:
    """``[2, H, W]`` counts (OFF, ON) → ``[H, W, 3]`` uint8 image on the dark background.

    Each polarity adds its colour with weight ``sqrt(min(count / scale, 1))`` (the square root
    keeps single events visible next to busy pixels). ``scale`` defaults to
    :func:`robust_scale` of the counts.
    """
    if counts.ndim != 3 or counts.shape[0] != 2:
        raise ValueError(f"expected counts of shape [2, H, W], got {counts.shape}")
    scale = robust_scale(counts) if scale is None else max(float(scale), 1.0)
    a = np.minimum(counts.astype(np.float32) * np.float32(1.0 / scale), np.float32(1.0))
    np.sqrt(a, out=a)
    bg = np.asarray(BACKGROUND, np.float32)
    off = np.asarray(OFF_RGB, np.float32) - bg
    on = np.asarray(ON_RGB, np.float32) - bg
    img = a[0, ..., None] * off
    img += a[1, ..., None] * on
    img += bg
    return np.clip(img, 0, 255, out=img).astype(np.uint8)


def strip_pool(width: int, max_tile: int = 64) -> int:
    """Sum-pooling factor that makes a ``width``-pixel sensor's per-bin tile ≤ ``max_tile`` px
    wide (tiles are small on screen; pooling while binning is far cheaper than drawing full
    resolution tiles)."""
    return max(1, -(-int(width) // max_tile))


def bin_strip(
    frames: np.ndarray, max_bins: int = 16, gap: int = 2, max_tile: int = 64
) -> np.ndarray:
    """``[T, 2, H, W]`` → one ``[H', T'·(W'+gap)−gap, 3]`` uint8 image of the bins side by side.

    One common scale for all bins, so the strip shows how activity moves through the window.
    With ``T > max_bins`` neighbouring bins are summed down to ``max_bins`` tiles; tiles wider
    than ``max_tile`` pixels are sum-pooled by ``f = ⌈W / max_tile⌉`` (``H' = ⌊H/f⌋``,
    ``W' = ⌊W/f⌋``).
    """
    T, _, h, w = frames.shape
    if T > max_bins:
        edges = np.linspace(0, T, max_bins + 1).astype(int)
        frames = np.add.reduceat(frames, edges[:-1], axis=0)
        T = max_bins
    f = -(-w // max_tile)  # tiles are small on screen: sum-pool f×f pixels (f = 1 up to 64 px)
    if f > 1:
        h, w = h // f, w // f
        frames = frames[..., : h * f, : w * f].reshape(T, 2, h, f, w, f).sum(axis=(3, 5))
    # lay the bins out side by side with gap columns, then colour the whole strip at once
    tiles = np.zeros((2, h, T, w + gap), frames.dtype)
    tiles[..., :w] = frames.transpose(1, 2, 0, 3)
    strip = polarity_rgb(tiles.reshape(2, h, T * (w + gap))[..., : T * (w + gap) - gap])
    for i in range(1, T):  # separators
        strip[:, i * (w + gap) - gap : i * (w + gap)] = (60, 60, 70)
    return strip


class EventView(QtWidgets.QWidget):
    """Draws a :class:`DisplayWindow`: the accumulated window on top, the bin strip below.

    ``set_window`` costs a few ms (two ``ImageItem.setImage`` calls), so it is called from the
    GUI timer at display rate, never per event chunk.
    """

    def __init__(self, parent=None, show_bins: bool = True):
        super().__init__(parent)
        self.glw = pg.GraphicsLayoutWidget()
        self.glw.setBackground(BACKGROUND)
        self.title = self.glw.addLabel(
            "events: waiting for the source…", color=DIM_TEXT, row=0, col=0
        )
        self.vb = self.glw.addViewBox(row=1, col=0, lockAspect=True, enableMouse=False)
        self.vb.invertY(True)  # image row 0 at the top, like the camera
        self.image = pg.ImageItem(axisOrder="row-major")
        self.vb.addItem(self.image)
        self.strip_vb = self.glw.addViewBox(row=2, col=0, lockAspect=True, enableMouse=False)
        self.strip_vb.invertY(True)
        self.strip = pg.ImageItem(axisOrder="row-major")
        self.strip_vb.addItem(self.strip)
        self.glw.ci.layout.setRowStretchFactor(1, 5)
        self.glw.ci.layout.setRowStretchFactor(2, 1)
        self.legend = QtWidgets.QLabel(
            f"<span style='color:rgb{ON_RGB}'>■ ON</span>&nbsp;&nbsp;"
            f"<span style='color:rgb{OFF_RGB}'>■ OFF</span>"
        )
        self.bins_box = QtWidgets.QCheckBox("per-bin strip")
        self.bins_box.setChecked(show_bins)
        self.bins_box.toggled.connect(self._toggle_bins)
        row = QtWidgets.QHBoxLayout()
        row.addWidget(self.legend)
        row.addStretch(1)
        row.addWidget(self.bins_box)
        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.glw, 1)
        lay.addLayout(row)
        self.updates = 0
        self._shape: tuple[int, int] | None = None
        self._strip_shape: tuple | None = None
        self._toggle_bins(show_bins)

    @property
    def show_bins(self) -> bool:
        return self.bins_box.isChecked()

    def _toggle_bins(self, on: bool) -> None:
        self.strip_vb.setVisible(on)
        self.glw.ci.layout.setRowStretchFactor(2, 1 if on else 0)
        self.glw.ci.layout.setRowMaximumHeight(2, 10_000 if on else 0)

    def set_window(self, win: DisplayWindow | None, source_name: str = "", t0_us: int = 0) -> None:
        """Draw ``win`` (``None``: keep the last image); times are shown relative to ``t0_us``."""
        if win is None:
            return
        self.image.setImage(polarity_rgb(win.accumulated), autoLevels=False, levels=(0, 255))
        h, w = win.accumulated.shape[1:]
        if self._shape != (h, w):
            self._shape = (h, w)
            self.vb.setRange(xRange=(0, w), yRange=(0, h), padding=0.01)
        if self.show_bins:
            strip = bin_strip(win.frames)
            self.strip.setImage(strip, autoLevels=False, levels=(0, 255))
            self.strip_vb.setRange(
                xRange=(0, strip.shape[1]), yRange=(0, strip.shape[0]), padding=0
            )
        dur_ms = (win.t_end - win.t_start) / 1000
        src = f"{source_name} · " if source_name else ""
        self.title.setText(
            f"{src}{w}×{h} · last {dur_ms:.0f} ms · {win.n_events:,} events · "
            f"t = {(win.t_end - t0_us) / 1e6:.2f} s",
            color=DIM_TEXT,
        )
        self.updates += 1
