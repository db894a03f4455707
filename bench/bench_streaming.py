"""Streaming: windowing cost, sustained input rate, end-to-end latency, stream vs window, RSS.

All in one process on the project machine (2 cores shared with other jobs: figures are noisy,
compare within a run). The "small model" is the bundled model when ``models/weights/`` holds one,
else ``lif_convnet4`` at 32×32 with random weights (same cost; agreement figures need trained
weights and are then skipped unless ``NEUROMOCO_BENCH_MODEL`` names a trained checkpoint/ONNX).
Framing for the small model when it is not bundled: T=16, time split, 480 ms window (30 ms bins),
128×128 → 32×32. Inference uses 1 intra-op thread (the source/windowing thread needs the
other core; with 2 threads torch was up to 8× slower on the loaded machine).

1. Windowing alone: events/s the windower integrates (ring and buffer strategies), and the
   per-tick cost at 1 M ev/s delivered in 1 ms slices with a 30 ms hop (target ≤ 1 % of a core).
2. Sustained input rate before drops: uniform random events paced at 1× at increasing rates
   through the full engine (windowing + small model, window mode): drops and latency per rate.
3. End-to-end latency p50/p99 replaying the real DVS128 recordings of ../shared/testdata at 1×
   (target p99 ≤ 50 ms, 0 drops), window and stream mode, torch and ONNX Runtime.
4. Stream vs window: cost per prediction and argmax agreement (trained model only).
5. RSS over a looped replay at 1× (quick: 15 s; full: 10 minutes).
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
THREADS = 1  # small nets: 2 intra-op threads on 2 busy cores were 8× slower (oversubscription)


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _uniform(rate: float, dur_s: float, w=128, h=128, seed=0, t0=0):
    from neuromoco.events import make_events

    rng = np.random.default_rng(seed)
    n = int(rate * dur_s)
    return make_events(
        t0 + np.sort(rng.integers(0, int(dur_s * 1e6), n)),
        rng.integers(0, w, n),
        rng.integers(0, h, n),
        rng.integers(0, 2, n),
    )


def _small_model(tmp: Path) -> tuple[dict, bool, str]:
    """({backend/mode: path}, trained?, description); ONNX graphs are exported once here."""
    env = os.environ.get("NEUROMOCO_BENCH_MODEL")
    from neuromoco.streaming.model import bundled_model_path, graph_for

    path, trained, desc = None, True, ""
    if env:
        path, desc = Path(env), f"{env} (NEUROMOCO_BENCH_MODEL)"
    elif bundled_model_path() is not None:
        path = bundled_model_path()
        desc = f"bundled {path.name}"
    else:
        from neuromoco.framing import FramingSpec
        from neuromoco.models.checkpoint import save_checkpoint
        from neuromoco.models.registry import create_model

        model = create_model("lif_convnet4", num_classes=11, img_size=32).eval()
        path = tmp / "small.pt"
        save_checkpoint(
            path,
            model,
            arch="lif_convnet4",
            model_kwargs=dict(num_classes=11, img_size=32),
            class_names=[f"c{i}" for i in range(11)],
            framing=FramingSpec(T=16, split_by="time", size=(32, 32), window_us=480_000),
        )
        trained, desc = False, "lif_convnet4 32×32 (random weights, no bundled model yet)"
    paths = {}
    if path.suffix == ".onnx":
        paths = {("onnx", "window"): path, ("onnx", "stream"): path}
    else:
        from neuromoco.models.onnx_export import export_onnx

        paths[("torch", "window")] = paths[("torch", "stream")] = path
        for mode in ("window", "stream"):
            out = tmp / f"small-{graph_for(mode)}.onnx"
            export_onnx(path, out, graph=graph_for(mode))
            paths[("onnx", mode)] = out
    return paths, trained, desc


def _train_quick_model(tmp: Path, seconds: float = 60.0) -> Path:
    """A bench-only lif_convnet4 trained for ``seconds`` on procedural gestures (random 480 ms
    windows, log1p counts, 32×32, T=16, mean-over-time cross-entropy): just enough for the
    network to respond to its input, so stream/window agreement is not a constant-output artefact.
    Not the bundled model (issue E) and not meant to be accurate."""
    import torch

    from neuromoco.framing import FramingSpec
    from neuromoco.models.checkpoint import save_checkpoint
    from neuromoco.models.registry import create_model
    from neuromoco.synth import CLASS_NAMES, SENSOR_SIZE, generate_gesture

    spec = FramingSpec(T=16, split_by="time", size=(32, 32), sensor_size=SENSOR_SIZE,
                       window_us=480_000, normalize="log1p")  # fmt: skip
    rng = np.random.default_rng(0)
    xs, ys = [], []
    for seed in range(3):
        for label in range(len(CLASS_NAMES)):
            ev = generate_gesture(label, seed=1000 + seed)
            t0, t1 = int(ev["t"][0]), int(ev["t"][-1])
            for _ in range(6):
                a = int(rng.integers(t0, max(t0 + 1, t1 - spec.window_us)))
                sel = ev[(ev["t"] >= a) & (ev["t"] < a + spec.window_us)]
                xs.append(spec.frames(sel, SENSOR_SIZE, a, a + spec.window_us))
                ys.append(label)
    x = torch.from_numpy(np.stack(xs, axis=1))  # [T, N, 2, H, W]
    y = torch.tensor(ys)
    torch.manual_seed(0)
    model = create_model("lif_convnet4", num_classes=len(CLASS_NAMES), img_size=32)
    g = torch.Generator().manual_seed(0)
    for m in model.modules():
        if isinstance(m, torch.nn.modules.batchnorm._BatchNorm):
            # a freshly initialised deep SNN is silent (nothing reaches the threshold) and
            # surrogate gradients then barely move it: start from BN gains that make it spike
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=g) + 1.5)
            m.bias.data.copy_(torch.rand(m.bias.shape, generator=g) * 0.5 + 0.5)
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    t_end = time.perf_counter() + seconds
    model.train()
    while time.perf_counter() < t_end:
        perm = torch.randperm(y.shape[0])
        for i in range(0, y.shape[0], 32):
            idx = perm[i : i + 32]
            loss = torch.nn.functional.cross_entropy(model(x[:, idx]).mean(0), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            if time.perf_counter() >= t_end:
                break
    model.eval()
    path = tmp / "quick.pt"
    save_checkpoint(path, model, arch="lif_convnet4",
                    model_kwargs=dict(num_classes=len(CLASS_NAMES), img_size=32),
                    class_names=list(CLASS_NAMES), framing=spec)  # fmt: skip
    return path


# ------------------------------------------------------------------ 1. windowing alone
def _per_tick(win, ev, slice_us: int, dur_s: float, warm_s: float = 1.0) -> float:
    """Seconds of windowing per emitted tick, events pushed in ``slice_us`` slices with
    watermarks (as a paced source delivers them), after ``warm_s`` of warm-up."""
    edges = np.searchsorted(ev["t"], np.arange(0, int(dur_s * 1e6) + slice_us, slice_us))
    ticks, el = 0, 0.0
    for i in range(len(edges) - 1):
        t0 = time.perf_counter()
        n = len(win.push(ev[edges[i] : edges[i + 1]], watermark_us=(i + 1) * slice_us))
        if (i + 1) * slice_us > warm_s * 1e6:
            el += time.perf_counter() - t0
            ticks += n
    return el / max(ticks, 1)


def bench_windowing(quick: bool) -> list[str]:
    from neuromoco.streaming.windower import Windower

    dur = 3.0 if quick else 10.0
    rows = ["| strategy | framing | events/s integrated | per tick, 1 chunk per hop | per tick, 1 ms slices | % of a core (1 ms slices) |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    ev = _uniform(1e6, dur)
    cases = [
        ("ring", dict(split_by="time", window_us=480_000, hop_us=30_000), (32, 32)),
        ("ring", dict(split_by="time", window_us=480_000, hop_us=30_000), (128, 128)),
        ("buffer", dict(split_by="time", window_us=500_000, hop_us=33_000), (32, 32)),
        ("buffer", dict(split_by="number", window_us=500_000, hop_us=33_000), (32, 32)),
    ]
    for name, kw, size in cases:
        win = Windower(16, (128, 128), size, **kw)
        t0 = time.perf_counter()
        for a in range(0, ev.shape[0], 100_000):
            win.push(ev[a : a + 100_000])
        thr = ev.shape[0] / (time.perf_counter() - t0)
        hop = kw["hop_us"]
        big = _per_tick(Windower(16, (128, 128), size, **kw), ev, hop, dur)
        small = _per_tick(Windower(16, (128, 128), size, **kw), ev, 1000, dur)
        assert win.ring == (name == "ring")
        rows.append(
            f"| {name} | {kw['split_by']}, {kw['window_us'] // 1000} ms, hop {hop // 1000} ms, "
            f"128²→{size[0]}² | {thr / 1e6:.1f} M | {big * 1e3:.3f} ms | {small * 1e3:.3f} ms | "
            f"{100 * small / (hop / 1e6):.2f} % |"
        )
    return rows


# ------------------------------------------------------------------ engine helpers
def _run_engine(pred, source, mode: str, max_s: float | None = None, hop_us=None):
    from neuromoco.streaming.engine import Engine

    eng = Engine(pred, mode=mode, hop_us=hop_us, keep_predictions=100_000)
    eng.warmup(3)
    t0 = time.perf_counter()
    eng.start(source)
    eng.wait(max_s)
    wall = time.perf_counter() - t0
    eng.stop(1.0)
    preds = eng.poll_predictions()
    st = eng.stats()
    lat = np.array([p.latency_ms for p in preds]) if preds else np.array([np.nan])
    return dict(
        wall=wall,
        n=len(preds),
        dropped=st.dropped,
        windows=st.windows,
        events=st.events_in,
        p50=float(np.percentile(lat, 50)),
        p99=float(np.percentile(lat, 99)),
        preds=preds,
    )


def _load(paths: dict, backend: str, mode: str):
    from neuromoco.streaming.model import open_model

    path = paths.get((backend, mode))
    if path is None:
        return None
    return open_model(path, backend=backend, mode=mode, device="cpu", threads=THREADS)


# ------------------------------------------------------------------ 2. sustained rate
def bench_rate(model_path, quick: bool) -> list[str]:
    from neuromoco.streaming.file_source import ArraySource

    dur = 3.0 if quick else 6.0
    pred = _load(model_path, "onnx", "window")
    rows = [
        "| input rate | mode | predictions | dropped | latency p50 | p99 |",
        "|---|---|---|---|---|---|",
    ]
    for rate in (1e5, 1e6, 3e6) if quick else (1e5, 3e5, 1e6, 2e6, 3e6, 5e6):
        ev = _uniform(rate, dur, seed=int(rate))
        r = _run_engine(pred, ArraySource(ev, (128, 128), speed=1.0), "window", max_s=dur + 5)
        rows.append(
            f"| {rate / 1e6:g} M ev/s | window (ONNX) | {r['n']} | {r['dropped']} | "
            f"{r['p50']:.1f} ms | {r['p99']:.1f} ms |"
        )
    return rows


# ------------------------------------------------------------------ 3. real recordings at 1×
def bench_latency(model_path, quick: bool) -> list[str]:
    from neuromoco.streaming.file_source import FileSource

    rows = ["| recording | mode | backend | predictions | dropped | latency p50 | p99 |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    configs = [("window", "onnx"), ("stream", "onnx"), ("window", "torch"), ("stream", "torch")]
    for rel in DVS:
        path = TESTDATA / rel
        if not path.exists():
            rows.append(f"| {rel} | – | – | (absent) | | | |")
            continue
        for mode, backend in configs[:2] if quick else configs:
            pred = _load(model_path, backend, mode)
            if pred is None:
                continue
            r = _run_engine(pred, FileSource(path, speed=1.0), mode, max_s=20)
            rows.append(
                f"| {Path(rel).name} ({r['events']} ev) | {mode} | {backend} | {r['n']} | "
                f"{r['dropped']} | {r['p50']:.1f} ms | {r['p99']:.1f} ms |"
            )
    return rows


# ------------------------------------------------------------------ 4. stream vs window
def _median_ms(fn, n=30):
    for _ in range(3):
        fn()
    ts = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def bench_cost(model_path, quick: bool) -> list[str]:
    rows = ["| backend | window (T frames, fresh state) | step (1 frame, mean over T) | window / step |",
            "|---|---|---|---|"]  # fmt: skip
    for backend in ("onnx", "torch"):
        pred = _load(model_path, backend, "stream")
        wpred = _load(model_path, backend, "window")
        if pred is None or wpred is None:
            continue
        T = pred.framing.T
        w, h = pred.framing.size
        rng = np.random.default_rng(0)
        x = rng.poisson(0.1, (T, 1, 2, h, w)).astype(np.float32)
        tw = _median_ms(lambda wp=wpred, x=x: wp.window(x), 10 if quick else 30)

        def steps(p=pred, x=x):
            # a realistic step: the state evolves (repeating one step from the zero state is
            # several times faster than stepping through a sequence)
            s = p.init_state(1)
            for f in x:
                _, s = p.step(f, s)

        ts = _median_ms(steps, 10 if quick else 30) / T
        rows.append(f"| {backend} | {tw:.2f} ms | {ts:.2f} ms | {tw / ts:.1f}× |")
    return rows


def agreement(pred, events, sensor_size, segments=None) -> dict:
    """Stream mode (state carried from the start, aggregated over the last T steps) vs window
    mode (fresh state per window) at every bin tick where the window is full; lossless, no
    threads. ``segments``: ``[(t0_us, label)]`` ground truth (procedural stream)."""
    from neuromoco.streaming.session import InferenceSession
    from neuromoco.streaming.windower import Windower

    spec = pred.framing
    bin_us = spec.window_us // spec.T
    o = int(events["t"][0]) if segments is None else 0
    ww = Windower.from_spec(spec, sensor_size, hop_us=bin_us, origin_us=o)
    wb = Windower.from_spec(
        spec, sensor_size, hop_us=bin_us, mode="stream", partial=True, origin_us=o
    )
    end = int(events["t"][-1]) + 1
    wins = {w.t_us: w for w in ww.push(events, end)}
    sw, ss = InferenceSession(pred, "window"), InferenceSession(pred, "stream")
    rows = []
    for b in wb.push(events, end):
        p = ss.process(b)
        if b.t_us in wins:
            q = sw.process(wins[b.t_us])
            truth = -1
            if segments is not None:
                truth = [lab for t0, lab in segments if t0 <= b.t_us - 1][-1]
            rows.append((p.label_index, q.label_index, truth))
    r = np.array(rows)
    return dict(
        n=len(r),
        agree=float((r[:, 0] == r[:, 1]).mean()),
        classes=(len(np.unique(r[:, 0])), len(np.unique(r[:, 1]))),
        acc=None if segments is None else (float((r[:, 0] == r[:, 2]).mean()), float((r[:, 1] == r[:, 2]).mean())),
    )  # fmt: skip


def bench_agreement(model_path, trained: bool, quick: bool, tmp: Path) -> list[str]:
    from neuromoco.events import read_events
    from neuromoco.streaming.model import open_model

    note = ""
    if trained:
        path = model_path[("onnx", "stream")]
    elif quick:
        return ["(skipped in --quick: no trained model; the full run trains a bench-only model "
                "for 120 s, or set NEUROMOCO_BENCH_MODEL)"]  # fmt: skip
    else:
        path = _train_quick_model(tmp, 120.0)
        note = ("Model: bench-only lif_convnet4 trained 120 s on 33 procedural gestures "
                "(`_train_quick_model`; weak, but it responds to its input).")  # fmt: skip
    pred = open_model(path, backend="torch" if path.suffix == ".pt" else "onnx", mode="stream")
    rows = ["| stream | windows compared | argmax agreement | classes predicted (stream/window) | accuracy vs truth (stream/window) |",
            "|---|---|---|---|---|"]  # fmt: skip
    for rel in DVS:
        p = TESTDATA / rel
        if p.exists():
            a = agreement(pred, read_events(p), (128, 128))
            rows.append(f"| {Path(rel).name} | {a['n']} | {100 * a['agree']:.1f} % | "
                        f"{a['classes'][0]}/{a['classes'][1]} | – |")  # fmt: skip
    from neuromoco.synth import SENSOR_SIZE, GestureStream

    evs, segs = [], []
    for i, (ev, label, t0) in enumerate(GestureStream(seed=7)):
        evs.append(ev)
        segs.append((int(t0), int(label)))
        if i + 1 >= 12:
            break
    a = agreement(pred, np.concatenate(evs), SENSOR_SIZE, segs)
    rows.append(
        f"| procedural gestures (seed 7, {len(segs)} gestures) | {a['n']} | {100 * a['agree']:.1f} % | "
        f"{a['classes'][0]}/{a['classes'][1]} | {100 * a['acc'][0]:.0f} % / {100 * a['acc'][1]:.0f} % |"
    )
    return ([note, ""] if note else []) + rows


# ------------------------------------------------------------------ 5. RSS
def bench_rss(model_path, quick: bool) -> list[str]:
    """Runs in a fresh process: this one holds the big test arrays of the other benchmarks (and
    malloc tuning keeps freed memory mapped), which would swamp the engine's own footprint."""
    import subprocess
    import sys

    path = TESTDATA / DVS[1]
    if not path.exists():
        return ["(skipped: ../shared/testdata absent)"]
    dur = 15.0 if quick else 600.0
    r = subprocess.run(
        [sys.executable, "-m", "bench.bench_streaming", "--rss-child", str(dur), str(model_path[("onnx", "window")])],
        cwd=REPO, capture_output=True, text=True, timeout=dur + 120,
    )  # fmt: skip
    if r.returncode != 0:
        return [
            f"(failed: {r.stderr.strip().splitlines()[-1] if r.stderr.strip() else r.returncode})"
        ]
    return [r.stdout.strip()]


