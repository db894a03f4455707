"""Show what an event file holds: format, camera, event count, time span, sensor size, ON fraction.

Reads the file in chunks (bounded memory, so multi-GB recordings work). Timestamps are printed in
µs as stored in the file (not shifted to 0). `reordered` counts events that were out of timestamp
order in the file. Exit status 1 with a one-line reason for unreadable files.
"""

from __future__ import annotations

import argparse

from neuromoco.commands._input_args import add_sensor_size_argument


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file", help="event file (AEDAT 2.0/3.1/4.0, ATIS .bin, DAT/EVT2/EVT3, npz, CSV/TXT)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    add_sensor_size_argument(
        parser,
        "override the sensor size (width height, pixels) the file states or implies",
    )
    parser.add_argument(
        "--format", dest="fmt", default=None, help="force the input format (default: detect)"
    )
    from neuromoco.commands._input_args import add_text_arguments

    add_text_arguments(parser)


def summarize(
    path, sensor_size=None, format=None, chunk_events: int = 4_000_000, **options
) -> dict:
    """The facts `neuromoco info` prints, as a dict (counts, µs, pixels). ``options``: reading
    options of text files (``columns``, ``time_unit``, ...; see neuromoco.formats.text)."""
    from neuromoco.events import iter_events

    n = n_on = 0
    t_first = t_last = None
    with iter_events(
        path, chunk_events=chunk_events, sensor_size=sensor_size, format=format, **options
    ) as ch:
        for ev in ch:
            n += ev.shape[0]
            n_on += int(ev["p"].sum(dtype="int64"))
            t0, t1 = int(ev["t"][0]), int(ev["t"][-1])
            t_first = t0 if t_first is None else min(t_first, t0)
            t_last = t1 if t_last is None else max(t_last, t1)
        w, h = ch.sensor_size
        return {
            "file": str(path),
            "format": ch.format,
            "camera": ch.camera,
            "events": n,
            "t_first_us": t_first,
            "t_last_us": t_last,
            "duration_us": (t_last - t_first) if n else 0,
            "width": w,
            "height": h,
            "on_fraction": (n_on / n) if n else None,
            "reordered": ch.n_reordered,
            # None: polarity read from the file; else the policy that assigned it (text files
            # without a polarity column, see neuromoco.formats.text)
            "polarity_policy": ch.extra.get("polarity_policy"),
            "text_layout": {
                k: ch.extra[k] for k in ("columns", "time_unit", "delimiter") if k in ch.extra
            }
            or None,
        }


def run(args: argparse.Namespace) -> int:
    from neuromoco.commands._input_args import text_options

    info = summarize(args.file, sensor_size=args.sensor_size, format=args.fmt, **text_options(args))
    if args.json:
        import json

        print(json.dumps(info))
        return 0
    dur = info["duration_us"]
    on = info["on_fraction"]
    rows = [
        ("file", info["file"]),
        ("format", info["format"]),
        ("camera", info["camera"] or "unknown"),
        ("events", f"{info['events']:,}"),
        ("first t", "-" if info["t_first_us"] is None else f"{info['t_first_us']} µs"),
        ("last t", "-" if info["t_last_us"] is None else f"{info['t_last_us']} µs"),
        ("duration", f"{dur} µs ({dur / 1e6:.6f} s)"),
        ("width", info["width"]),
        ("height", info["height"]),
        ("ON fraction", "-" if on is None else f"{on:.4f}"),
        ("reordered", info["reordered"]),
    ]
    if info["text_layout"]:
        lay = info["text_layout"]
        rows.insert(
            2,
            (
                "columns",
                f"{lay['columns']} (t in {lay['time_unit']}, delimiter {lay['delimiter']!r})",
            ),
        )
    if info["polarity_policy"]:
        rows.append(
            (
                "polarity",
                f"no polarity column: polarity assigned by policy '{info['polarity_policy']}'"
                " (see neuromoco.formats.text)",
            )
        )
    for k, v in rows:
        print(f"{k:<12} {v}")
    return 0
