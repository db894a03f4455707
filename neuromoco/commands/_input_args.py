"""Command-line options for reading event files, shared by info, convert and evaluate: the
sensor size, and the options of text event files (CSV / TXT).

Light at import time (argparse only); the meaning of each text option is in
:mod:`neuromoco.formats.text`.
"""

from __future__ import annotations

import argparse

from neuromoco.polarity import POLARITY_POLICIES


def add_sensor_size_argument(parser: argparse.ArgumentParser, help: str) -> None:
    """``--sensor-size W H`` (pixels) with ``help``."""
    parser.add_argument("--sensor-size", nargs=2, type=int, metavar=("W", "H"), help=help)


def add_text_arguments(parser: argparse.ArgumentParser) -> None:
    """``--columns``, ``--time-unit``, ``--delimiter``, ``--polarity`` (text input files only)."""
    g = parser.add_argument_group(
        "text (CSV/TXT) input", "only for text event files; default: detected from the file"
    )
    g.add_argument(
        "--columns",
        default=None,
        help="column order, one letter per column from t x y p and _ (skip), e.g. txyp, xypt, txy",
    )
    g.add_argument(
        "--time-unit",
        choices=["s", "ms", "us", "ns"],
        default=None,
        help="unit of the t column (default: header's unit; decimals -> s; integers -> us)",
    )
    g.add_argument(
        "--delimiter",
        choices=[",", ";", "whitespace"],
        default=None,
        help="field separator (default: from the first line)",
    )
    g.add_argument(
        "--polarity",
        choices=POLARITY_POLICIES,
        default=None,
        help="polarity for a file without a polarity column (default: hash, ~50%% ON, "
        "deterministic per event)",
    )


def text_options(args: argparse.Namespace) -> dict:
    """The reading options given on the command line, as ``read_events(**options)`` keywords."""
    opts = {
        "columns": args.columns,
        "time_unit": args.time_unit,
        "delimiter": args.delimiter,
        "polarity": args.polarity,
    }
    return {k: v for k, v in opts.items() if v is not None}
