"""Live use, as a person sees it: ``python -m bench live [--quick]``.

Three tables for docs/results.md ("Live in a room"), all on the labelled real clips of
``../shared/testdata/dvsgesture_csv``:

1. **Continuous**: both bundled models, window and stream mode, clean and noisy, through
   ``neuromoco.streaming.continuous_evaluation`` (the code behind ``neuromoco evaluate MODEL
   --recordings LABELS.csv --continuous``), with the engine's defaults ("after") and with the
   engine as it was before issue K: no filters, no gate ("before"). ``--quick`` skips
   ``dvs128-gesture`` in window mode (one 150-step run per 40 ms hop: ~2 min per row).
2. **Per clip, varied**: one decision per clip (``evaluate_clip``) for the clips moved 20 px off
   centre (4 directions), 0.7× smaller, in a noisy room, slower, faster, mirrored and
   time-reversed (``neuromoco.event_variants``; mirrored and reversed clips are scored on the
   class they become).
3. **Gate calibration**: the activity the no-gesture gate reads (supported events/s in the two
   busiest 32×32 blocks over 0.5 s) on generated pauses and noisy rooms, and on the sparsest real
   recordings and gestures, also made smaller and slower.
4. **Live budget** (for docs/benchmarks.md): the filters' and the meter's cost at 1 M ev/s, and
   latency and drops at 1× replay, before K and with the defaults in the same run.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO.parent / "shared" / "testdata"
LABELS = TESTDATA / "dvsgesture_csv" / "labels.csv"
SENSOR = (128, 128)


def _pct(v) -> str:
    return "—" if v is None else f"{100 * v:.1f} %"


def _before_k():
    """The engine as it was before issue K: no hot-pixel or neighbour filter, no gate."""
    from neuromoco.streaming.engine_config import EngineConfig

    return EngineConfig(noise_filter_us=None, hot_pixel_filter=False, gate=None)


def continuous_table(models, modes, quick: bool, figures: dict | None = None) -> str:
    """The markdown table; ``figures`` (if given) collects ``{model: [row dicts]}`` of the
    engine's defaults for the models' shipped ``.json``."""
    from neuromoco.streaming.continuous_evaluation import evaluate_continuous
    from neuromoco.streaming.engine_config import EngineConfig
    from neuromoco.streaming.model import open_model

    before = _before_k()
    rows = [
        "| model | mode | engine | room | in-gesture hops right (top class) | pause hops 'no gesture' "
        "| median time to right | never right / never settled | changes per gesture | s |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in models:
        for mode in modes:
            if quick and name == "dvs128-gesture" and mode == "window":
                continue
            p = open_model(name, mode=mode)
            for label, cfg in (("before K", before), ("defaults", EngineConfig())):
                for noisy in (False, True):
                    r = evaluate_continuous(p, LABELS, mode, noisy=noisy, config=cfg)
                    ttr = r["time_to_right_s_median"]
                    if figures is not None and label == "defaults":
                        keep = ("in_gesture_right", "in_gesture_top_right", "pause_no_gesture",
                                "time_to_right_s_median", "never_right", "never_settled",
                                "flicker_per_gesture", "n_gestures", "gap_s")  # fmt: skip
                        figures.setdefault(name, []).append(
                            {"mode": mode, "room": "noisy" if noisy else "clean"}
                            | {k: r[k] for k in keep}
                        )
                    rows.append(
                        f"| {name} | {mode} | {label} | {'noisy' if noisy else 'clean'} | "
                        f"{_pct(r['in_gesture_right'])} ({_pct(r['in_gesture_top_right'])}) | "
                        f"{_pct(r['pause_no_gesture'])} | "
                        f"{'—' if ttr is None else f'{ttr:.2f} s'} | "
                        f"{r['never_right']} / {r['never_settled']} | "
                        f"{r['flicker_per_gesture']:.1f} | {r['seconds']:.0f} |"
                    )
                    print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def write_figures(figures: dict) -> None:
    """Record ``continuous`` in each bundled model's ``.json`` (atomically)."""
    import json

    from neuromoco.atomic import atomic_write_text
    from neuromoco.models.bundled import bundled_model

    for name, rows in figures.items():
        m = bundled_model(name)
        met = m.metrics()
        met["continuous"] = {
            "labels": "shared/testdata/dvsgesture_csv/labels.csv",
            "protocol": "clips one after another, 3 s pauses of 0.2 Hz/pixel background; noisy: "
            "+0.5 Hz/pixel and 5 hot pixels at 200 Hz; engine defaults (python -m bench live)",
            "rows": rows,
        }
        atomic_write_text(m.metrics_path, json.dumps(met, indent=2) + "\n")


