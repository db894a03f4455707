"""The event view: the current window accumulated (ON/OFF in two colours) and a per-bin strip."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PySide6 import QtWidgets

from neuromoco.app.event_tap import DisplayWindow
from neuromoco.app.style import BACKGROUND, DIM_TEXT, OFF_RGB, ON_RGB


def polarity_rgb(counts: np.ndarray, scale: float | None = None) -> np.ndarray:
    """``[2, H, W]`` counts (OFF, ON) → ``[H, W, 3]`` uint8 image on the dark background.

    Each polarity adds its colour with weight ``sqrt(min(count / scale, 1))`` (the square root
    keeps single events visible next to busy pixels). ``scale`` defaults to the 99th percentile of
    the non-zero counts, so one hot pixel does not wash the image out.
    """
    if counts.ndim != 3 or counts.shape[0] != 2:
        raise ValueError(f"expected counts of shape [2, H, W], got {counts.shape}")
    c = counts.astype(np.float32)
    if scale is None:
        nz = c[c > 0]
        scale = float(np.percentile(nz, 99)) if nz.size else 1.0
    scale = max(float(scale), 1.0)
    a = np.sqrt(np.minimum(c / scale, 1.0))  # [2, H, W] in [0, 1]
    bg = np.asarray(BACKGROUND, np.float32)
    off = np.asarray(OFF_RGB, np.float32) - bg
    on = np.asarray(ON_RGB, np.float32) - bg
    img = bg + a[0, ..., None] * off + a[1, ..., None] * on
    return np.clip(img, 0, 255).astype(np.uint8)


def bin_strip(frames: np.ndarray, max_bins: int = 16, gap: int = 2) -> np.ndarray:
    """``[T, 2, H, W]`` → one ``[H, T'·(W+gap)−gap, 3]`` uint8 image of the bins side by side.

    One common scale for all bins, so the strip shows how activity moves through the window.
    With ``T > max_bins`` neighbouring bins are summed down to ``max_bins`` tiles.
    """
    T = frames.shape[0]
    if T > max_bins:
        edges = np.linspace(0, T, max_bins + 1).astype(int)
        frames = np.stack([frames[a:b].sum(0) for a, b in zip(edges[:-1], edges[1:], strict=True)])
        T = max_bins
    nz = frames[frames > 0]
    scale = float(np.percentile(nz, 99)) if nz.size else 1.0
    tiles = [polarity_rgb(f, scale) for f in frames]
    h, w = tiles[0].shape[:2]
    out = np.zeros((h, T * (w + gap) - gap, 3), np.uint8)
    out[:] = (60, 60, 70)
    for i, tile in enumerate(tiles):
        out[:, i * (w + gap) : i * (w + gap) + w] = tile
    return out


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
        h, w = win.frames.shape[2:]
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
