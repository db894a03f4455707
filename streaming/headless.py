"""Headless streaming: predictions as JSON lines on stdout, status on stderr.

Output schema — one JSON object per line on stdout, one per prediction::

    {
      "t_us": 1718925185090631,     # stream time (µs) of the window end (exclusive)
      "label": "hand_clap",         # top class of "probs"
      "label_index": 1,
      "confidence": 0.8312,         # probs[label_index]
      "probs": [C floats],          # aggregated: softmax of the time-averaged logits
      "probs_per_step": [[C floats] × T],  # softmax per time step, oldest first
                                    # (stream mode: the last ≤ T steps)
      "latency_ms": 3.1,            # arrival of the completing events → this prediction
      "events": 5120,               # events in the window
      "dropped": 0,                 # windows (stream mode: bins) dropped so far, cumulative
      "mode": "window",             # or "stream"
      "truth": "arm_roll",          # only when the source knows the ground truth (--demo)
      "truth_index": 4,
      "decision": "hand_clap",      # only with --early-threshold, once reached in this window
      "decision_step": 5
    }

Probabilities are rounded to 4 decimals. Status lines (source started/ended, errors, recording
written, model and window settings) go to stderr prefixed with ``neuromoco-app:``.

Exit status: 0 when the source ended or ``--max-seconds`` elapsed, 1 for a bad input (missing or
unreadable file, bad model, no camera, bad arguments) or a stream that ended in an error,
130 after Ctrl-C (the recording, if any, is still written).
"""

from __future__ import annotations

import json
import sys
import time
from typing import TextIO

PROG = "neuromoco-app"


def open_source(
    kind: str,
    value=None,
    speed: float = 1.0,
    loop: bool = False,
    seed: int = 0,
):
    """Build a source: ``kind`` is ``"file"`` (value: path), ``"camera"`` (value: serial or
    None), ``"webcam"`` (value: index) or ``"demo"`` (the procedural gesture stream)."""
    if kind == "file":
        from .file_source import FileSource

        return FileSource(value, speed=speed, loop=loop)
    if kind == "camera":
        from .camera_source import CameraSource

        return CameraSource(value or None)
    if kind == "webcam":
        from .webcam_source import WebcamSource

        return WebcamSource(int(value or 0))
    if kind == "demo":
        from .synthetic_source import SyntheticSource

        return SyntheticSource(seed=seed, speed=speed)
    raise ValueError(f"unknown source kind {kind!r}")


def run(args, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the headless app from parsed ``neuromoco-app`` arguments (see ``neuromoco.app.main``).

    Bad inputs raise ``ValueError``/``OSError`` with a one-line message (the caller prints it).
    """
    from .engine import Engine
    from .malloc_tuning import tune_malloc
    from .model import load_model

    tune_malloc()

    out = out or sys.stdout
    err = err or sys.stderr

    def say(msg: str) -> None:
        print(f"{PROG}: {msg}", file=err, flush=True)

    kind, value = args.source_kind, args.source_value
    # open the model first: a bad model should fail before a camera is grabbed
    predictor = load_model(args.model, backend=args.backend, mode=args.mode, source_kind=kind)
    source = open_source(kind, value, speed=args.speed, loop=args.loop, seed=args.seed)
    try:
        hop_us = None if args.hop_ms is None else int(round(args.hop_ms * 1000))
        window_us = None if args.window_ms is None else int(round(args.window_ms * 1000))
        engine = Engine(
            predictor,
            mode=args.mode,
            hop_us=hop_us,
            window_us=window_us,
            noise_filter_us=args.noise_filter_us,
            early_threshold=args.early_threshold,
            early_steps=args.early_steps,
            keep_predictions=100_000,
        )
    except ValueError:
        source.close()
        raise
    say(f"model: {predictor.model_name}")
    say(f"source: {source.name} ({source.sensor_size[0]}x{source.sensor_size[1]})")
    say(engine.describe())
    rc = 0
    interrupted = False
    try:
        engine.warmup()
        engine.start(source, record=args.record)
    except BaseException:
        source.close()
        raise
    t0 = time.perf_counter()

    def drain() -> None:
        nonlocal rc
        for st in engine.poll_status():
            if st.kind == "error":
                rc = 1
            if st.kind != "config":
                say(st.message)
        lines = [json.dumps(p.to_json(), separators=(",", ":")) for p in engine.poll_predictions()]
        if lines:
            out.write("\n".join(lines) + "\n")
            out.flush()

    try:
        while True:
            if engine.wait(0.02):
                break
            drain()
            if args.max_seconds is not None and time.perf_counter() - t0 >= args.max_seconds:
                say(f"stopping after --max-seconds {args.max_seconds:g}")
                break
    except KeyboardInterrupt:
        interrupted = True
        say("interrupted")
    finally:
        engine.stop(1.0)
        drain()
    st = engine.stats()
    lat = (
        f", latency p50 {st.latency_p50_ms:.1f} ms p99 {st.latency_p99_ms:.1f} ms"
        if st.latency_p50_ms is not None
        else ""
    )
    say(f"{st.predictions} predictions from {st.events_in} events, {st.dropped} dropped{lat}")
    return 130 if interrupted else rc
