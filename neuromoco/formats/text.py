"""Text event files (CSV / TXT): one event per line, numbers separated by commas or whitespace.

Layouts seen in the wild, all read by this module (format name ``text``):

* ``timestamp,x,y`` with a header, t in µs, no polarity column (DVS128 Gesture CSV exports such
  as ``../shared/testdata/dvsgesture_csv``);
* ``t x y p`` without a header, t in seconds as a decimal (the Event Camera Dataset's
  ``events.txt``);
* ``x,y,p,t`` (Metavision CSV export), ``x y t p``, and any order given by ``columns=``.

Reading options (keyword arguments of ``read_events`` / ``iter_events`` / ``read_recording``,
``--columns`` / ``--time-unit`` / ``--delimiter`` / ``--polarity`` on the command line):

``columns``
    One letter per column, in file order: ``t``, ``x``, ``y``, ``p`` (optional) and ``_`` for a
    column to ignore, e.g. ``"txyp"``, ``"xypt"``, ``"txy"``, ``"t_xyp"``. Default: from the
    header's column names (``t``/``ts``/``time``/``timestamp``, ``x``, ``y``,
    ``p``/``pol``/``polarity``/``on``, each optionally with a unit: ``t_us``, ``time [s]``); with
    no header, from the data: 3 columns are ``txy`` or ``xyt``, 4 are ``txyp``, ``xypt`` or
    ``xytp``; the candidate whose x/y columns hold non-negative integers, whose p column holds
    only -1/0/1 and whose t column goes backwards least often on the first 2000 lines wins (ties:
    the first of that list, i.e. t first).
``time_unit``
    ``"s"``, ``"ms"``, ``"us"`` or ``"ns"``. Default: the header's unit if it names one, else
    ``"s"`` when the timestamps are written with a decimal point or exponent, else ``"us"``.
    Timestamps become int64 µs exactly (decimal arithmetic, never binary floats):
    ``µs = floor(value × 10^k + 1/2)`` (the nearest µs, halves upward).
``delimiter``
    ``","``, ``";"`` or ``" "`` (any run of spaces/tabs). Default: ``","`` if the first line
    holds a comma, else ``";"`` if it holds a semicolon, else whitespace. Spaces around a comma
    are allowed; an empty field is an error.
``polarity``
    The policy for a file WITHOUT a polarity column (ignored when the file has one):
    ``"hash"`` (default), ``"on"`` (all p = 1) or ``"off"`` (all p = 0). See below.

Header and comments: lines starting with ``#`` are comments anywhere in the file; blank lines are
skipped; the first other line is a header when one of its fields is not a number. A UTF-8 byte
order mark is skipped. Line endings LF or CRLF.

Values: x and y are integers 0..65535 (pixels); p is 1 (ON) or 0 or -1 (OFF); t may go backwards
(the events are stable-sorted on read and counted in ``Recording.n_reordered``, as for every
format). Any other content raises :class:`~neuromoco.events.EventFormatError` naming the file and
the 1-based LINE NUMBER (a non-numeric field, a wrong field count, a negative or fractional
coordinate, a polarity of 2, ...). A zero-byte file, a header-only file and a file of blank or
comment lines hold zero events.

Sensor size: the ``sensor_size`` argument if given; else inferred from the events by the rule
every reader shares (:func:`neuromoco.formats.sensor_size.infer_sensor_size`): the smallest known
camera that holds every event, 128×128 (DVS128), 240×180 (DAVIS240), 346×260 (DAVIS346), 640×480
(VGA: Prophesee Gen3, DVXplorer), 1280×720 (HD: Prophesee Gen4), else (max x + 1, max y + 1).
Inferring it reads the whole file once more (pass ``sensor_size`` to skip that pass).

Polarity policy ``"hash"`` (the default for files without polarity): a deterministic function
of each event alone (t µs, x, y), about half ON, the same whatever the chunking; it and the other
policies are event transforms of :mod:`neuromoco.polarity` (``hash_polarity``).

Code: :mod:`neuromoco.formats.text_layout` finds the layout (delimiter, columns, unit),
:mod:`neuromoco.formats.text_parse` parses the lines; this module is the reader the format
registry names.

Speed: blocks of lines are parsed with numpy (a vectorised structure check, then
``np.fromstring`` on the block); a block holding anything unusual (comments, exponents, ``+``
signs, a bad line) is parsed line by line, which also pins the exact line of an error.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np

from neuromoco.formats.base import FileInfo, Head, rechunk
from neuromoco.formats.sensor_size import extent, infer_sensor_size
from neuromoco.formats.text_layout import Layout, find_layout
from neuromoco.formats.text_parse import iter_blocks
from neuromoco.types import SensorSize, concat_events

FORMAT = "text"
BLOCK_BYTES = 1 << 22
"""Bytes parsed at a time (~300 k events of a DVS CSV): bounds memory and keeps passes cached."""


def probe(
    path: Path,
    fmt: str = FORMAT,
    sensor_size: SensorSize | None = None,
    head: Head | None = None,
    *,
    columns: str | None = None,
    time_unit: str | None = None,
    delimiter: str | None = None,
    polarity: str | None = None,
) -> FileInfo:
    """Find the layout of a text event file (see the module docstring for the options and
    rules). Reads the first lines (its own, longer read: ``head`` is not used); when
    ``sensor_size`` is None, also every event (max x, y)."""
    path = Path(path)
    layout, extra = find_layout(path, columns, time_unit, delimiter, polarity)
    if sensor_size is None:
        n, max_x, max_y = extent(iter_blocks(path, layout, BLOCK_BYTES))
        sensor_size = infer_sensor_size(max_x, max_y)
        extra["sensor_size_inferred"] = True
        extra["n_events"] = n
    return FileInfo(FORMAT, tuple(sensor_size), None, layout.data_offset, extra)


def _layout(info: FileInfo) -> Layout:
    return info.extra["layout"]


def iter_chunks(path: Path, info: FileInfo, chunk_events: int) -> Iterator[np.ndarray]:
    """Events in file order, at most ``chunk_events`` per array, O(chunk_events + 4 MiB) memory."""
    return rechunk(iter_blocks(path, _layout(info), BLOCK_BYTES), max(1, int(chunk_events)))


def read(path: Path, info: FileInfo) -> np.ndarray:
    """Every event, file order."""
    return concat_events(iter_blocks(path, _layout(info), BLOCK_BYTES))
