"""Start-up: launch of ``neuromoco-app --demo --headless`` → its first prediction on stdout.

The first prediction can only come once one model window of stream time has passed (the bundled
``gesture-demo``: 800 ms at 1× replay), so the figure to judge is the launch overhead: time to the
first prediction minus the window. Target (issue I): ≤ 1.5 s plus the window. Peers in the same
run: the same launch with ``--backend torch`` (what loading a model with torch costs), and a bare
``python -c pass`` (the interpreter alone). Also: which heavy modules the ONNX path imports.

    python -m bench startup [--quick]
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time


def _first_prediction(args: list[str], timeout: float = 60.0) -> float:
    """Seconds from spawning ``neuromoco-app ARGS`` to its first stdout line."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    code = "import sys; from neuromoco.app.main import main; sys.exit(main(sys.argv[1:]))"
    t0 = time.perf_counter()
    p = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=env,
    )
    try:
        line = p.stdout.readline()
        dt = time.perf_counter() - t0
        if not line:
            raise RuntimeError(f"neuromoco-app {' '.join(args)}: no prediction")
        return dt
    finally:
        p.kill()
        p.wait(timeout)


def _interpreter() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t0


def _imports_of_onnx_path() -> list[str]:
    code = (
        "import sys\n"
        "from neuromoco.streaming.model import open_model\n"
        "from neuromoco.streaming.engine import Engine\n"
        "Engine(open_model('gesture-demo', mode='window')).warmup(1)\n"
        "print(','.join(m for m in ('torch','onnx','spikingjelly','PySide6') if m in sys.modules))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return [m for m in r.stdout.strip().split(",") if m]


def main(quick: bool = False) -> str:
    from neuromoco.models.bundled import bundled_model

    window_s = bundled_model("gesture-demo").metrics()["framing"]["window_us"] / 1e6
    reps = 2 if quick else 5
    base = ["--demo", "--headless", "--max-seconds", "30"]
    rows = []
    runs = {
        "onnx (default)": base,
        "torch": [*base, "--backend", "torch"],
    }
    med = {}
    for name, args in runs.items():
        _first_prediction(args)  # warm the file cache
        ts = [_first_prediction(args) for _ in range(reps)]
        med[name] = statistics.median(ts)
        rows.append(
            f"| {name} | {med[name]:.2f} s | {med[name] - window_s:.2f} s | "
            f"{min(ts):.2f}–{max(ts):.2f} s |"
        )
    py = statistics.median(_interpreter() for _ in range(reps))
    heavy = _imports_of_onnx_path()
    return "\n".join(
        [
            "### Start-up: launch → first prediction (`neuromoco-app --demo --headless`)",
            "",
            f"gesture-demo window = {window_s:g} s of stream time at 1×; {reps} launches each "
            f"(median); bare interpreter start {py:.2f} s.",
            "",
            "| backend | launch → first prediction | minus the window | range |",
            "|---|---|---|---|",
            *rows,
            "",
            f"torch / onnx launch overhead: "
            f"{(med['torch'] - window_s) / max(1e-9, med['onnx (default)'] - window_s):.2f}×. "
            f"Heavy modules imported by the ONNX streaming path: {heavy or 'none'}.",
        ]
    )


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
