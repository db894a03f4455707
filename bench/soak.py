"""Soak runs: the app on a looping real recording at 20x with recording on, for minutes.

::

    nice -n 10 python -m bench.soak --minutes 30            # headless (neuromoco-app --headless)
    nice -n 10 python -m bench.soak --gui --minutes 10      # the window, under Xvfb

Not a CI test: a long measurement whose figures go to docs/benchmarks.md ("Recording and long
runs"). Prints a markdown summary and exits 1 if a criterion fails:

* **RSS** of the app process sampled every ``--sample-s`` seconds; growth = median of the last
  30 s vs median of the 30 s after warm-up (the first max(60 s, 20 %) of the run): < 5 %.
* **0 errors**: headless: exit status 0 (any ``error`` status makes it 1) and no "dropped" line;
  GUI: no error reached the status bar (the bridge's error signal is counted).
* **Exact accounting**: the engine's events in = the recorder's events in = events written
  (0 dropped), and the file holds exactly that many events (counted by streaming through it
  with ``iter_events`` and with the ``aedat`` package), starting with the recording's events.

Headless runs ``python -m neuromoco.app.main --headless --file F --loop --speed 20 --record OUT
--max-seconds S`` as a subprocess; the GUI run builds the same ``MainWindow`` as
``neuromoco-app`` (the default model for a file) in a subprocess on an Xvfb display (started here
when ``DISPLAY`` is unset; ``make xvfb`` installs it). The recording (≈ 7 bytes/event) goes to
``--out`` (default: a temporary folder) and is deleted unless ``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DENSE = REPO.parent / "shared" / "testdata" / "aedat4" / "dvSave-2024_06_20_16_13_00.aedat4"


def _rss_mb(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _growth(samples: list[tuple[float, float]], total_s: float) -> dict:
    """RSS growth after warm-up from ``(t_s, rss_mb)`` samples."""
    warm = max(60.0, 0.2 * total_s)
    if total_s < warm + 60:  # short validation runs: warm-up = first third
        warm = total_s / 3
    after = [r for t, r in samples if warm <= t < warm + 30] or [
        r for t, r in samples if t >= warm
    ][:3]
    end = [r for t, r in samples if t >= samples[-1][0] - 30]
    base, last = statistics.median(after), statistics.median(end)
    return {
        "warmup_s": warm,
        "rss_after_warmup_mb": base,
        "rss_end_mb": last,
        "rss_peak_mb": max(r for _, r in samples),
        "growth_pct": 100.0 * (last - base) / base,
    }


def _finish(res: dict, samples, wall: float, out: Path) -> dict:
    """Add the RSS growth, the samples and the recording's own count to ``res``."""
    res.update(_growth(samples, wall))
    res["samples"] = samples
    if out.exists():
        res["file_bytes"] = out.stat().st_size
        res.update(_count_file(out))
    return res


def _count_file(path: Path) -> dict:
    """Events in the recording, counted by streaming through it twice (ours and ``aedat``)."""
    import numpy as np

    from neuromoco.events import iter_events, read_recording

    n_ours, first_ok, t_prev, sorted_ok = 0, None, None, True
    base = read_recording(DENSE).events
    with iter_events(path, chunk_events=1 << 22) as chunks:
        for c in chunks:
            if first_ok is None:
                k = min(c.shape[0], base.shape[0])
                first_ok = bool(np.array_equal(c[:k], base[:k]))
            if c.size:
                if t_prev is not None and int(c["t"][0]) < t_prev:
                    sorted_ok = False
                t_prev = int(c["t"][-1])
            n_ours += int(c.shape[0])
    n_aedat = None
    try:
        import aedat

        n_aedat = sum(p["events"].shape[0] for p in aedat.Decoder(str(path)) if "events" in p)
    except ImportError:
        pass
    return {
        "file_events": n_ours,
        "file_events_aedat": n_aedat,
        "starts_with_source": first_ok,
        "sorted": sorted_ok,
    }


def _sample(pid: int, t0: float, every: float, out: list, stop: threading.Event) -> None:
    while not stop.is_set():
        r = _rss_mb(pid)
        if r is not None:
            out.append((time.monotonic() - t0, r))
        stop.wait(every)


