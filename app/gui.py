"""The GUI entry point of ``neuromoco-app``: a QApplication around :class:`MainWindow`.

Called by :func:`neuromoco.app.main.main` when a window can be opened; ``--screenshot OUT.png
--quit-after SECONDS`` runs the window unattended (documentation, tests, CI).
"""

from __future__ import annotations

import os
import signal
import sys

from neuromoco.app import PROG

_QUIET = ("This plugin does not support propagateSizeHints()",)
"""Qt warnings of the offscreen platform that say nothing to a user."""


def _qt_messages(mode, context, message: str) -> None:
    if message in _QUIET:
        return
    print(f"{PROG}: Qt: {message}", file=sys.stderr)


def run_gui(args) -> int:
    """Open the window on the source of the parsed ``neuromoco-app`` ``args`` and run the event
    loop until the window closes (or ``--quit-after`` / ``--max-seconds`` elapse).

    Returns 0, or 1 when an error was on screen at an unattended quit (``--quit-after``), so a
    script notices a bad file or model; the screenshot is written either way.
    """
    # OpenCV logs a WARN line per failed webcam probe; the window shows the error already
    os.environ.setdefault("OPENCV_LOG_LEVEL", "ERROR")
    from PySide6 import QtCore, QtWidgets

    from neuromoco.app.engine_adapter import EngineAdapter, SourceSpec
    from neuromoco.app.window import MainWindow

    try:  # lower per-step latency of small networks (see neuromoco.malloc_tuning)
        from neuromoco.malloc_tuning import tune_malloc_for_streaming

        tune_malloc_for_streaming()
    except ImportError:
        pass

    QtCore.qInstallMessageHandler(_qt_messages)
    app = QtWidgets.QApplication.instance() or QtWidgets.QApplication([sys.argv[0]])
    app.setApplicationName(PROG)
    adapter = EngineAdapter.from_args(args)
    speed = getattr(args, "speed", 1.0)
    window = MainWindow(
        adapter,
        model=getattr(args, "model", None),
        mode=getattr(args, "mode", "window"),
        speed=None if speed == 0 else speed,
        backend=getattr(args, "backend", None),
        record=getattr(args, "record", None),
        record_format=getattr(args, "record_format", None),
    )
    window.show()
    kind = getattr(args, "source_kind", "demo")
    window.open_source(SourceSpec(kind, getattr(args, "source_value", None)))

    screenshot = getattr(args, "screenshot", None)
    quit_after = getattr(args, "quit_after", None)
    max_seconds = getattr(args, "max_seconds", None)
    if quit_after is None or (max_seconds is not None and max_seconds < quit_after):
        quit_after = max_seconds
    result = {"rc": 0, "shot": False}

    def take_shot() -> None:
        if screenshot and not result["shot"]:
            result["shot"] = True
            window.save_screenshot(screenshot)

    def finish() -> None:
        take_shot()
        if quit_after is not None and window.status.last_error:
            print(f"{PROG}: error: {window.status.last_error}", file=sys.stderr)
            result["rc"] = 1
        window.close()

    if quit_after is not None:
        QtCore.QTimer.singleShot(int(quit_after * 1000), finish)
    if screenshot:
        window.about_to_close = take_shot  # without --quit-after: when the user closes

    # Ctrl-C in the terminal: Qt's loop does not run Python signal handlers by itself, so a
    # timer hands control back to Python every 200 ms.
    # The handler may run in the middle of a redraw: close from the event loop, not from there.
    signal.signal(signal.SIGINT, lambda *_: QtCore.QTimer.singleShot(0, window.close))
    tick = QtCore.QTimer()
    tick.start(200)
    tick.timeout.connect(lambda: None)

    app.exec()
    tick.stop()
    window.shutdown()
    window.deleteLater()
    app.processEvents()
    signal.signal(signal.SIGINT, signal.default_int_handler)
    return result["rc"]
