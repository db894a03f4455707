"""Qt app: display cost per frame and end-to-end behaviour of the window (offscreen Qt).

1. Display cost: GUI-thread CPU time per frame (event view + per-bin strip + prediction panel +
   per-step heatmap + trace, painting included) fed directly, 33 ms of a uniform random stream
   per frame, for a DVS128 window (128×128, 50 k events in the 400 ms window) and a DAVIS346
   window (346×260, 200 k events), with pyqtgraph's default axis painting (peer: the same
   views without the axis pixmap cache) and with the cache the app uses.
2. The window on the real DVS128 recordings of ../shared/testdata at 1× (window mode, a
   ``lif_convnet4`` 32×32 T=8 400 ms time-split model with random weights — the cost of the
   small model, not its accuracy): display FPS reached (target 30), GUI-thread CPU per frame
   (``MainWindow.draw``: pulling predictions, binning the tap, updating the items) and in total (painting
   included, as a share of one core), engine latency p50/p99, dropped windows, and the time
   ``close()`` takes (target < 1 s).

Figures are from a shared 2-core machine: compare within one run.
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO.parent / "shared" / "testdata"
DVS = [
    "aedat4/dvSave-2024_06_13_16_16_25.aedat4",
    "aedat4/dvSave-2024_06_20_16_13_00.aedat4",
]


def _app():
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PySide6 import QtWidgets

    return QtWidgets.QApplication.instance() or QtWidgets.QApplication([])


def _display_cost(app, sensor, n_events, frames, axis_cache: bool) -> tuple[float, float]:
    from neuromoco.app import prediction_view, timestep_view
    from neuromoco.app.event_tap import EventTap
    from neuromoco.app.event_view import EventView, strip_pool
    from neuromoco.events import make_events

    saved = prediction_view.cache_axes, timestep_view.cache_axes
    if not axis_cache:
        prediction_view.cache_axes = timestep_view.cache_axes = lambda _p: None
    try:
        ev_v, pv, tv = EventView(), prediction_view.PredictionView(), timestep_view.TimestepView()
    finally:
        prediction_view.cache_axes, timestep_view.cache_axes = saved
    for w, size in ((ev_v, (560, 520)), (pv, (440, 520)), (tv, (1280, 260))):
        w.resize(*size)
        w.show()
    names = [f"class_{i:02d}_name" for i in range(11)]
    pv.set_classes(names)
    tv.set_classes(names, 8)
    rng = np.random.default_rng(0)
    tap = EventTap(sensor, window_us=400_000)
    cpu = []
    per_frame = n_events * 33_000 // 400_000  # n_events per 400 ms window, 33 ms per frame
    for i in range(-12, frames + 5):
        # the next 33 ms of a uniform random stream, as a live source delivers it
        t = np.sort(rng.integers(0, 33_000, per_frame)) + (i + 12) * 33_000
        tap.push(make_events(t, rng.integers(0, sensor[0], per_frame),
                             rng.integers(0, sensor[1], per_frame), rng.integers(0, 2, per_frame)))  # fmt: skip
        if i < 0:
            continue
        p = rng.dirichlet(np.ones(11))
        pps = rng.dirichlet(np.ones(11), size=8)
        c0 = time.thread_time()
        ev_v.set_window(tap.snapshot(8, pool=strip_pool(sensor[0])), "bench")  # as the window
        pv.add_prediction(p, truth=1)
        tv.add_prediction((i + 12) * 33_000, pps, p)
        app.processEvents()  # paints
        if i >= 5:
            cpu.append((time.thread_time() - c0) * 1e3)
    for w in (ev_v, pv, tv):
        w.close()
        w.deleteLater()
    app.processEvents()
    return statistics.median(cpu), float(np.percentile(cpu, 99))


def _tiny_model(folder: Path) -> Path:
    import torch

    from neuromoco.framing import FramingSpec
    from neuromoco.models.checkpoint import save_checkpoint
    from neuromoco.models.registry import create_model
    from neuromoco.synth import CLASS_NAMES

    torch.manual_seed(0)
    m = create_model("lif_convnet4", num_classes=len(CLASS_NAMES), img_size=32)
    spec = FramingSpec(T=8, split_by="time", size=(32, 32), window_us=400_000)
    path = folder / "lif_convnet4_32.pt"
    save_checkpoint(path, m, arch="lif_convnet4", model_kwargs=m.model_kwargs,
                    class_names=list(CLASS_NAMES), framing=spec)  # fmt: skip
    return path


def _window_run(app, model: Path, rec: Path, seconds: float) -> dict:
    from neuromoco.app.engine_adapter import EngineAdapter, SourceSpec
    from neuromoco.app.window import MainWindow

    win = MainWindow(EngineAdapter(loop_files=True), model=str(model), mode="window")
    win.resize(1280, 860)
    win.show()
    if not win.open_source(SourceSpec("file", str(rec))):
        raise RuntimeError(win.status.last_error)
    draw = win.draw
    cpu: list[float] = []

    def timed():
        c0 = time.thread_time()
        draw()
        cpu.append((time.thread_time() - c0) * 1e3)

    win.draw = timed
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < 1.0:  # warm-up
        app.processEvents()
        time.sleep(0.001)
    cpu.clear()
    n_ticks0 = 0
    t0, gui0 = time.perf_counter(), time.thread_time()
    while time.perf_counter() - t0 < seconds:
        app.processEvents()
        time.sleep(0.001)
    elapsed = time.perf_counter() - t0
    gui_cpu = (time.thread_time() - gui0) / elapsed  # painting included
    st = win.engine.stats()
    c0 = time.perf_counter()
    win.close()
    close_s = time.perf_counter() - c0
    win.deleteLater()
    app.processEvents()
    return {
        "ticks_per_s": (len(cpu) - n_ticks0) / elapsed,
        "cpu_p50": statistics.median(cpu) if cpu else float("nan"),
        "cpu_p99": float(np.percentile(cpu, 99)) if cpu else float("nan"),
        "lat_p50": st.latency_p50_ms,
        "lat_p99": st.latency_p99_ms,
        "dropped": st.dropped,
        "windows": st.windows,
        "close_s": close_s,
        "gui_cpu": gui_cpu,
    }


def main(quick: bool = False) -> str:
    app = _app()
    frames = 20 if quick else 60
    out = ["## Qt app (issue E)", ""]
    out.append(f"Display cost per frame, GUI-thread CPU ms (median / p99 over {frames} frames):")
    out.append("")
    out.append("| window | pyqtgraph default axes (peer) | axes cached (app) | ratio |")
    out.append("|---|---|---|---|")
    for label, sensor, n in (("DVS128 128×128, 50 k ev", (128, 128), 50_000),
                             ("DAVIS346 346×260, 200 k ev", (346, 260), 200_000)):  # fmt: skip
        peer = _display_cost(app, sensor, n, frames, axis_cache=False)
        ours = _display_cost(app, sensor, n, frames, axis_cache=True)
        out.append(f"| {label} | {peer[0]:.1f} / {peer[1]:.1f} | {ours[0]:.1f} / {ours[1]:.1f} "
                   f"| {peer[0] / ours[0]:.2f}× |")  # fmt: skip
    recs = [TESTDATA / r for r in DVS if (TESTDATA / r).is_file()]
    if not recs:
        out += ["", f"(window runs skipped: {TESTDATA} absent)"]
        return "\n".join(out)
    out += ["", "The window replaying real DVS128 recordings at 1× (display timer 30 Hz):", ""]
    out.append("| recording | display FPS | draw CPU p50 / p99 ms | GUI thread, % of a core "
               "| latency p50 / p99 ms | dropped / windows | close() s |")  # fmt: skip
    out.append("|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as d:
        model = _tiny_model(Path(d))
        for rec in recs:
            r = _window_run(app, model, rec, 4.0 if quick else 10.0)
            out.append(
                f"| {rec.name} | {r['ticks_per_s']:.1f} | {r['cpu_p50']:.1f} / {r['cpu_p99']:.1f} "
                f"| {100 * r['gui_cpu']:.0f} % | {r['lat_p50']:.1f} / {r['lat_p99']:.1f} | {r['dropped']} / {r['windows']} "
                f"| {r['close_s']:.3f} |"
            )
    return "\n".join(out)


if __name__ == "__main__":
    print(main(quick=True))