def run_headless(minutes: float, out_dir: Path, sample_s: float, speed: float) -> dict:
    out = out_dir / "soak_headless.aedat4"
    seconds = minutes * 60
    cmd = [sys.executable, "-m", "neuromoco.app.main", "--headless", "--file", str(DENSE),
           "--loop", "--speed", f"{speed:g}", "--record", str(out),
           "--max-seconds", f"{seconds:g}"]  # fmt: skip
    env = dict(os.environ, PYTHONPATH=str(REPO))
    t0 = time.monotonic()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    counts = {"predictions": 0}
    err_lines: list[str] = []

    def read_out():
        for _ in proc.stdout:
            counts["predictions"] += 1

    def read_err():
        for line in proc.stderr:
            err_lines.append(line.decode(errors="replace").rstrip())

    readers = [threading.Thread(target=f, daemon=True) for f in (read_out, read_err)]
    for th in readers:
        th.start()
    samples: list[tuple[float, float]] = []
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(proc.pid, t0, sample_s, samples, stop))
    sampler.start()
    rc = proc.wait(timeout=seconds + 600)
    stop.set()
    sampler.join()
    for th in readers:
        th.join(10)
    wall = time.monotonic() - t0
    res = {"mode": "headless", "minutes": minutes, "rc": rc, "wall_s": wall, **counts}
    import re

    for line in err_lines:
        m = re.search(r"(\d+) predictions from (\d+) events", line)
        if m:
            res["engine_events_in"] = int(m.group(2))
        m = re.search(
            r"recording .*: (\d+) events in, (\d+) written, (\d+) dropped, (\d+) late", line
        )
        if m:
            res["rec_in"], res["rec_written"], res["rec_dropped"], res["rec_late"] = map(
                int, m.groups()
            )
    res["behind_lines"] = sum("is behind" in ln for ln in err_lines)
    summary = ("predictions from", " events in, ")  # the accounting lines ("0 dropped")
    res["error_lines"] = [
        ln
        for ln in err_lines
        if not any(s in ln for s in summary)
        and any(s in ln.lower() for s in ("error", "dropped", "failed", "traceback"))
    ]
    res["stderr_tail"] = err_lines[-6:]
    return _finish(res, samples, wall, out)


_GUI_CHILD = r"""
import json, os, sys, time
from PySide6 import QtCore, QtWidgets
from neuromoco.app.engine_adapter import EngineAdapter, SourceSpec
from neuromoco.app.main import build_parser
from neuromoco.app.window import MainWindow
from neuromoco.malloc_tuning import tune_malloc_for_streaming as tune_malloc

src, out, seconds, speed = sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4])
args = build_parser().parse_args(["--file", src, "--loop", "--speed", str(speed), "--record", out])
args.source_kind, args.source_value = "file", src
if getattr(args, "mode", None) is None:
    from neuromoco.streaming.model import preferred_mode
    args.mode = preferred_mode(args.model, "file")
tune_malloc()
app = QtWidgets.QApplication([sys.argv[0]])
adapter = EngineAdapter.from_args(args)
window = MainWindow(adapter, model=None, mode=args.mode, speed=speed, record=out)
errors = []
window.bridge.error.connect(lambda m: errors.append(m))
window.show()
ok = window.open_source(SourceSpec("file", src))
res = {"opened": bool(ok)}

def finish():
    eng = window.engine
    st = eng.stats()
    res["engine_events_in"] = st.events_in
    res["predictions_shown"] = window.predictions
    window.close()  # stops the engine: the recording is finalised
    rs = eng.recording_stats()
    res.update(rec_in=rs.events_in, rec_written=rs.events_written, rec_dropped=rs.events_dropped,
               rec_late=rs.events_late, rec_error=rs.error)
    res["errors"] = errors + ([window.status.last_error] if window.status.last_error else [])
    app.quit()

QtCore.QTimer.singleShot(int(seconds * 1000), finish)
app.exec()
print(json.dumps(res), flush=True)
"""


