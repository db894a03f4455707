"""The status bar: source, input rate, framing, model, latency, drops, display FPS, and messages."""

from __future__ import annotations

import html
from dataclasses import dataclass

from PySide6 import QtWidgets

from neuromoco.app.style import DIM_TEXT, ERROR_TEXT, TEXT

WARNING_TEXT = "#ffb347"


@dataclass(frozen=True)
class StatusInfo:
    """One refresh of the status fields (``None``: unknown, shown as "–")."""

    source: str | None = None
    events_per_s: float | None = None
    window: str | None = None
    """e.g. "500 ms, T=16, hop 33 ms"."""
    model: str | None = None
    """e.g. "lif_convnet4 · onnx · CPUExecutionProvider"."""
    latency_p50_ms: float | None = None
    latency_p99_ms: float | None = None
    dropped: int | None = None
    fps: float | None = None
    state: str | None = None
    """"running", "paused", "ended", "stopped"."""
    recording: str | None = None
    """While recording: e.g. "REC 1.2 M ev" (``None``: not recording, the field is hidden)."""
    recording_alert: bool = False
    """The recorder is behind or has dropped events: the field is drawn as a warning."""


def _rate(v: float) -> str:
    if v >= 1e6:
        return f"{v / 1e6:.2f} Mev/s"
    if v >= 1e3:
        return f"{v / 1e3:.1f} kev/s"
    return f"{v:.0f} ev/s"


class StatusPanel(QtWidgets.QStatusBar):
    """Permanent fields on the right, the message area (info or error) on the left.

    Errors stay until the next :meth:`show_error`/:meth:`show_info`/:meth:`clear_message`; they are
    never modal, so tests and unattended runs are not blocked.
    """

    FIELDS = ("state", "rec", "source", "rate", "window", "model", "latency", "dropped", "fps")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.message = QtWidgets.QLabel("")
        self.message.setWordWrap(False)
        # the message takes what is left and never widens the window (long paths, errors)
        self.message.setSizePolicy(
            QtWidgets.QSizePolicy.Policy.Ignored, QtWidgets.QSizePolicy.Policy.Preferred
        )
        self.message.setMinimumWidth(80)
        self.addWidget(self.message, 1)
        self.labels: dict[str, QtWidgets.QLabel] = {}
        for name in self.FIELDS:
            lab = QtWidgets.QLabel("–")
            lab.setStyleSheet(f"color:{TEXT}; padding: 0 4px;")
            self.addPermanentWidget(lab)
            self.labels[name] = lab
        self.labels["rec"].hide()
        self.last_error: str | None = None
        self.last_warning: str | None = None

    def show_error(self, text: str) -> None:
        self.last_error = text
        self.message.setStyleSheet(f"color:{ERROR_TEXT}; font-weight:600;")
        self.message.setText(html.escape(text))
        self.message.setToolTip(text)

    def show_warning(self, text: str) -> None:
        """A problem that does not stop anything (a recording behind): amber, until replaced."""
        self.last_warning = text
        self.message.setStyleSheet(f"color:{WARNING_TEXT}; font-weight:600;")
        self.message.setText(html.escape(text))
        self.message.setToolTip(text)

    def show_info(self, text: str) -> None:
        self.message.setStyleSheet(f"color:{DIM_TEXT};")
        self.message.setText(html.escape(text))
        self.message.setToolTip(text)

    def clear_message(self) -> None:
        self.last_error = None
        self.message.setText("")

    def set_info(self, s: StatusInfo) -> None:
        dash = "–"
        lab = self.labels
        lab["state"].setText(s.state or dash)
        src = s.source or dash
        lab["source"].setText(src if len(src) <= 28 else src[:12] + "…" + src[-15:])
        lab["source"].setToolTip(src)
        lab["rate"].setText(_rate(s.events_per_s) if s.events_per_s is not None else dash)
        lab["window"].setText(s.window or dash)
        model = s.model or dash
        lab["model"].setText(model if len(model) <= 40 else model[:39] + "…")
        lab["model"].setToolTip(model)
        if s.latency_p50_ms is None:
            lab["latency"].setText("p50 – · p99 –")
        else:
            lab["latency"].setText(f"p50 {s.latency_p50_ms:.0f} ms · p99 {s.latency_p99_ms:.0f} ms")
        lab["dropped"].setText(f"dropped {s.dropped}" if s.dropped is not None else "dropped –")
        lab["fps"].setText(f"{s.fps:.0f} FPS" if s.fps is not None else "FPS –")
        rec = lab["rec"]
        rec.setVisible(s.recording is not None)
        rec.setText(f"● {s.recording}" if s.recording is not None else "")
        color = WARNING_TEXT if s.recording_alert else ERROR_TEXT  # red dot: recording
        rec.setStyleSheet(f"color:{color}; font-weight:600; padding: 0 4px;")
        if s.dropped:
            lab["dropped"].setStyleSheet(f"color:{ERROR_TEXT}; padding: 0 4px;")
        else:
            lab["dropped"].setStyleSheet(f"color:{TEXT}; padding: 0 4px;")

    def text(self) -> str:
        """All fields and the message as one plain string (for tests and logs)."""
        parts = [self.message.text()] + [self.labels[n].text() for n in self.FIELDS]
        return " | ".join(parts)
