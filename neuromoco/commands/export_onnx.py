"""Export a checkpoint to ONNX: a `window` graph ([T,N,2,H,W] -> [T,N,C]) or a stateful `step` graph.

The `step` graph takes `frame` [N,2,H,W] and the membrane states `state_0..` and returns `logits`
[N,C] and `new_state_0..` (start from zeros); streaming advances it one time bin at a time.
Weights, framing spec and class names are embedded in the one .onnx file. After export, the graph
is checked against PyTorch on random frames (max abs difference and argmax agreement).
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint", metavar="MODEL", help="a NeuroMoCo checkpoint (.pt) or a bundled model's name"
    )
    parser.add_argument("output", help="ONNX file to write (.onnx)")
    from neuromoco.models.onnx_metadata import GRAPHS

    parser.add_argument(
        "--graph",
        choices=GRAPHS,
        default="window",
        help="graph kind: window ([T,N,2,H,W] -> [T,N,C]) or step (one frame, explicit state; "
        "what stream mode runs) (default window)",
    )
    parser.add_argument("--opset", type=int, default=None, help="ONNX opset (default: exporter's)")
    parser.add_argument(
        "--no-check", action="store_true", help="skip the PyTorch vs ONNX Runtime parity check"
    )
    parser.add_argument("--verbose", action="store_true", help="show the exporter's progress")


def run(args: argparse.Namespace) -> int:
    import time
    from pathlib import Path

    import numpy as np

    from neuromoco.models.inference import load_predictor
    from neuromoco.models.onnx_export import export_onnx

    out = Path(args.output)
    if out.suffix.lower() != ".onnx":
        raise ValueError(f"{out}: output file must end in .onnx")
    from neuromoco.models.bundled import resolve_model

    args.checkpoint = str(resolve_model(args.checkpoint, prefer="pt")[0])  # a bundled name too
    t0 = time.perf_counter()
    export_onnx(args.checkpoint, out, graph=args.graph, opset=args.opset, verbose=args.verbose)
    size = out.stat().st_size / 2**20
    print(f"wrote {out} ({args.graph} graph, {size:.1f} MiB) in {time.perf_counter() - t0:.1f} s")
    if args.no_check:
        return 0
    ref = load_predictor(args.checkpoint, backend="torch", device="cpu")
    onx = load_predictor(out, backend="onnx", device="cpu", graph=args.graph)
    rng = np.random.default_rng(0)
    T = ref.framing.T
    x = rng.poisson(0.3, size=(T, 2, *ref.input_shape)).astype(np.float32)
    a, b = ref.window(x), onx.window(x)
    diff = float(np.abs(a - b).max())
    agree = float((a.argmax(-1) == b.argmax(-1)).mean())
    print(
        f"parity on random frames [T={T}, N=2]: max |Δlogit| = {diff:.3g}, argmax agreement {agree:.1%}"
    )
    if diff > 1e-3:
        print("warning: ONNX and PyTorch outputs differ more than 1e-3")
        return 1
    return 0