def variants(sensor=SENSOR) -> dict:
    """``{name: (transform(events) -> events, mirrored, reversed)}``."""
    from neuromoco.event_variants import mirror, shift, time_reverse, time_scale, zoom
    from neuromoco.sensor_noise import add_room_noise

    out = {"as recorded": (lambda e: e, False, False)}
    for dx, dy in ((20, 0), (-20, 0), (0, 20), (0, -20)):
        out[f"shifted {dx:+d},{dy:+d} px"] = (lambda e, a=dx, b=dy: shift(e, a, b, sensor), 0, 0)
    out["0.7× size"] = (lambda e: zoom(e, 0.7, sensor), False, False)
    out["noisy room"] = (
        lambda e: add_room_noise(
            e, sensor, int(e["t"][0]), int(e["t"][-1]) + 1, np.random.default_rng(1)
        ),
        False,
        False,
    )
    out["1.5× slower"] = (lambda e: time_scale(e, 1.5), False, False)
    out["1.5× faster"] = (lambda e: time_scale(e, 1 / 1.5), False, False)
    out["mirrored"] = (lambda e: mirror(e, sensor), True, False)
    out["time-reversed"] = (time_reverse, False, True)
    return out


def variants_table(models, modes) -> str:
    from neuromoco.event_variants import variant_label
    from neuromoco.events import read_events
    from neuromoco.streaming.model import open_model
    from neuromoco.streaming.recording_evaluation import evaluate_clip, read_labels

    rows = ["| variant | " + " | ".join(f"{m} {md}" for m in models for md in modes) + " |"]
    rows.append("|---|" + "---|" * (len(models) * len(modes)))
    preds = {(m, md): open_model(m, mode=md) for m in models for md in modes}
    names = list(next(iter(preds.values())).class_names)
    items = read_labels(LABELS, names)
    clips = [(read_events(it.path, sensor_size=SENSOR), names[it.label]) for it in items]
    for vname, (fn, mirrored, reversed_) in variants().items():
        cells = []
        for key, p in preds.items():
            ok = 0
            for ev, label in clips:
                want = variant_label(label, bool(mirrored), bool(reversed_))
                scores, _ = evaluate_clip(p, (fn(ev), SENSOR), key[1])
                ok += names[int(np.argmax(scores))] == want
            cells.append(f"{ok}/{len(clips)}")
        rows.append(f"| {vname} | " + " | ".join(cells) + " |")
        print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def gate_calibration() -> str:
    """The activity the gate reads on made and real streams (0.5 s after the start on)."""
    import glob

    from neuromoco.denoise import Denoiser
    from neuromoco.event_variants import time_scale, zoom
    from neuromoco.events import read_events
    from neuromoco.sensor_noise import add_room_noise, background_activity
    from neuromoco.streaming.activity_meter import ActivityMeter
    from neuromoco.streaming.engine_config import DEFAULT_NOISE_FILTER_US
    from neuromoco.streaming.gesture_gate import GateConfig
    from neuromoco.streaming.hot_pixel_filter import HotPixelFilter

    g = GateConfig()

    def activity(ev, hot=True, skip_us=500_000):
        s = SENSOR
        m = ActivityMeter(s, g.activity_span_us, g.activity_block, g.activity_top)
        f = Denoiser(s, DEFAULT_NOISE_FILTER_US)(HotPixelFilter(s)(ev) if hot else ev)
        m.add(f)
        t0, t1 = int(ev["t"][0]), int(ev["t"][-1])
        return np.array([m.rate_hz(t) for t in range(t0 + skip_us, t1, 100_000)])

    rng = np.random.default_rng(0)
    rows = ["| stream | min | 5th pct | median | max |", "|---|---|---|---|---|"]

    def row(name, a):
        rows.append(
            f"| {name} | {a.min():.0f} | {np.percentile(a, 5):.0f} | {np.median(a):.0f} | "
            f"{a.max():.0f} |"
        )

    quiet = background_activity(0, 20_000_000, SENSOR, 0.2, rng)
    row("generated pause, 0.2 Hz/pixel (20 s)", activity(quiet))
    noisy = add_room_noise(quiet, SENSOR, 0, 20_000_000, rng)
    row("noisy room: + 0.5 Hz/pixel, 5 hot pixels at 200 Hz", activity(noisy))
    row("the same, hot-pixel filter off", activity(noisy, hot=False))
    sparse = sorted(glob.glob(str(TESTDATA / "unlabeled_dvs128" / "dvSave-2024_06_13_*.aedat4")))
    row(
        f"real, unlabelled sparse set ({len(sparse)} files)",
        np.concatenate([activity(read_events(f)) for f in sparse]),
    )
    dense = sorted(glob.glob(str(TESTDATA / "unlabeled_dvs128" / "dvSave-2024_06_20_*.aedat4")))
    row(
        f"real, unlabelled dense set ({len(dense)} files)",
        np.concatenate([activity(read_events(f)) for f in dense]),
    )
    clips = sorted((TESTDATA / "dvsgesture_csv").glob("class*.csv"))
    real = [read_events(c, sensor_size=SENSOR) for c in clips]
    row("real labelled clips (5)", np.concatenate([activity(e) for e in real]))
    small_slow = [time_scale(zoom(e, 0.7, SENSOR), 1.5) for e in real]
    row("the same, 0.7× size and 1.5× slower", np.concatenate([activity(e) for e in small_slow]))
    walk = read_events(TESTDATA / "aedat2" / "alex_walking_again.aedat")
    row("real: a person walking away (last 1.5 s)", activity(walk)[-15:])
    rows.append("")
    rows.append(
        f"Gate thresholds: on ≥ {g.on_hz:g}, off < {g.off_hz:g} (for {g.idle_after_us / 1e3:g} ms)."
    )
    return "\n".join(rows)


