"""Accuracy of every bundled model on the labelled real DVS128 Gesture clips, in window and stream
mode, through the app's own streaming path (``neuromoco.streaming.recording_evaluation``, the
code behind ``neuromoco evaluate MODEL --recordings``).

    python -m bench.real_clips [--labels ../shared/testdata/dvsgesture_csv/labels.csv] [--write]

Prints a markdown table (for docs/results.md) with the per-clip predictions and the confusion of
each model and mode; ``--write`` also records the figures in each model's shipped
``models/weights/NAME.json`` (key ``real_clips``, shown by ``neuromoco models``).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DEFAULT_LABELS = REPO.parent / "shared" / "testdata" / "dvsgesture_csv" / "labels.csv"


def measure(labels: Path, models: list[str], modes=("window", "stream")) -> dict:
    """``{model: {mode: evaluate_recordings result}}``."""
    from neuromoco.streaming.model import open_model
    from neuromoco.streaming.recording_evaluation import evaluate_recordings

    out: dict = {}
    for name in models:
        out[name] = {}
        for mode in modes:
            predictor = open_model(name, mode=mode)
            out[name][mode] = evaluate_recordings(predictor, labels, mode)
    return out


def markdown(results: dict, labels: Path) -> str:
    lines = [f"Labelled real clips: `{labels}` (through `neuromoco evaluate --recordings`).", ""]
    lines.append("| model | mode | correct | accuracy | seconds |")
    lines.append("|---|---|---|---|---|")
    for name, by_mode in results.items():
        for mode, r in by_mode.items():
            lines.append(
                f"| {name} | {mode} | {r['correct']}/{r['n']} | {100 * r['accuracy']:.0f} % | "
                f"{r['seconds']:.1f} |"
            )
    lines += ["", "Per clip (prediction; ✓ = right):", ""]
    first = next(iter(next(iter(results.values())).values()))
    head = "| clip | truth | " + " | ".join(f"{n} {m}" for n, by in results.items() for m in by)
    lines.append(head + " |")
    lines.append("|" + "---|" * (2 + sum(len(by) for by in results.values())))
    for i, c in enumerate(first["clips"]):
        cells = []
        for by in results.values():
            for r in by.values():
                k = r["clips"][i]
                cells.append(f"{k['pred'] or '—'} {'✓' if k['correct'] else '✗'}")
        lines.append(f"| {c['path']} | {c['label']} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_figures(results: dict, labels: Path) -> None:
    """Record ``real_clips`` in each bundled model's ``.json`` (atomically)."""
    from neuromoco.atomic import atomic_write_text
    from neuromoco.models.bundled import bundled_model

    for name, by_mode in results.items():
        m = bundled_model(name)
        figures = m.metrics()
        figures["real_clips"] = [
            {
                "labels": str(labels.relative_to(REPO.parent))
                if labels.is_relative_to(REPO.parent)
                else str(labels),
                "mode": mode,
                "n": r["n"],
                "correct": r["correct"],
                "accuracy": r["accuracy"],
                "clips": [{k: c[k] for k in ("path", "label", "pred")} for c in r["clips"]],
            }
            for mode, r in by_mode.items()
        ]
        figures.pop("shared_clips", None)  # the earlier, build-time measurement
        atomic_write_text(m.metrics_path, json.dumps(figures, indent=2) + "\n")


def main(argv: list[str] | None = None) -> int:
    from neuromoco.models.bundled import CLASSIFIERS

    ap = argparse.ArgumentParser(prog="python -m bench.real_clips", description=__doc__)
    ap.add_argument("--labels", default=str(DEFAULT_LABELS), help="path,label CSV")
    ap.add_argument("--models", nargs="*", default=list(CLASSIFIERS), help="bundled model names")
    ap.add_argument("--write", action="store_true", help="record the figures in weights/*.json")
    args = ap.parse_args(argv)
    labels = Path(args.labels)
    if not labels.is_file():
        print(f"{labels}: no such labels file (../shared/testdata is absent?)", file=sys.stderr)
        return 1
    results = measure(labels, args.models)
    print(markdown(results, labels))
    if args.write:
        write_figures(results, labels)
    return 0


if __name__ == "__main__":
    sys.exit(main())
