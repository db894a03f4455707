"""``neuromoco-app``: run a model live on a camera, a recording, a webcam or the procedural demo.

Without ``--headless`` the Qt window opens (when one can: a display, or
``QT_QPA_PLATFORM=offscreen``); otherwise predictions are printed as JSON lines (schema in
``neuromoco.app.headless``). Qt is imported on the GUI path only.
"""

from __future__ import annotations

import argparse
import os
import sys

from neuromoco.app import PROG
from neuromoco.app.engine_adapter import MODES, RECORD_FORMATS
from neuromoco.cli_errors import run_reporting_errors


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=PROG,
        description="Live SNN inference on event streams (camera, file, webcam or procedural demo).",
    )
    src = p.add_mutually_exclusive_group()
    src.add_argument(
        "--file", metavar="F", help="replay an event file (AEDAT 2/3.1/4, EVT2/3, DAT, .bin, .npz)"
    )
    src.add_argument(
        "--camera",
        nargs="?",
        const="",
        metavar="SERIAL",
        help="iniVation camera (first found, or by serial)",
    )
    src.add_argument(
        "--webcam",
        nargs="?",
        const=0,
        type=int,
        metavar="INDEX",
        help="webcam frames converted to events",
    )
    src.add_argument(
        "--demo", action="store_true", help="procedural gesture stream with ground truth (default)"
    )
    src.add_argument(
        "--list-cameras", action="store_true", help="list connected iniVation cameras and exit"
    )
    p.add_argument(
        "--headless", action="store_true", help="no window: print one JSON line per prediction"
    )
    p.add_argument(
        "--model",
        metavar="NAME|PATH",
        help="a bundled model (gesture-demo, dvs128-gesture), a model you taught (neuromoco "
        "models lists them) or a .pt checkpoint / .onnx file (default: gesture-demo)",
    )
    p.add_argument("--backend", choices=("auto", "torch", "onnx"), default="auto")
    p.add_argument("--mode", choices=MODES, default=None,
                   help="window: reset + T frames every hop; stream: one stateful step per bin "
                        "(default: the model's own: stream for dvs128-gesture, else window)")  # fmt: skip
    p.add_argument(
        "--speed",
        type=float,
        default=1.0,
        help="replay speed for --file/--demo (0 = as fast as possible)",
    )
    p.add_argument("--loop", action="store_true", help="replay --file forever")
    p.add_argument(
        "--record",
        metavar="OUT",
        help="record the raw input events to OUT as they arrive (.aedat4 default, .aedat, .dat, "
        ".raw with --record-format; not .npz): written to OUT's .partial file, renamed at the end",
    )
    p.add_argument(
        "--record-format",
        choices=RECORD_FORMATS,
        help="format of --record (default: from the suffix; .raw needs evt2 or evt3)",
    )
    p.add_argument("--max-seconds", type=float, help="stop after this many seconds of wall time")
    p.add_argument(
        "--hop-ms",
        type=float,
        help="prediction period in ms of stream time (default ≈33 ms; stream mode: one bin)",
    )
    p.add_argument("--window-ms", type=float, help="override the model's window length (ms)")
    p.add_argument(
        "--noise-filter-us",
        type=int,
        metavar="DT",
        help="neighbour (background-activity) filter: an event needs a neighbour event less than "
        "DT µs before it; 0 = off (default: 10000, or off when the model's framing already "
        "applies it, as dvs128-gesture's does)",
    )
    p.add_argument(
        "--no-hot-pixel-filter",
        action="store_true",
        help="keep pixels that fire far above their neighbours for seconds (masked by default)",
    )
    p.add_argument(
        "--no-gesture-gate",
        action="store_true",
        help="always show the top class, also in pauses (default: 'no gesture' while the scene "
        "is still, and a shown gesture changes only when another one wins for 0.3 s)",
    )
    p.add_argument(
        "--early-threshold", type=float, help="early decision: per-step confidence threshold"
    )
    p.add_argument(
        "--early-steps", type=int, default=3, help="early decision: consecutive steps (default 3)"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the --demo stream")
    gui = p.add_argument_group("window (not with --headless)")
    gui.add_argument(
        "--screenshot",
        metavar="OUT.png",
        help="save a PNG of the window at --quit-after (or when the window is closed)",
    )
    gui.add_argument(
        "--quit-after",
        type=float,
        metavar="SECONDS",
        help="close the window after this many seconds (exit status 1 if an error is shown)",
    )
    return p


def display_available(env=None) -> bool:
    """True when Qt can open a window: a display server, or an offscreen/minimal Qt platform."""
    env = os.environ if env is None else env
    if env.get("DISPLAY") or env.get("WAYLAND_DISPLAY"):
        return True
    return env.get("QT_QPA_PLATFORM", "").split(":")[0] in ("offscreen", "minimal", "vnc")


def _source_of(args) -> tuple[str, object]:
    if args.file is not None:
        return "file", args.file
    if args.camera is not None:
        return "camera", args.camera or None
    if args.webcam is not None:
        return "webcam", args.webcam
    return "demo", None


def _check(p: argparse.ArgumentParser, args) -> None:
    if args.speed < 0:
        p.error(f"--speed must be ≥ 0, got {args.speed}")
    for name in ("max_seconds", "hop_ms", "window_ms"):
        v = getattr(args, name)
        if v is not None and v <= 0:
            p.error(f"--{name.replace('_', '-')} must be positive, got {v}")
    if args.early_threshold is not None and not 0 < args.early_threshold <= 1:
        p.error(f"--early-threshold must be in (0, 1], got {args.early_threshold}")
    if args.early_steps < 1:
        p.error(f"--early-steps must be ≥ 1, got {args.early_steps}")
    if args.noise_filter_us is not None and args.noise_filter_us < 0:
        p.error(f"--noise-filter-us must be ≥ 0 (0 = off), got {args.noise_filter_us}")
    if args.loop and args.file is None:
        p.error("--loop applies to --file only")
    if args.quit_after is not None and args.quit_after <= 0:
        p.error(f"--quit-after must be positive, got {args.quit_after}")
    if args.record_format is not None and args.record is None:
        p.error("--record-format needs --record")
    if args.headless and (args.screenshot or args.quit_after is not None):
        p.error("--screenshot/--quit-after need the window; with --headless use --max-seconds")


def main(argv: list[str] | None = None) -> int:
    # Before torch/onnxruntime load: OpenMP threads that spin while waiting make inference 3-5x
    # slower and erratic when the source, GUI and other programs share the cores (bench_models).
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    p = build_parser()
    args = p.parse_args(argv)
    _check(p, args)
    args.source_kind, args.source_value = _source_of(args)
    return run_reporting_errors(PROG, lambda: _run(args))


def _run(args) -> int:
    if args.mode is None:
        from neuromoco.streaming.model import preferred_mode

        args.mode = preferred_mode(args.model, args.source_kind)
    if args.list_cameras:
        from neuromoco.streaming.camera_source import list_cameras

        cams = list_cameras()
        for c in cams:
            print(f"{c['model']}\t{c['serial']}")
        if not cams:
            print(f"{PROG}: no iniVation camera found", file=sys.stderr)
        return 0
    if args.record is not None:
        from neuromoco.streaming.recorder import check_record_target

        # a bad target fails now, not once the model and the source are loaded
        check_record_target(args.record, args.record_format)
    headless = args.headless
    if not headless and (args.screenshot or args.quit_after) and not display_available():
        # unattended window (docs, CI): render offscreen rather than fall back to headless
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
    if not headless and not display_available():
        print(f"{PROG}: no display available (DISPLAY/WAYLAND_DISPLAY unset): running headless", file=sys.stderr)  # fmt: skip
        headless = True
    if not headless:
        from neuromoco.app.gui import run_gui

        return int(run_gui(args) or 0)
    from neuromoco.app.headless import run

    return run(args)


if __name__ == "__main__":
    sys.exit(main())