def live_budget(quick: bool) -> str:
    """The live budget with the filters and the gate: (1) their cost per event on 1 ms slices at
    1 M ev/s, as a paced source delivers them; (2) the noisy continuous stream replayed at 1×
    through the engine, before K (no filters, no gate) and with the defaults, in the same run."""
    import time

    from neuromoco.denoise import Denoiser
    from neuromoco.sensor_noise import background_activity
    from neuromoco.streaming.activity_meter import ActivityMeter
    from neuromoco.streaming.continuous_evaluation import build_stream
    from neuromoco.streaming.engine import Engine
    from neuromoco.streaming.engine_config import DEFAULT_NOISE_FILTER_US, EngineConfig
    from neuromoco.streaming.file_source import ArraySource
    from neuromoco.streaming.hot_pixel_filter import HotPixelFilter
    from neuromoco.streaming.model import open_model

    rng = np.random.default_rng(0)
    dur = 1.0 if quick else 3.0
    ev = background_activity(0, int(dur * 1e6), SENSOR, 1e6 / (128 * 128), rng)  # 1 M ev/s
    slices = np.searchsorted(ev["t"], np.arange(0, int(dur * 1e6) + 1000, 1000))
    rows = [
        "| step (1 M ev/s, 1 ms slices; the meter asked once per slice, the engine asks once per hop) | s per s of stream | % of a core |",
        "|---|---|---|",
    ]
    hp, dn, m = (
        HotPixelFilter(SENSOR),
        Denoiser(SENSOR, DEFAULT_NOISE_FILTER_US),
        ActivityMeter(SENSOR),
    )
    costs = {"hot-pixel filter": 0.0, "neighbour filter": 0.0, "activity meter": 0.0}
    for a, b in zip(slices[:-1], slices[1:], strict=True):
        c = ev[a:b]
        t0 = time.perf_counter()
        c = hp(c)
        t1 = time.perf_counter()
        c = dn(c)
        t2 = time.perf_counter()
        m.add(c)
        if c.shape[0]:
            m.rate_hz(int(c["t"][-1]))
        t3 = time.perf_counter()
        costs["hot-pixel filter"] += t1 - t0
        costs["neighbour filter"] += t2 - t1
        costs["activity meter"] += t3 - t2
    for k, v in costs.items():
        rows.append(f"| {k} | {v / dur:.4f} | {100 * v / dur:.1f} % |")
    tot = sum(costs.values())
    rows.append(f"| all three | {tot / dur:.4f} | {100 * tot / dur:.1f} % |")
    rows += ["", "| gesture-demo, noisy continuous stream at 1× | mode | predictions | dropped "
             "| latency p50 | p99 |", "|---|---|---|---|---|---|"]  # fmt: skip
    names = open_model("gesture-demo", mode="stream").class_names
    stream = build_stream(LABELS, list(names), SENSOR, noisy=True)
    end = stream.segments[1 if quick else 3].t1_us  # 1 (quick) or 2 gestures with their pauses
    part = stream.events[stream.events["t"] < end]
    before = _before_k()
    for mode in ("stream", "window"):
        p = open_model("gesture-demo", mode=mode)
        for label, cfg in (("before K", before), ("defaults", EngineConfig())):
            eng = Engine(p, cfg, mode=mode, keep_predictions=1 << 20)
            eng.warmup()
            eng.start(ArraySource(part, SENSOR, speed=1.0))
            eng.wait(end / 1e6 + 30)
            eng.stop(2.0)
            st = eng.stats()
            rows.append(
                f"| {label} | {mode} | {st.predictions} | {st.dropped} | "
                f"{st.latency_p50_ms:.1f} ms | {st.latency_p99_ms:.1f} ms |"
            )
            print(rows[-1], file=sys.stderr, flush=True)
    return "\n".join(rows)


