"""Convert an event file to another format without loss (aedat4, aedat3, evt2, evt3, dat, npz).

Reads any readable format (AEDAT 2.0/3.1/4.0, ATIS .bin, DAT/EVT2/EVT3, npz, CSV/TXT) and writes
OUT in --format (default: from OUT's suffix, the rule of every writer,
``neuromoco.formats.registry.output_format``: .aedat4, .aedat/.aedat3 → AEDAT 3.1, .dat, .npz;
.raw needs --format evt2/evt3). Events, their order (stable-sorted by t) and the sensor size are kept
exactly; the output is written atomically (a temporary file renamed when complete).

Memory is bounded whatever the file size: chunks from ``iter_events`` go straight into a
streaming writer (``neuromoco.formats.writer``); npz alone cannot be streamed (its arrays' lengths
precede their data) and is converted in memory. Order: ``iter_events`` sorts each chunk; an
event older than the previous chunk's last one is merged back by holding one chunk
(``--chunk-events``) before writing it, which gives exactly the whole-file stable sort as long as
no event is displaced by more than one chunk. A file that breaks that (never seen in real
recordings, whose inversions span microseconds) stops the conversion with an error naming the
event, instead of silently writing a different order; a larger --chunk-events fixes it.
"""

from __future__ import annotations

import argparse

from neuromoco.commands._input_args import add_sensor_size_argument
from neuromoco.formats import registry


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", help="event file to read")
    parser.add_argument("output", help="file to write")
    parser.add_argument(
        "--format",
        dest="fmt",
        choices=registry.WRITABLE,
        default=None,
        help="output format (default: from the output suffix)",
    )
    parser.add_argument(
        "--input-format", default=None, help="force the input format (default: detect)"
    )
    add_sensor_size_argument(
        parser,
        "override the input's size",
    )
    parser.add_argument("--force", action="store_true", help="overwrite an existing output file")
    parser.add_argument(
        "--chunk-events",
        type=int,
        default=1_000_000,
        help="events read per chunk; also the reorder window (default 1000000)",
    )
    from neuromoco.commands._input_args import add_text_arguments

    add_text_arguments(parser)


class ChunkReorder:
    """Merge events that come back in time across chunk boundaries, holding one chunk.

    ``push(chunk)`` (each chunk sorted by t, chunks in file order) returns the events that are
    now final, in the order a stable sort of the whole file gives; ``finish()`` returns the
    rest. Raises ``ValueError`` when an event is older than events already returned (displaced
    by more than one chunk).
    """

    def __init__(self, name: str):
        self.name = name
        self._held = None
        self._last_out: int | None = None

    def push(self, chunk):
        import numpy as np

        held, self._held = self._held, chunk
        if self._last_out is not None and chunk.size and int(chunk["t"][0]) < self._last_out:
            raise ValueError(
                f"{self.name}: an event at t={int(chunk['t'][0])} µs comes after events up to "
                f"t={self._last_out} µs were written (displaced by more than one chunk): "
                "convert with a larger --chunk-events"
            )
        if held is None or held.size == 0:
            return None
        # events of the new chunk older than the held chunk's last event belong among its events
        k = int(np.searchsorted(chunk["t"], held["t"][-1], side="left"))
        if k == 0:
            out = held
        else:
            both = np.concatenate([held, chunk[:k]])
            out = both[np.argsort(both["t"], kind="stable")]  # held first on equal t
            self._held = chunk[k:]
        self._last_out = int(out["t"][-1])
        return out

    def finish(self):
        held, self._held = self._held, None
        return held


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from neuromoco.events import iter_events, read_recording, write_events

    out = Path(args.output)
    if out.exists() and not args.force:
        raise FileExistsError(f"{out}: exists (pass --force to overwrite)")
    if Path(args.input).resolve() == out.resolve():
        raise ValueError(f"{out}: input and output are the same file")
    from neuromoco.commands._input_args import text_options

    fmt = registry.output_format(out, args.fmt, option="--format")
    if not registry.get(fmt).stream_writable:  # npz: whole file in memory
        rec = read_recording(
            args.input, sensor_size=args.sensor_size, format=args.input_format, **text_options(args)
        )
        write_events(out, rec.events, rec.sensor_size, format=fmt)
        n, size, src, n_bad = rec.events.shape[0], rec.sensor_size, rec.format, rec.n_reordered
    else:
        from neuromoco.atomic import atomic_path
        from neuromoco.formats.writer import open_writer

        with iter_events(
            args.input,
            chunk_events=args.chunk_events,
            sensor_size=args.sensor_size,
            format=args.input_format,
            **text_options(args),
        ) as chunks:
            size, src = chunks.sensor_size, chunks.format
            reorder = ChunkReorder(str(args.input))
            with (
                atomic_path(out) as tmp,
                open_writer(tmp, size, format=fmt, overwrite=True, label=out) as writer,
            ):
                for ev in chunks:
                    ready = reorder.push(ev)
                    if ready is not None:
                        writer.write(ready)
                rest = reorder.finish()
                if rest is not None:
                    writer.write(rest)
            n, n_bad = writer.events_written, chunks.n_reordered
    print(
        f"wrote {out}: {n:,} events, {size[0]}x{size[1]}"
        f" (from {src}{', ' + str(n_bad) + ' reordered' if n_bad else ''})"
    )
    return 0