def run_gui(minutes: float, out_dir: Path, sample_s: float, speed: float) -> dict:
    out = out_dir / "soak_gui.aedat4"
    seconds = minutes * 60
    env = dict(os.environ, PYTHONPATH=str(REPO))
    env.pop("QT_QPA_PLATFORM", None)  # a real X window
    xvfb = None
    if not env.get("DISPLAY"):
        if shutil.which("Xvfb") is None:
            raise RuntimeError("no DISPLAY and no Xvfb: run `make xvfb` (apt-get install xvfb)")
        disp = ":97"
        xvfb = subprocess.Popen(
            ["Xvfb", disp, "-screen", "0", "1600x1000x24", "-nolisten", "tcp"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(1.5)
        env["DISPLAY"] = disp
    try:
        t0 = time.monotonic()
        proc = subprocess.Popen(
            [sys.executable, "-c", _GUI_CHILD, str(DENSE), str(out), f"{seconds:g}", f"{speed:g}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
            text=True,
        )
        samples: list[tuple[float, float]] = []
        stop = threading.Event()
        sampler = threading.Thread(target=_sample, args=(proc.pid, t0, sample_s, samples, stop))
        sampler.start()
        stdout, stderr = proc.communicate(timeout=seconds + 600)
        stop.set()
        sampler.join()
        wall = time.monotonic() - t0
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(10)
    res = {"mode": "gui", "minutes": minutes, "rc": proc.returncode, "wall_s": wall}
    try:
        res.update(json.loads(stdout.strip().splitlines()[-1]))
    except (IndexError, json.JSONDecodeError):
        res["stderr_tail"] = stderr.splitlines()[-10:]
    res["error_lines"] = res.get("errors", [])
    return _finish(res, samples, wall, out)


def verdict(r: dict) -> list[str]:
    """The failed criteria (empty: all passed)."""
    bad = []
    if r.get("rc") != 0:
        bad.append(f"exit status {r.get('rc')}")
    if r.get("error_lines"):
        bad.append(f"{len(r['error_lines'])} error lines")
    if r.get("growth_pct", 1e9) >= 5.0:
        bad.append(f"RSS growth {r.get('growth_pct', float('nan')):.1f} % ≥ 5 %")
    ein, rin, wr = r.get("engine_events_in"), r.get("rec_in"), r.get("rec_written")
    if ein is None or not (ein == rin == wr) or r.get("rec_dropped"):
        bad.append(f"accounting: engine {ein}, recorder in {rin}, written {wr}")
    if r.get("file_events") != wr or r.get("file_events_aedat") not in (None, wr):
        bad.append(f"file holds {r.get('file_events')} (aedat {r.get('file_events_aedat')})")
    if not r.get("starts_with_source") or not r.get("sorted"):
        bad.append("file content: not the source's events in order")
    return bad


def markdown(r: dict) -> str:
    bad = verdict(r)
    rate = r.get("rec_written", 0) / max(r["wall_s"], 1e-9)
    return "\n".join(
        [
            f"| {r['mode']} | {r['minutes']:g} | {r['rss_after_warmup_mb']:.0f} "
            f"| {r['rss_end_mb']:.0f} | {r['growth_pct']:+.1f} % | {r['rss_peak_mb']:.0f} "
            f"| {len(r.get('error_lines', []))} | {r.get('engine_events_in')} "
            f"| {r.get('rec_written')} | {r.get('rec_dropped')} | {r.get('file_events')} "
            f"| {rate / 1e3:.0f} k | {'pass' if not bad else 'FAIL: ' + '; '.join(bad)} |"
        ]
    )


HEADER = (
    "| run | minutes | RSS after warm-up (MB) | RSS at end (MB) | growth | peak (MB) | errors "
    "| engine events in | written | dropped | in the file | ev/s | verdict |\n"
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__)
    ap.add_argument("--minutes", type=float, default=30.0, help="run length (default 30)")
    ap.add_argument("--gui", action="store_true", help="the window under Xvfb, not headless")
    ap.add_argument("--speed", type=float, default=20.0, help="replay speed (default 20)")
    ap.add_argument("--sample-s", type=float, default=2.0, help="RSS sampling period (s)")
    ap.add_argument("--out", help="folder for the recording (default: a temporary folder)")
    ap.add_argument("--keep", action="store_true", help="keep the recording")
    ap.add_argument("--json", help="also write the full result (RSS samples) to this file")
    a = ap.parse_args(argv)
    if not DENSE.exists():
        print(f"soak skipped: {DENSE} is absent", file=sys.stderr)
        return 2
    tmp = None
    if a.out:
        out_dir = Path(a.out)
        out_dir.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.mkdtemp(prefix="neuromoco_soak_")
        out_dir = Path(tmp)
    try:
        run = run_gui if a.gui else run_headless
        r = run(a.minutes, out_dir, a.sample_s, a.speed)
    finally:
        if not a.keep:
            for p in out_dir.glob("soak_*"):
                p.unlink()
            if tmp:
                shutil.rmtree(tmp, ignore_errors=True)
    if a.json:
        Path(a.json).write_text(json.dumps(r, indent=1))
    print(HEADER)
    print(markdown(r))
    if r.get("error_lines"):
        print("\nerrors:", *r["error_lines"][:10], sep="\n  ")
    return 1 if verdict(r) else 0


if __name__ == "__main__":
    sys.exit(main())