def _rss_child(dur: float, model: str) -> str:
    from neuromoco.malloc_tuning import tune_malloc_for_streaming as tune_malloc
    from neuromoco.streaming.engine import Engine
    from neuromoco.streaming.file_source import FileSource
    from neuromoco.streaming.model import open_model

    tune_malloc()
    path = TESTDATA / DVS[1]
    pred = open_model(model, backend="onnx", mode="window", device="cpu", threads=THREADS)
    eng = Engine(pred, mode="window", keep_predictions=1000)
    eng.warmup(3)
    rss0 = _rss_mb()
    eng.start(FileSource(path, speed=1.0, loop=True))
    samples = []
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < dur:
        time.sleep(min(1.0, dur / 30))
        eng.poll_predictions()
        samples.append(_rss_mb())
    st = eng.stats()
    eng.stop(1.0)
    rss = np.array(samples)
    k = max(1, len(rss) // 4)
    return (
        f"{dur:g} s at 1× ({dur / 6.02:.1f} loops of {path.name}), {st.events_in / 1e6:.2f} M "
        f"events, {st.predictions} predictions, {st.dropped} dropped. RSS after model load "
        f"{rss0:.0f} MB; streaming: first quarter mean {rss[:k].mean():.1f} MB, last quarter "
        f"mean {rss[-k:].mean():.1f} MB, max {rss.max():.1f} MB."
    )


def main(quick: bool = False) -> str:
    from neuromoco.malloc_tuning import tune_malloc_for_streaming as tune_malloc

    tuned = tune_malloc()
    with tempfile.TemporaryDirectory() as tmp:
        model_path, trained, desc = _small_model(Path(tmp))
        out = [
            "### Streaming (`python -m bench streaming" + (" --quick`)" if quick else "`)"),
            "",
            f"Small model: {desc}; {THREADS} inference threads; malloc tuning "
            f"{'on' if tuned else 'off'}; load average at start {os.getloadavg()[0]:.1f} "
            f"(2 cores shared).",
            "",
            "**Windowing alone** (T=16, 1 M ev/s uniform random on 128×128):",
            "",
            *bench_windowing(quick),
            "",
            "**Sustained input rate** (uniform random events paced at 1×, full engine):",
            "",
            *bench_rate(model_path, quick),
            "",
            "**End-to-end latency, real DVS128 recordings replayed at 1×** (event arrival → prediction):",
            "",
            *bench_latency(model_path, quick),
            "",
            "**Cost per prediction, stream vs window** (median, batch 1):",
            "",
            *bench_cost(model_path, quick),
            "",
            "**Stream vs window argmax agreement** (stream state carries history beyond T, so this "
            "is measured, not an identity):",
            "",
            *bench_agreement(model_path, trained, quick, Path(tmp)),
            "",
            "**RSS over a looped replay** (window mode, ONNX):",
            "",
            *bench_rss(model_path, quick),
            "",
        ]
    return "\n".join(out)


if __name__ == "__main__":
    import sys

    if "--rss-child" in sys.argv:
        i = sys.argv.index("--rss-child")
        print(_rss_child(float(sys.argv[i + 1]), sys.argv[i + 2]))
    else:
        print(main(quick="--quick" in sys.argv))
