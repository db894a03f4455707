"""The prediction panel: the shown gesture (or "no gesture"), a bar per class, a history strip."""

from __future__ import annotations

from collections import deque

import numpy as np
import pyqtgraph as pg
from PySide6 import QtCore, QtWidgets

from neuromoco.app.style import (
    BACKGROUND,
    DIM_TEXT,
    ERROR_TEXT,
    OK_TEXT,
    TEXT,
    cache_axes,
    class_colors,
    fit_left_axis,
)

NO_GESTURE = "no gesture"
"""What the big label says while the no-gesture gate decides that nothing is under way."""

_TOP = object()  # add_prediction(gesture=...) not given: show the top class


class PredictionView(QtWidgets.QWidget):
    """Shows the latest aggregated prediction and the last ``history`` ones.

    The big label is the gesture the app shows (``Prediction.gesture``): the class name with its
    confidence, or a plain, dim "no gesture" while nothing is under way; the bars always show the
    model's probabilities, and the history strip leaves no-gesture hops dark.

    Feed it with :meth:`set_classes` once per model and :meth:`add_prediction` per prediction
    (or only the newest ones when the GUI drains several per frame).
    """

    def __init__(self, parent=None, history: int = 120):
        super().__init__(parent)
        self.top_label = QtWidgets.QLabel("waiting for predictions…")
        self.top_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.top_label.setStyleSheet(f"color:{TEXT}; font-size: 22px; font-weight: 600;")
        self.truth_label = QtWidgets.QLabel("")
        self.truth_label.setTextFormat(QtCore.Qt.TextFormat.RichText)
        self.truth_label.setStyleSheet(f"color:{DIM_TEXT}; font-size: 13px;")

        self.bars_plot = pg.PlotWidget(background=BACKGROUND)
        self.bars_plot.setMouseEnabled(False, False)
        self.bars_plot.hideButtons()
        self.bars_plot.setXRange(0, 1, padding=0.02)
        self.bars_plot.getAxis("bottom").setLabel("probability")
        self.bars_plot.showGrid(x=True, y=False, alpha=0.2)
        self.bars_plot.getViewBox().invertY(True)  # class 0 at the top
        self.bars = pg.BarGraphItem(x0=[], y=[], height=0.75, width=[])
        self.bars_plot.addItem(self.bars)
        cache_axes(self.bars_plot.getPlotItem())

        self.hist_plot = pg.PlotWidget(background=BACKGROUND)
        self.hist_plot.setMouseEnabled(False, False)
        self.hist_plot.hideButtons()
        self.hist_plot.getViewBox().invertY(True)
        self.hist_plot.getAxis("bottom").setLabel("recent predictions (newest right)")
        self.hist_plot.getAxis("left").setTicks([[(0.5, "pred"), (1.5, "truth")]])
        self.hist_plot.setMaximumHeight(110)
        self.hist_img = pg.ImageItem(axisOrder="row-major")
        self.hist_plot.addItem(self.hist_img)
        cache_axes(self.hist_plot.getPlotItem())

        lay = QtWidgets.QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        lay.addWidget(self.top_label)
        lay.addWidget(self.truth_label)
        lay.addWidget(self.bars_plot, 1)
        lay.addWidget(self.hist_plot)

        self.history = int(history)
        self._hist: deque[tuple[int | None, float, int | None]] = deque(maxlen=self.history)
        self.names: list[str] = []
        self.colors = class_colors(0)
        self.updates = 0
        self._hist_rows = 0
        self.last_probs: np.ndarray | None = None
        self.shown: int | None = None
        """The class the big label shows (None: "no gesture")."""

    def set_classes(self, names: list[str]) -> None:
        """Set the class names (one bar each) and clear the history."""
        self.names = list(names)
        self.colors = class_colors(len(names))
        ticks = [(i, n) for i, n in enumerate(self.names)]
        self.bars_plot.getAxis("left").setTicks([ticks])
        fit_left_axis(self.bars_plot.getPlotItem(), self.names)
        self.bars_plot.setYRange(-0.6, len(names) - 0.4, padding=0)
        self._hist.clear()
        self.hist_img.clear()
        self.hist_plot.setRange(xRange=(0, self.history), yRange=(0, 2), padding=0)
        self._hist_rows = 0
        self.bars.setOpts(x0=[], y=[], width=[], height=0.75)
        self.last_probs = None
        self.top_label.setText("waiting for predictions…")
        self.truth_label.setText("")

    def add_prediction(
        self,
        probs: np.ndarray,
        truth: int | None = None,
        draw: bool = True,
        decision: int | None = None,
        gesture=_TOP,
    ) -> None:
        """Show a prediction: ``probs`` ``[C]`` aggregated class probabilities (sum ≈ 1);
        ``truth`` the true class index when the source knows it; ``decision`` the early
        decision's class, if one was reached; ``gesture`` the class the app shows, None for
        "no gesture" (default: the top class). ``draw=False`` only records it in the history
        (when several arrive within one display frame)."""
        probs = np.asarray(probs, dtype=np.float32).reshape(-1)
        C = probs.shape[0]
        if C != len(self.names):
            self.set_classes([f"class {i}" for i in range(C)])
        top = int(np.argmax(probs))
        shown = top if gesture is _TOP else gesture
        if shown is not None and not 0 <= int(shown) < C:
            shown = top
        conf = float(probs[shown]) if shown is not None else 0.0
        self.last_probs = probs
        self.shown = shown
        self._hist.append((shown, conf, truth))
        if not draw:
            return

        if shown is None:
            self.top_label.setText(
                f"<span style='color:{DIM_TEXT}; font-size:18px; font-weight:400'>"
                f"{NO_GESTURE}</span>"
            )
        else:
            r, g, b = (int(v) for v in self.colors[shown])
            color = f"#{r:02x}{g:02x}{b:02x}"
            self.top_label.setText(
                f"<span style='color:{color}'>■</span> {self.names[shown]} "
                f"<span style='color:{DIM_TEXT}; font-size:18px'>{100 * conf:.0f} %</span>"
            )
        lines = []
        if truth is not None:
            ok = truth == shown
            name = self.names[truth] if 0 <= truth < C else f"class {truth}"
            color, sign = (OK_TEXT, "✓") if ok else (ERROR_TEXT, "✗")
            lines.append(f"ground truth: {name} <span style='color:{color}'>{sign}</span>")
        if decision is not None and 0 <= decision < C:
            lines.append(f"early decision: {self.names[decision]}")
        self.truth_label.setText(" · ".join(lines))

        # Bars: every class dimmed, the shown gesture in full colour (none in a pause); the true
        # class outlined.
        brushes = []
        pens = []
        for i in range(C):
            r, g, b = (int(v) for v in self.colors[i])
            brushes.append(pg.mkBrush(r, g, b, 255 if i == shown else 110))
            pens.append(pg.mkPen("w", width=2) if truth == i else pg.mkPen(None))
        self.bars.setOpts(
            x0=np.zeros(C), y=np.arange(C), height=0.75, width=probs, brushes=brushes, pens=pens
        )
        self._draw_history()
        self.updates += 1

    def _draw_history(self) -> None:
        n = len(self._hist)
        img = np.zeros((2, self.history, 3), np.uint8)
        img[:] = BACKGROUND
        start = self.history - n
        for j, (shown, conf, truth) in enumerate(self._hist):
            # Brightness encodes confidence (floor 35 % so low-confidence guesses stay visible);
            # a no-gesture hop stays dark.
            if shown is not None:
                img[0, start + j] = (self.colors[shown] * (0.35 + 0.65 * conf)).astype(np.uint8)
            if truth is not None and 0 <= truth < len(self.colors):
                img[1, start + j] = self.colors[truth]
        # the truth row only when the source knows the ground truth (the demo)
        rows = 2 if any(t is not None for _, _, t in self._hist) else 1
        if rows != self._hist_rows:
            self._hist_rows = rows
            ticks = [(0.5, "pred"), (1.5, "truth")][:rows]
            self.hist_plot.getAxis("left").setTicks([ticks])
            self.hist_plot.setRange(xRange=(0, self.history), yRange=(0, rows), padding=0)
        self.hist_img.setImage(img[:rows], autoLevels=False, levels=(0, 255))
