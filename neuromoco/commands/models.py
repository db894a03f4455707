"""List the bundled models (and, with --architectures, every registered architecture).

A bundled model's NAME works wherever a command or the app takes a model (``--model NAME``,
``neuromoco evaluate NAME``). For each: the files shipped, the default source kinds it runs on,
its architecture, framing and the accuracy figures shipped with it (per clip, and live: the
continuous benchmark of ``python -m bench live``), and its model card.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--architectures",
        action="store_true",
        help="also list the registered architectures (imports torch: slower)",
    )


def _framing_text(f: dict) -> str:
    if not f:
        return "?"
    w, h = f.get("size", ("?", "?"))
    win = f.get("window_us")
    win = f"{win / 1e3:g} ms window" if win else "whole clip"
    bins = f"T={f.get('T')} {f.get('split_by', '?')} bins"
    extra = f", denoise {f['denoise_us'] / 1e3:g} ms" if f.get("denoise_us") else ""
    return f"{w}x{h}, {win}, {bins}{extra}"


def run(args: argparse.Namespace) -> int:
    from neuromoco.models.bundled import BUNDLED, SOURCE_DEFAULTS

    for m in BUNDLED.values():
        path = m.path()
        met = m.metrics()
        defaults = [k for k, v in SOURCE_DEFAULTS.items() if v == m.name]
        print(m.name)
        print(f"  {m.summary}")
        files = ".pt/.json" if m.kind == "encoder" else ".onnx/.pt/.json"
        print(f"  files:     {path.parent if path else 'NOT SHIPPED'}: {m.stem}{files}")
        if m.kind == "encoder":
            print(
                f"  use:       neuromoco teach --examples EXAMPLES.csv --out MINE.onnx --base {m.name} --only"
            )
        else:
            print(f"  default:   neuromoco-app {' '.join('--' + k for k in defaults) or '(none)'}")
        print(f"  arch:      {met.get('arch', '?')}")
        print(f"  framing:   {_framing_text(met.get('framing') or {})}")
        if "top1" in met:
            print(f"  accuracy:  {100 * met['top1']:.1f} % ({met.get('top1_on', 'its test set')})")
        for r in met.get("real_clips", []):
            print(
                f"  real clips: {r['correct']}/{r['n']} in {r['mode']} mode "
                f"({r.get('labels', 'labelled recordings')})"
            )
        cont = met.get("continuous") or {}
        for r in cont.get("rows", []):
            ttr = r.get("time_to_right_s_median")
            print(
                f"  live ({r['mode']}, {r['room']}): {100 * r['in_gesture_right']:.1f} % of "
                f"in-gesture hops right, {100 * r['pause_no_gesture']:.1f} % of pause hops "
                f"'no gesture', right after {'—' if ttr is None else f'{ttr:.2f} s'} (median)"
            )
        print(f"  card:      {m.card}")
    from neuromoco.models.user_models import list_user_models, user_models_dir

    mine = list_user_models()
    print(f"your models ({user_models_dir()}): {'none yet' if not mine else len(mine)}")
    for name, path, card in mine:
        classes = card.get("classes") or []
        print(f"{name}")
        print(f"  {path}")
        if card:
            print(
                f"  taught on {card.get('base', '?')}: {len(classes)} classes "
                f"({', '.join(card.get('new_classes') or []) or 'no new class'} new), "
                f"{len(card.get('examples') or [])} examples, {card.get('seconds', '?')} s"
            )
            modes = card.get("modes") or ["window", "stream"]  # (cards before direction features)
            if modes == ["window"]:
                print("  runs in window mode only (direction features)")
    if args.architectures:
        from neuromoco.models.registry import list_models

        print("registered architectures: " + ", ".join(list_models()))
    return 0