def main(quick: bool = False, argv: list[str] | None = None) -> str:
    from neuromoco.models.bundled import CLASSIFIERS

    ap = argparse.ArgumentParser(prog="python -m bench live", description=__doc__)
    ap.add_argument("--models", nargs="*", default=list(CLASSIFIERS))
    ap.add_argument("--only", choices=("continuous", "variants", "gate", "budget"), default=None)
    ap.add_argument(
        "--write",
        action="store_true",
        help="record the continuous figures (engine defaults) in each model's weights/NAME.json "
        "(key 'continuous', shown by neuromoco models)",
    )
    args = ap.parse_args(argv or [])
    if not LABELS.is_file():
        return f"live: {LABELS} not found (../shared/testdata is absent): skipped"
    out = ["## Live in a room (`python -m bench live`)", ""]
    if args.only in (None, "continuous"):
        figures: dict = {}
        table = continuous_table(args.models, ("window", "stream"), quick, figures)
        out += ["### Continuous", "", table, ""]
        if args.write:
            write_figures(figures)
    if args.only in (None, "variants"):
        out += ["### Per clip, varied", "", variants_table(args.models, ("window", "stream")), ""]
    if args.only in (None, "gate"):
        out += ["### Gate calibration", "", gate_calibration(), ""]
    if args.only in (None, "budget"):
        out += ["### Live budget", "", live_budget(quick), ""]
    return "\n".join(out)


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv, argv=[a for a in sys.argv[1:] if a != "--quick"]))
