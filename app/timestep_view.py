"""Per-time-step probabilities of the latest window (heatmap) and a scrolling confidence trace."""

from __future__ import annotations

from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from neuromoco.app.style import BACKGROUND, DIM_TEXT, cache_axes, class_colors, fit_left_axis


class TimestepView(QtWidgets.QWidget):
    """Left: the ``[T, C]`` per-step probabilities of the latest prediction as a heatmap (time
    step on x, one row per class), the top class's row outlined and its per-step probability
    drawn as a curve. Right: the confidence of each prediction over stream time (the last
    ``trace_s`` seconds), each point in the colour of its predicted class; in stream mode this is
    one point per time bin.
    """

    def __init__(self, parent=None, trace_s: float = 20.0):
        super().__init__(parent)
        self.heat_plot = pg.PlotWidget(background=BACKGROUND, title="per-time-step probability")
        self.heat_plot.setMouseEnabled(False, False)
        self.heat_plot.hideButtons()
        self.heat_plot.getViewBox().invertY(True)
        self.heat_plot.getAxis("bottom").setLabel("time step (oldest → newest)")
        self.heat = pg.ImageItem(axisOrder="row-major")
        self.heat_plot.addItem(self.heat)
        # fixed 0..1 scale (probabilities), shown as a colour bar beside the heatmap
        self.colorbar = pg.ColorBarItem(
            values=(0.0, 1.0), colorMap=pg.colormap.get("viridis"), interactive=False,
            width=12, colorMapMenu=False,
        )  # fmt: skip
        self.colorbar.setImageItem(self.heat, insert_in=self.heat_plot.getPlotItem())
        self.top_box = pg.PlotCurveItem(pen=pg.mkPen("w", width=2))
        self.heat_plot.addItem(self.top_box)
        self.top_curve = pg.PlotCurveItem(pen=pg.mkPen((255, 255, 255), width=2))
        self.heat_plot.addItem(self.top_curve)
        # the step where an early decision was reached (--early-threshold), hidden otherwise
        self.decision_line = pg.InfiniteLine(
            angle=90, pen=pg.mkPen((255, 255, 255), width=2, style=QtCore.Qt.PenStyle.DashLine)
        )
        self.decision_line.setVisible(False)
        self.heat_plot.addItem(self.decision_line)

        self.trace_plot = pg.PlotWidget(background=BACKGROUND, title="confidence over time")
        self.trace_plot.setMouseEnabled(False, False)
        self.trace_plot.hideButtons()
        self.trace_plot.setYRange(0, 1.02, padding=0)
        self.trace_plot.getAxis("bottom").setLabel("stream time (s)")
        self.trace_plot.showGrid(x=True, y=True, alpha=0.2)
        self.trace_line = pg.PlotCurveItem(pen=pg.mkPen(DIM_TEXT, width=1))
        self.trace_pts = pg.ScatterPlotItem(size=6, pen=None)
        self.trace_plot.addItem(self.trace_line)
        self.trace_plot.addItem(self.trace_pts)

        cache_axes(self.heat_plot.getPlotItem())
        cache_axes(self.trace_plot.getPlotItem())
        self._heat_shape: tuple[int, int] | None = None

        lay = QtWidgets.QHBoxLayout(self)
        lay.setContentsMargins(0, 0, 0, 0)
        lay.addWidget(self.heat_plot, 1)
        lay.addWidget(self.trace_plot, 1)

        self.trace_s = float(trace_s)
        self._trace: deque[tuple[float, float, int]] = deque(maxlen=4096)
        self.names: list[str] = []
        self.colors = class_colors(0)
        self._brushes: list = []
        self.updates = 0
        self.mode = "window"

    def set_classes(self, names: list[str], T: int | None = None) -> None:
        """Class names (one heatmap row each) and, when known, the steps per window ``T``."""
        self.names = list(names)
        self.colors = class_colors(len(names))
        self._brushes = [pg.mkBrush(*(int(v) for v in c)) for c in self.colors]
        self.heat_plot.getAxis("left").setTicks([[(i + 0.5, n) for i, n in enumerate(names)]])
        fit_left_axis(self.heat_plot.getPlotItem(), self.names)
        self._trace.clear()
        self.heat.clear()
        self.top_box.setData([], [])
        self.top_curve.setData([], [])
        self.trace_line.setData([], [])
        self.trace_pts.setData([], [])
        self.heat_plot.setRange(xRange=(0, T or 1), yRange=(0, max(len(names), 1)), padding=0)
        self._heat_shape = None
        self.trace_plot.setXRange(0, self.trace_s, padding=0)

    def set_mode(self, mode: str) -> None:
        """``"window"`` or ``"stream"`` (only changes the trace title)."""
        self.mode = mode
        what = "per time bin" if mode == "stream" else "per window"
        self.trace_plot.setTitle(f"confidence over time ({what})")

    def add_prediction(
        self,
        t_us: int,
        probs_per_step: np.ndarray,
        probs: np.ndarray,
        draw: bool = True,
        decision_step: int | None = None,
    ) -> None:
        """``probs_per_step`` ``[T, C]``, ``probs`` ``[C]`` (aggregated), ``t_us`` stream time µs.
        ``draw=False`` only extends the trace (several predictions within one display frame).
        ``decision_step``: row of ``probs_per_step`` where an early decision was reached
        (drawn as a dashed line)."""
        pps = np.asarray(probs_per_step, dtype=np.float32)
        if pps.ndim == 1:
            pps = pps[None]
        T, C = pps.shape
        if C != len(self.names):
            self.set_classes([f"class {i}" for i in range(C)])
        top = int(np.argmax(probs))
        t_now = t_us / 1e6
        self._trace.append((t_now, float(probs[top]), top))
        while self._trace and self._trace[0][0] < t_now - self.trace_s:
            self._trace.popleft()
        if not draw:
            return
        self.heat.setImage(pps.T, autoLevels=False, levels=(0.0, 1.0))  # rows = classes
        if self._heat_shape != (T, C):  # re-ranging repaints the axes: only on a change
            self._heat_shape = (T, C)
            self.heat_plot.setRange(xRange=(0, T), yRange=(0, C), padding=0)
        # Outline the top class's row; overlay its per-step probability inside that row.
        self.top_box.setData([0, T, T, 0, 0], [top, top, top + 1, top + 1, top])
        xs = np.arange(T) + 0.5
        self.top_curve.setData(xs, top + 1 - pps[:, top])
        r, g, b = (int(v) for v in self.colors[top])
        self.top_curve.setPen(pg.mkPen((r, g, b), width=3))
        if decision_step is not None and 0 <= decision_step < T:
            self.decision_line.setValue(decision_step + 1)  # at the end of the deciding step
            self.decision_line.setVisible(True)
        else:
            self.decision_line.setVisible(False)

        ts = np.fromiter((p[0] for p in self._trace), float, len(self._trace))
        cs = np.fromiter((p[1] for p in self._trace), float, len(self._trace))
        ks = np.fromiter((p[2] for p in self._trace), int, len(self._trace))
        self.trace_line.setData(ts, cs)
        brushes = [self._brushes[k] for k in ks]
        self.trace_pts.setData(ts, cs, brush=brushes)
        self.trace_plot.setXRange(max(t_now - self.trace_s, ts[0]), max(t_now, ts[0] + 1e-3))
        self.updates += 1
