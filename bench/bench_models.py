"""Model latency: parameters, T=16 window (torch eager vs ONNX Runtime) and per-frame step cost.

Batch 1, 2 CPU threads for both backends (``torch.set_num_threads(2)``, ORT
``intra_op_num_threads=2``), sparse event-count input (Poisson, mean 0.1 events per pixel and
polarity per bin, like a DVS128 gesture), median of ``repeats`` after warm-up, all in one process.

* window: ``model(x)`` on ``[16, 1, 2, H, W]`` vs the exported ``window`` graph;
* step: one frame through ``StatefulStep`` (torch) / the ``step`` graph (ORT) with explicit
  membrane state, i.e. the cost of one new per-step prediction in stream mode.

Targets (issue B): ORT window ≥ 1.5× faster than torch eager; step ≤ 1/10 of the window latency.
glibc malloc tuning (``MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=1073741824``,
read at process start) reduces per-step allocation churn for small nets; the header says whether
it was set.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

# On a shared, oversubscribed machine OpenMP threads that spin while waiting make torch eager 3-5x
# slower and erratic (measured: lif_convnet4 64² 170 ms spinning vs 41 ms passive, same load).
# Both backends are therefore run without spin-waiting; must be set before torch starts OpenMP.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

T = 16
CONFIGS = [  # (name, img_size, paper model?)
    ("sew_resnet18", 128, True),
    ("spikformer_2_256", 128, True),
    ("sew_resnet_tiny", 64, False),
    ("lif_convnet4", 64, False),
    ("lif_convnet4", 32, False),
    ("spikformer_tiny", 64, False),
]


def _median_ms(fn, repeats: int, warmup: int = 2) -> float:
    for _ in range(warmup):
        fn()
    ts = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        ts.append(time.perf_counter() - t0)
    return statistics.median(ts) * 1e3


def _bench_one(name: str, size: int, repeats: int, tmp: Path) -> dict:
    import onnxruntime as ort
    import torch

    from neuromoco.framing import FramingSpec
    from neuromoco.models.onnx_export import export_onnx
    from neuromoco.models.registry import create_model
    from neuromoco.models.stateful import StatefulStep

    model = create_model(name, num_classes=11, img_size=size).eval()
    params = sum(p.numel() for p in model.parameters())
    rng = np.random.default_rng(0)
    x = rng.poisson(0.1, size=(T, 1, 2, size, size)).astype(np.float32)
    xt = torch.from_numpy(x)
    step = StatefulStep(model).eval()
    with torch.inference_mode():
        torch_win = _median_ms(lambda: model(xt), repeats)
        state = step.init_state(1)
        frame = xt[0]
        torch_step = _median_ms(lambda: step(frame, *state), repeats * 8)
        ref = model(xt).numpy()
    fr = FramingSpec(T=T, size=(size, size))
    t0 = time.perf_counter()
    win_path = export_onnx(model, tmp / f"{name}_{size}_w.onnx", "window", framing=fr)
    step_path = export_onnx(model, tmp / f"{name}_{size}_s.onnx", "step", framing=fr)
    export_s = time.perf_counter() - t0
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sw = ort.InferenceSession(str(win_path), opts, providers=["CPUExecutionProvider"])
    ss = ort.InferenceSession(str(step_path), opts, providers=["CPUExecutionProvider"])
    ort_win = _median_ms(lambda: sw.run(None, {"frames": x}), repeats)
    names = [i.name for i in ss.get_inputs()]
    feeds = {"frame": x[0]}
    feeds.update(
        {
            n: np.zeros([1] + [int(d) for d in i.shape[1:]], np.float32)
            for n, i in zip(names[1:], ss.get_inputs()[1:], strict=True)
        }
    )
    ort_step = _median_ms(lambda: ss.run(None, feeds), repeats * 8)
    out = sw.run(None, {"frames": x})[0]
    return {
        "name": name,
        "size": size,
        "params": params,
        "torch_win": torch_win,
        "ort_win": ort_win,
        "torch_step": torch_step,
        "ort_step": ort_step,
        "diff": float(np.abs(out - ref).max()),
        "export_s": export_s,
    }


def main(quick: bool = False) -> str:
    import torch

    torch.set_num_threads(2)
    repeats = 5 if quick else 20
    configs = [c for c in CONFIGS if not (quick and c[0] == "spikformer_tiny")]
    malloc = "set" if os.environ.get("MALLOC_MMAP_THRESHOLD_") else "not set"
    omp = os.environ.get("OMP_WAIT_POLICY", "default")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-models-") as d:
        for name, size, paper in configs:
            print(f"bench_models: {name} {size}x{size} ...", file=sys.stderr, flush=True)
            rows.append(_bench_one(name, size, max(3, repeats // 4) if paper else repeats, Path(d)))
    lines = [
        f"`python -m bench models{' --quick' if quick else ''}` — batch 1, T = {T}, 2 threads, "
        f"median of {repeats} (paper models: {max(3, repeats // 4)}), malloc tuning {malloc}, "
        f"OMP_WAIT_POLICY={omp}, ORT spinning off, "
        f"torch {torch.__version__}:",
        "",
        "| model | input | params | window torch ms | window ORT ms | ORT speed-up | step torch ms | step ORT ms | best step / best window | max abs Δ |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        best_w = min(r["torch_win"], r["ort_win"])
        best_s = min(r["torch_step"], r["ort_step"])
        lines.append(
            f"| {r['name']} | {r['size']}² | {r['params'] / 1e6:.3g} M | {r['torch_win']:.1f} | {r['ort_win']:.1f} "
            f"| {r['torch_win'] / r['ort_win']:.2f}× | {r['torch_step']:.2f} | {r['ort_step']:.2f} "
            f"| 1/{best_w / best_s:.1f} | {r['diff']:.1g} |"
        )
    lines.append("")
    lines.append(
        "Export times (window + step graphs): "
        + ", ".join(f"{r['name']} {r['size']}² {r['export_s']:.0f} s" for r in rows)
        + "."
    )
    return "\n".join(lines)


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
