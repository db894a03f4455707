"""``neuromoco-app --headless``: predictions as JSON lines on stdout, status on stderr.

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
      "n_events": 5120,             # events in the window (Window.n_events)
      "dropped": 0,                 # windows (stream mode: bins) dropped so far, cumulative
      "mode": "window",             # or "stream"
      "gesture": "hand_clap",       # the class the app shows; null while no gesture is under way
      "gesture_index": 1,           # (the no-gesture gate: docs/streaming.md); "label" stays the
                                    # top class
      "activity": 5120.0,           # what the gate read: supported events/s in the busiest
                                    # 32x32 blocks over the last 0.5 s (absent with the gate off)
      "truth": "arm_roll",          # only when the source knows the ground truth (--demo)
      "truth_index": 4,
      "decision": "hand_clap",      # only with --early-threshold, once reached in this window
      "decision_step": 5
    }

Probabilities are rounded to 4 decimals. Status lines (source started/ended, errors, recording
written, model and window settings) go to stderr prefixed with ``neuromoco-app:``. With
``--record OUT``: leftover ``*.partial.*`` recordings in OUT's folder (a run that was killed) are
named at start with how to use them; a recorder that falls behind prints ``recording OUT is
behind: backlog N MiB (M events)…`` every 2 s; events dropped beyond the queue limit are an
error line (exit status 1); the last line gives the exact accounting
(``recording OUT: N events in, N written, 0 dropped, 0 late``).

Exit status: 0 when the source ended or ``--max-seconds`` elapsed, 1 for a bad input (missing or
unreadable file, bad model, no camera, bad arguments) or a stream that ended in an error,
130 after Ctrl-C (the recording, if any, is still written).
"""

from __future__ import annotations

import json
import sys
import time
from typing import TextIO

from neuromoco.app import PROG
from neuromoco.app.engine_adapter import EngineAdapter, SourceSpec

KEEP_PREDICTIONS = 100_000
"""Predictions the engine queues between two polls (the loop drains it every 20 ms)."""


def run(args, out: TextIO | None = None, err: TextIO | None = None) -> int:
    """Run the app without a window from parsed ``neuromoco-app`` arguments
    (``neuromoco.app.main``): the same adapter, sources, models and engine as the window.

    Bad inputs raise ``ValueError``/``OSError`` with a one-line message (the caller prints it).
    """
    from neuromoco.malloc_tuning import tune_malloc_for_streaming

    tune_malloc_for_streaming()

    out = out or sys.stdout
    err = err or sys.stderr

    def say(msg: str) -> None:
        print(f"{PROG}: {msg}", file=err, flush=True)

    adapter = EngineAdapter.from_args(args, keep_predictions=KEEP_PREDICTIONS)
    spec = SourceSpec(args.source_kind, args.source_value)
    # open the model first: a bad model should fail before a camera is grabbed
    # no --model: the loader takes the bundled default of this source kind
    predictor = adapter.open_model(args.model, args.mode, args.backend, spec.kind)
    source = adapter.open_source(spec, speed=args.speed)
    try:
        # no warm-up here: it runs below, once the configuration has been said
        from neuromoco.streaming.engine import Engine

        engine = Engine(predictor, adapter.engine_config, mode=args.mode)
    except ValueError:
        source.close()
        raise
    record = getattr(args, "record", None)
    if record is not None:
        from pathlib import Path

        from neuromoco.streaming.recorder import find_partial_recordings, leftover_message

        for left in find_partial_recordings(Path(record).parent):
            say(leftover_message(left))
    say(f"model: {predictor.model_name}")
    say(f"source: {source.name} ({source.sensor_size[0]}x{source.sensor_size[1]})")
    say(engine.describe())
    rc = 0
    interrupted = False
    try:
        engine.warmup()
        engine.start(source, record=record, record_format=getattr(args, "record_format", None))
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
    rs = engine.recording_stats()
    if rs is not None:
        # exact accounting: events_in = events_written + events_dropped once the file is closed
        say(
            f"recording {rs.path}: {rs.events_in} events in, {rs.events_written} written, "
            f"{rs.events_dropped} dropped, {rs.events_late} late"
            + ("" if rs.error is None else f", failed: {rs.error}")
        )
    return 130 if interrupted else rc
