"""Convert an event file to another format without loss (aedat4, aedat3, npz outputs).

Reads any readable format (AEDAT 2.0/3.1/4.0, ATIS .bin, DAT/EVT2/EVT3, npz, CSV/TXT) and writes
OUT in --format (default: from OUT's suffix: .aedat4, .aedat → AEDAT 3.1, .npz). Events, their
order (stable-sorted by t) and the sensor size are kept exactly; the output is written atomically.
"""

from __future__ import annotations

import argparse


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="event file to read")
    parser.add_argument("output", help="file to write")
    parser.add_argument(
        "--format",
        dest="fmt",
        choices=["aedat4", "aedat3", "npz"],
        default=None,
        help="output format (default: from the output suffix)",
    )
    parser.add_argument(
        "--input-format", default=None, help="force the input format (default: detect)"
    )
    parser.add_argument(
        "--sensor-size", nargs=2, type=int, metavar=("W", "H"), help="override the input's size"
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    from neuromoco.commands._text_args import add_text_arguments

    add_text_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from neuromoco.events import read_recording, write_events

    out = Path(args.output)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out}: exists (pass --force to overwrite)")
    if Path(args.input).resolve() == out.resolve():
        raise ValueError(f"{out}: input and output are the same file")
    from neuromoco.commands._text_args import text_options

    rec = read_recording(
        args.input, sensor_size=args.sensor_size, format=args.input_format, **text_options(args)
    )
    write_events(out, rec.events, rec.sensor_size, format=args.fmt)
    print(
        f"wrote {out}: {rec.events.shape[0]:,} events, {rec.sensor_size[0]}x{rec.sensor_size[1]}"
        f" (from {rec.format}{', ' + str(rec.n_reordered) + ' reordered' if rec.n_reordered else ''})"
    )
    return 0
