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

Sensor size: the ``sensor_size`` argument if given; else the smallest known camera that holds
every event: 128×128 (DVS128), 240×180 (DAVIS240), 346×260 (DAVIS346), 640×480 (VGA: Prophesee
Gen3, DVXplorer), 1280×720 (HD: Prophesee Gen4), else (max x + 1, max y + 1). Inferring it reads
the whole file once more (pass ``sensor_size`` to skip that pass).

Polarity policy ``"hash"`` (the default for files without polarity): ``p`` is the top bit of the
splitmix64 finaliser of ``uint64(t) XOR (x + 65536·y + 1) · 0x9E3779B97F4A7C15`` (t in µs after
unit conversion, arithmetic mod 2^64), see :func:`hash_polarity`. It is deterministic and depends
on the event alone, so whole reads, chunked reads, the app and evaluation all get the same
events; about half of the events are ON, with no spatial or temporal pattern, the way ON/OFF are
balanced in real DVS recordings of moving hands (measured in docs/text_events.md, which also gives
the accuracy of each policy with a two-channel model trained on real data).

Speed: blocks of lines are parsed with numpy (a vectorised structure check, then
``np.fromstring`` on the block); a block holding anything unusual (comments, exponents, ``+``
signs, a bad line) is parsed line by line, which also pins the exact line of an error.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import ROUND_FLOOR, Decimal, InvalidOperation
from pathlib import Path

import numpy as np

from neuromoco.formats.base import FileInfo
from neuromoco.types import EVENT_DTYPE, EventFormatError, SensorSize, concat_events

FORMAT = "text"
DEFAULT_SENSOR_SIZE: dict[str, SensorSize] = {FORMAT: (128, 128)}
OPTIONS: tuple[str, ...] = ("columns", "time_unit", "delimiter", "polarity")
"""Keyword options :func:`probe` accepts (passed through ``read_events(..., **options)``)."""
TIME_UNITS: dict[str, int] = {"s": 6, "ms": 3, "us": 0, "ns": -3}
"""Unit -> k with µs = value × 10^k."""
POLARITY_POLICIES: tuple[str, ...] = ("hash", "on", "off")
DEFAULT_POLARITY = "hash"
DELIMITERS: tuple[str, ...] = (",", ";", " ")
INFERRED_SIZES: list[SensorSize] = [(128, 128), (240, 180), (346, 260), (640, 480), (1280, 720)]
HEADERLESS_CANDIDATES: dict[int, tuple[str, ...]] = {
    3: ("txy", "xyt"),
    4: ("txyp", "xypt", "xytp"),
}

BLOCK_BYTES = 1 << 22
"""Bytes parsed at a time (~300 k events of a DVS CSV): bounds memory and keeps passes cached."""
MAX_LINE_BYTES = 1 << 20
PROBE_BYTES = 1 << 18
"""probe reads this much (the header, the sample lines) unless the first line is longer."""
SAMPLE_LINES = 2000
_MAX_DIGITS = 18  # an int64 holds every 18-digit number
_MAX_FIELD = 64  # longer fields are refused before Python parses them (int() is quadratic)

_NAMES = {
    "t": ("t", "ts", "time", "times", "timestamp", "timestamps", "time_stamp", "t_stamp"),
    "x": ("x", "xs", "x_coord", "col"),
    "y": ("y", "ys", "y_coord", "row"),
    "p": ("p", "pol", "polarity", "polarities", "on", "sign"),
}
_NAME_TO_COL = {name: col for col, names in _NAMES.items() for name in names}
_UNIT_WORDS = {"s": "s", "sec": "s", "ms": "ms", "us": "us", "µs": "us", "usec": "us", "ns": "ns"}
_HEADER_RE = re.compile(
    r"^([a-zµ_ ]*?)(?:[\s_\-]*[\[(]\s*([a-zµ]+)\s*[\])]|[\s_\-]+(s|sec|ms|us|µs|usec|ns))?$"
)
_HEADER_TEXT = re.compile(r"^[\w\s,;\"'\[\]()µ/\-]+$")
_CONTROL = bytes(range(9)) + bytes(range(14, 32)) + b"\x7f"
_INT_RE = re.compile(rb"^[+-]?\d+$")
_NUM_RE = re.compile(rb"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")

# Byte classes for the vectorised block check.
_TOKEN = np.zeros(256, dtype=bool)  # bytes that belong to a number
_TOKEN[list(b"0123456789-.")] = True
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[list(b"0123456789")] = True
_POW10 = 10 ** np.arange(19, dtype=np.int64)
_INT64_MAX = 2**63 - 1


@dataclass(frozen=True)
class Layout:
    """How a text event file is laid out (what :func:`probe` found or was told)."""

    columns: str
    time_unit: str
    delimiter: str
    polarity: str
    """"file" when the file has a p column, else the policy name."""
    data_offset: int
    first_line: int
    """1-based line number of the byte at ``data_offset``."""


# --------------------------------------------------------------------------------------------
# Polarity policy


def hash_polarity(t: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The ``"hash"`` polarity (uint8 0/1) of events (t µs, x, y pixels): a function of each
    event alone (splitmix64 finaliser of ``uint64(t) ^ (x + 65536·y + 1)·0x9E3779B97F4A7C15``,
    top bit), so any chunking of a file gives the same polarities."""
    with np.errstate(over="ignore"):
        z = np.asarray(t, dtype=np.int64).view(np.uint64) ^ (
            (
                np.asarray(x, dtype=np.uint64)
                + (np.asarray(y, dtype=np.uint64) << np.uint64(16))
                + np.uint64(1)
            )
            * np.uint64(0x9E3779B97F4A7C15)
        )
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(63)).astype(np.uint8)


def assign_polarity(policy: str, t: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Polarity (uint8 0/1) for events read from a file without a polarity column."""
    if policy == "hash":
        return hash_polarity(t, x, y)
    if policy in ("on", "off"):
        return np.full(np.shape(t), 1 if policy == "on" else 0, dtype=np.uint8)
    raise ValueError(f"unknown polarity policy {policy!r}; known: {', '.join(POLARITY_POLICIES)}")


# --------------------------------------------------------------------------------------------
# Detection and probing


def looks_like_text(head: bytes, text_suffix: bool = False) -> bool:
    """True when ``head`` (the first bytes of a file) is an event text file: text without
    control bytes whose first non-comment line is a header or 3..8 numbers, followed by a line
    of numbers (or nothing: a header-only file). With ``text_suffix`` (.csv/.txt), text of only
    blank and comment lines counts too (a file with zero events)."""
    if head.startswith(b"\xef\xbb\xbf"):
        head = head[3:]
    if head.translate(None, _CONTROL) != head:
        return False
    lines = head.split(b"\n")
    content = [s for s in (ln.strip() for ln in lines[:64]) if s and not s.startswith(b"#")]
    if not content:
        return text_suffix
    delim = _guess_delimiter(content[0])
    for i, line in enumerate(content[:2]):
        fields = _split(line, delim)
        if not 3 <= len(fields) <= 8:
            return False
        if all(_NUM_RE.match(f) for f in fields):
            return True
        names = line.decode("utf-8", "replace")
        if i > 0 or any(_NUM_RE.match(f) for f in fields) or not _HEADER_TEXT.match(names):
            return False
    return len(content) == 1  # a header-only file


def _guess_delimiter(line: bytes) -> str:
    if b"," in line:
        return ","
    if b";" in line:
        return ";"
    return " "


def _split(line: bytes, delimiter: str) -> list[bytes]:
    if delimiter == " ":
        return line.split()
    return [f.strip() for f in line.split(delimiter.encode())]


def _check_columns(columns: str, path) -> str:
    cols = str(columns).strip().lower()
    ok = (
        bool(cols)
        and set(cols) <= set("txyp_")
        and all(cols.count(c) == 1 for c in "txy")
        and cols.count("p") <= 1
    )
    if not ok:
        raise EventFormatError(
            path,
            f"columns={columns!r}: give one letter per column from t, x, y, p and _ (ignored), "
            "with t, x and y once each and p at most once (e.g. 'txyp', 'xypt', 'txy')",
        )
    return cols


def _header_columns(fields: list[bytes]) -> tuple[str | None, str | None]:
    """Columns and time unit named by a header line, or (None, None) when a name is unknown."""
    cols = []
    unit = None
    for raw in fields:
        name = raw.decode("utf-8", "replace").strip().strip("\"'").lower()
        m = _HEADER_RE.match(name)
        if not m:
            return None, None
        base = m.group(1).strip(" _-")
        col = _NAME_TO_COL.get(base)
        u = m.group(2) or m.group(3)
        if col is None:
            return None, None
        if u is not None:
            if u not in _UNIT_WORDS:
                return None, None
            if col == "t":
                unit = _UNIT_WORDS[u]
        if col in cols:
            return None, None
        cols.append(col)
    text = "".join(cols)
    if not all(text.count(c) == 1 for c in "txy"):
        return None, None
    return text, unit


def _infer_columns(
    sample: list[list[bytes]], lines: list[int], ncols: int, path
) -> tuple[str, str]:
    """Pick the headerless column order (see the module docstring); returns (columns, how)."""
    for fields, no in zip(sample, lines, strict=True):
        for j, f in enumerate(fields):
            if not _NUM_RE.match(f):
                raise _bad(path, no, f"field {j + 1} is not a number: {f[:40].decode('latin-1')!r}")
    cands = HEADERLESS_CANDIDATES.get(ncols)
    if cands is None:
        raise EventFormatError(
            path,
            f"{ncols} columns and no header naming them: pass columns= (e.g. 'txyp', with _ "
            "for a column to skip)",
        )
    cells = list(zip(*sample, strict=False))  # per column
    ints = [all(_INT_RE.match(v) and not v.startswith(b"-") for v in col) for col in cells]
    pol = [all(v in (b"0", b"1", b"-1") for v in col) for col in cells]
    scores = []
    for cand in cands:
        if not all(ints[i] for i, c in enumerate(cand) if c in "xy"):
            continue
        if "p" in cand and not pol[cand.index("p")]:
            continue
        tcol = cells[cand.index("t")]
        try:
            tv = [Decimal(v.decode()) for v in tcol]
        except InvalidOperation:
            continue
        back = sum(b < a for a, b in zip(tv, tv[1:], strict=False))
        scores.append((back, cands.index(cand), cand))
    if not scores:
        raise EventFormatError(
            path,
            f"cannot tell the order of the {ncols} columns (tried {', '.join(cands)}: x/y must "
            "be non-negative integers, p -1/0/1): pass columns=",
        )
    scores.sort()
    tie = len(scores) > 1 and scores[0][0] == scores[1][0]
    return scores[0][2], "default t-first (ambiguous)" if tie else "detected from the data"


def probe(
    path: Path,
    fmt: str = FORMAT,
    sensor_size: SensorSize | None = None,
    *,
    columns: str | None = None,
    time_unit: str | None = None,
    delimiter: str | None = None,
    polarity: str | None = None,
) -> FileInfo:
    """Find the layout of a text event file (see the module docstring for the options and
    rules). Reads the first lines; when ``sensor_size`` is None, also every event (max x, y)."""
    path = Path(path)
    if time_unit is not None and time_unit not in TIME_UNITS:
        raise EventFormatError(
            path, f"time_unit={time_unit!r}: one of {', '.join(TIME_UNITS)} (s, ms, µs, ns)"
        )
    if delimiter is not None:
        delimiter = {"\\t": " ", "\t": " ", "whitespace": " ", "space": " "}.get(
            delimiter, delimiter
        )
        if delimiter not in DELIMITERS:
            raise EventFormatError(
                path, f"delimiter={delimiter!r}: one of ',', ';' or ' ' (whitespace)"
            )
    if polarity is not None and polarity not in POLARITY_POLICIES:
        raise EventFormatError(
            path, f"polarity={polarity!r}: one of {', '.join(POLARITY_POLICIES)}"
        )
    if columns is not None:
        columns = _check_columns(columns, path)

    with open(path, "rb") as f:
        head = f.read(PROBE_BYTES)
        cut = len(head) == PROBE_BYTES  # the file goes on after `head`
        if cut and b"\n" not in head:  # one long first line: read up to the line limit
            head += f.read(MAX_LINE_BYTES - PROBE_BYTES)
            cut = len(head) == MAX_LINE_BYTES
    start = 3 if head.startswith(b"\xef\xbb\xbf") else 0
    # Leading blank/comment lines, then a header line (if any), then data lines (sampled).
    pos, line_no = start, 1
    header: list[bytes] | None = None
    header_line = 0
    delim = delimiter
    data_offset = data_line = None
    sample: list[bytes] = []
    sample_lines: list[int] = []
    while pos < len(head) and len(sample) < SAMPLE_LINES:
        nl = head.find(b"\n", pos)
        if nl < 0:
            if cut:
                if pos == start and len(head) >= MAX_LINE_BYTES:
                    raise EventFormatError(
                        path,
                        f"line {line_no} is longer than {MAX_LINE_BYTES >> 20} MiB: "
                        "not an event text file",
                    )
                break  # the sample (or the header search) ends before a line cut by the read
            nl = len(head)
        line = head[pos:nl].strip()
        if line and not line.startswith(b"#"):
            if delim is None:
                delim = _guess_delimiter(line)
            fields = _split(line, delim)
            if data_offset is None and header is None and not any(_NUM_RE.match(v) for v in fields):
                header, header_line = fields, line_no
            else:
                if data_offset is None:
                    data_offset, data_line = pos, line_no
                sample.append(fields)
                sample_lines.append(line_no)
        pos, line_no = nl + 1, line_no + 1
    if data_offset is None:  # header and/or comments only
        data_offset, data_line = min(pos, len(head)), line_no
    delim = delim or ","

    header_unit = None
    how_cols = "option"
    if columns is None and header is not None:
        columns, header_unit = _header_columns(header)
        how_cols = "header"
        if columns is None:
            names = ", ".join(repr(h.decode("utf-8", "replace")) for h in header)
            raise EventFormatError(
                path,
                f"line {header_line}: header {names} does not name the columns t, x, y "
                "[, p]: pass columns= (e.g. 'txyp', with _ for a column to skip)",
            )
    if columns is None and not sample:
        columns, how_cols = "txy", "none (no event lines)"
    if columns is None:
        ncols = len(sample[0])
        bad = [i for i, f in enumerate(sample) if len(f) != ncols]
        if bad:
            raise EventFormatError(
                path,
                f"line {sample_lines[bad[0]]}: {_fields(len(sample[bad[0]]))}, but line "
                f"{sample_lines[0]} has {ncols}",
            )
        columns, how_cols = _infer_columns(sample, sample_lines, ncols, path)
    if header is not None and len(header) != len(columns):
        raise EventFormatError(
            path,
            f"line {header_line}: the header has {len(header)} fields but columns="
            f"{columns!r} has {len(columns)}",
        )
    how_unit = "option"
    if time_unit is None:
        if header_unit is not None:
            time_unit, how_unit = header_unit, "header"
        else:
            ti = columns.index("t")
            decimal = any(len(f) > ti and (b"." in f[ti] or b"e" in f[ti].lower()) for f in sample)
            time_unit = "s" if decimal else "us"
            how_unit = "detected (decimal point: seconds)" if decimal else "detected (integers: µs)"
    pol = "file" if "p" in columns else (polarity or DEFAULT_POLARITY)
    layout = Layout(columns, time_unit, delim, pol, int(data_offset), int(data_line))
    extra = {
        "columns": columns,
        "columns_source": how_cols,
        "time_unit": time_unit,
        "time_unit_source": how_unit,
        "delimiter": "whitespace" if delim == " " else delim,
        "header": header is not None,
        "polarity_policy": None if pol == "file" else pol,
        "layout": layout,
    }
    if sensor_size is None:
        xmax = ymax = -1
        n = 0
        for ev in _iter_blocks(path, layout, BLOCK_BYTES):
            n += ev.shape[0]
            if ev.size:
                xmax = max(xmax, int(ev["x"].max()))
                ymax = max(ymax, int(ev["y"].max()))
        sensor_size = infer_sensor_size(xmax, ymax)
        extra["sensor_size_inferred"] = True
        extra["n_events"] = n
    return FileInfo(FORMAT, tuple(sensor_size), None, int(data_offset), extra)


def infer_sensor_size(xmax: int, ymax: int) -> SensorSize:
    """The smallest known camera holding pixels up to (xmax, ymax), else (xmax+1, ymax+1)."""
    for w, h in INFERRED_SIZES:
        if xmax < w and ymax < h:
            return w, h
    return xmax + 1, ymax + 1


# --------------------------------------------------------------------------------------------
# Parsing


def _layout(info: FileInfo) -> Layout:
    return info.extra["layout"]


def _fields(n: int) -> str:
    return "1 field" if n == 1 else f"{n} fields"


def _bad(path, line: int, reason: str) -> EventFormatError:
    return EventFormatError(path, f"line {line}: {reason}")


def _to_events(path, layout: Layout, t, x, y, p, line_of: Callable[[int], int]) -> np.ndarray:
    """Range-check parsed columns (int64 arrays; ``line_of(i)``: 1-based line of event i) and
    pack them."""
    for name, v in (("x", x), ("y", y)):
        if v.size and (int(v.min()) < 0 or int(v.max()) > 0xFFFF):
            i = int(np.flatnonzero((v < 0) | (v > 0xFFFF))[0])
            what = "negative" if v[i] < 0 else "larger than 65535"
            raise _bad(path, line_of(i), f"{name} = {int(v[i])} is {what} (pixels)")
    if p is not None and p.size and (int(p.min()) < -1 or int(p.max()) > 1):
        i = int(np.flatnonzero((p < -1) | (p > 1))[0])
        raise _bad(path, line_of(i), f"polarity {int(p[i])} is not 1, 0 or -1")
    ev = np.empty(t.shape[0], dtype=EVENT_DTYPE)
    ev["t"] = t
    ev["x"] = x
    ev["y"] = y
    if p is None:
        ev["p"] = assign_polarity(layout.polarity, t, x, y)
    else:
        ev["p"] = p > 0
    return ev


def _seconds_to_us(token: bytes, k: int) -> int:
    """Exact decimal -> µs: floor(value × 10^k + 1/2)."""
    if _INT_RE.match(token) and k >= 0:
        return int(token) * 10**k
    try:
        d = Decimal(token.decode())
    except ArithmeticError:  # an exponent beyond decimal's range (10**18 digits): overflows
        return -(2**64) if token.startswith(b"-") else 2**64
    if d.is_finite() and d and d.adjusted() + k > 19:
        # |value| >= 10**20 µs: beyond int64 whatever the digits. Said before any arithmetic:
        # "1E728005" would otherwise become a 728,005-digit integer (~20 s per field)
        return -(2**64) if d < 0 else 2**64
    d = d.scaleb(k) + Decimal("0.5")
    return int(d.to_integral_value(rounding=ROUND_FLOOR))


def _parse_slow(path, layout: Layout, buf: bytes, first_line: int) -> np.ndarray:
    """Line-by-line parse of a block (comments, exponents, '+' signs; exact error lines)."""
    cols = layout.columns
    n = len(cols)
    k = TIME_UNITS[layout.time_unit]
    ti, xi, yi = cols.index("t"), cols.index("x"), cols.index("y")
    pi = cols.index("p") if "p" in cols else None
    t, x, y, p, lines = [], [], [], [], []
    for i, raw in enumerate(buf.split(b"\n")):
        line = raw.strip()
        if not line or line.startswith(b"#"):
            continue
        no = first_line + i
        fields = _split(line, layout.delimiter)
        if len(fields) != n:
            raise _bad(
                path,
                no,
                f"{_fields(len(fields))}, expected {n} ({cols}): {line[:80].decode('latin-1')!r}",
            )
        for j, c in enumerate(cols):
            f = fields[j]
            if len(f) > _MAX_FIELD:
                raise _bad(path, no, f"field {j + 1} ({c}) is {len(f)} characters long")
            if c in "xyp" and not _INT_RE.match(f):
                raise _bad(
                    path, no, f"field {j + 1} ({c}) is not an integer: {f[:40].decode('latin-1')!r}"
                )
        f = fields[ti]
        if not _NUM_RE.match(f):
            raise _bad(
                path, no, f"field {ti + 1} (t) is not a number: {f[:40].decode('latin-1')!r}"
            )
        us = _seconds_to_us(f, k)
        if not -(2**63) <= us < 2**63:
            raise _bad(path, no, f"timestamp {f.decode()} {layout.time_unit} overflows int64 µs")
        t.append(us)
        xv, yv = int(fields[xi]), int(fields[yi])
        # clamp for the int64 arrays; _to_events reports the out-of-range value's line
        x.append(max(-1, min(xv, 1 << 17)))
        y.append(max(-1, min(yv, 1 << 17)))
        if pi is not None:
            p.append(max(-2, min(int(fields[pi]), 2)))
        lines.append(no)
    return _to_events(
        path,
        layout,
        np.array(t, dtype=np.int64),
        np.array(x, dtype=np.int64),
        np.array(y, dtype=np.int64),
        None if pi is None else np.array(p, dtype=np.int64),
        lines.__getitem__,
    )


def _structure_canonical(buf: bytes, delim: str, ncols: int, ti: int, decimal: bool) -> int:
    """Number of lines of a canonical block, or 0 when it is not one.

    Canonical: no blank lines, no padding, one delimiter byte between fields, and, when
    ``decimal``, one '.' per line inside the t field with a digit on both sides. Checked with
    byte-string operations only: deleting the digits and '-' must leave exactly the separator
    pattern of one line, repeated; no field may be empty."""
    # (the pattern check also rules out every byte that is not a digit, '-', '.' or separator)
    n = buf.count(b"\n")
    d = delim.encode()
    line = d * ti + (b"." if decimal else b"") + d * (ncols - 1 - ti) + b"\n"
    seps = buf.translate(None, b"0123456789-")
    if n == 0 or len(seps) != n * len(line) or seps.count(line) != n:
        return 0  # n disjoint copies of `line` filling `seps`: seps == line * n
    if decimal and b"-" in buf:
        return 0  # signed decimals: the line-by-line path
    # An empty field, or a dot at the edge of the t field, makes a line hold fewer numbers than
    # ncols (+1): the caller's value count check rejects it. No field can hold two numbers
    # ('-' is checked by the caller, and np.fromstring rejects "5-6").
    return n


def _frac_digits(buf: bytes, b: np.ndarray, delim: str, n: int, ncols: int, ti: int):
    """Digits after the '.' of each line's t field in a canonical decimal block (None if any
    has more than 18): the distance from the dot to the separator that ends the field."""
    seps = np.flatnonzero(np.frombuffer(buf.translate(_SEPMARK[delim]), dtype=np.bool_))
    end = seps.reshape(n, ncols)[:, ti]  # the canonical pattern holds ncols separators a line
    k = end - np.flatnonzero(b == 46) - 1
    if int(k.max()) > _MAX_DIGITS:
        return None
    return k


def _structure_general(buf: bytes, b: np.ndarray, delim: str, ncols: int, ti: int):
    """Field bounds of a block with blank lines or extra spaces/tabs around fields (same result
    as :func:`_structure_canonical`), or None."""
    if buf.translate(None, _ALLOWED_PADDED[delim]):
        return None
    is_tok = np.frombuffer(buf.translate(_TOKMARK), dtype=np.int8)
    edge = np.diff(is_tok, prepend=np.int8(0), append=np.int8(0))
    starts = np.flatnonzero(edge == 1)
    ends = np.flatnonzero(edge == -1)  # exclusive
    newlines = np.flatnonzero(b == 10)
    if newlines.size == 0 or newlines[-1] != b.size - 1:
        return None
    tok_before = np.searchsorted(starts, newlines)  # tokens before each line's end
    counts = np.diff(tok_before, prepend=0)
    nonblank = np.flatnonzero(counts)
    if np.any(counts[nonblank] != ncols):
        return None
    if delim != " ":  # exactly ncols - 1 delimiters per line, none on blank lines
        dpos = np.flatnonzero(b == ord(delim))
        dcounts = np.diff(np.searchsorted(dpos, newlines), prepend=0)
        if np.any(dcounts != np.where(counts > 0, ncols - 1, 0)):
            return None
        # and one between each two fields (not "1 2,,3")
        tok_line = np.repeat(np.arange(newlines.size), counts)
        gaps = np.searchsorted(dpos, starts[1:]) - np.searchsorted(dpos, ends[:-1])
        same_line = tok_line[1:] == tok_line[:-1]
        if np.any(gaps[same_line] != 1):
            return None
    if int((ends - starts).max(initial=0)) > _MAX_DIGITS + 1:
        return None
    t_tok = (tok_before[nonblank] - ncols) + ti  # index of each event's t field
    return nonblank, starts[t_tok], ends[t_tok]


def _parse_fast(path, layout: Layout, buf: bytes, first_line: int) -> np.ndarray | None:
    """Vectorised parse of a block of whole lines (ending in LF); None when the block needs the
    line-by-line path.

    Accepts lines of ``len(columns)`` integer fields (a leading '-' allowed), and decimal t
    (exactly one '.' per line, inside the t field, digits on both sides, no '-' in the block).
    """
    cols = layout.columns
    ncols = len(cols)
    ti = cols.index("t")
    delim = layout.delimiter
    b = np.frombuffer(buf, dtype=np.uint8)
    decimal = b"." in buf
    n_ev = _structure_canonical(buf, delim, ncols, ti, decimal)
    nonblank = None  # events on consecutive lines
    k_frac = None
    if n_ev:
        if decimal:
            k_frac = _frac_digits(buf, b, delim, n_ev, ncols, ti)
            if k_frac is None:
                return None
    else:
        found = _structure_general(buf, b, delim, ncols, ti)
        if found is None:
            return None
        nonblank, ts, te = found
        n_ev = nonblank.size
        if n_ev == 0:
            return np.zeros(0, dtype=EVENT_DTYPE)
        if decimal:
            dots = np.flatnonzero(b == 46)
            if b"-" in buf or dots.size != n_ev:
                return None
            if np.any(dots <= ts) or np.any(dots >= te - 1):
                return None  # a dot outside the t field, at its edge, or not one per line
            if not (_DIGIT[b[dots - 1]].all() and _DIGIT[b[dots + 1]].all()):
                return None
            k_frac = te - dots - 1
    if not decimal and b"-" in buf:
        # '-' only as the first byte of a field, followed by a digit
        minus = np.flatnonzero(b == 45)
        if _TOKEN[b[np.maximum(minus - 1, 0)]][minus > 0].any():
            return None
        if not _DIGIT[b[np.minimum(minus + 1, b.size - 1)]].all():
            return None
    table = _TRANSLATE_DOT[delim] if decimal else _TRANSLATE[delim]
    nvals = ncols + (1 if k_frac is not None else 0)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            vals = np.fromstring(buf.translate(table), dtype=np.int64, sep=" ")
    except (ValueError, DeprecationWarning):
        return None
    if vals.size != n_ev * nvals or (vals.size and int(vals.max()) == _INT64_MAX):
        return None  # np.fromstring clamps an overflowing number to the int64 maximum
    vals = vals.reshape(n_ev, nvals)

    # column index in vals: fields after t shift by one in decimal mode
    def col(c: str) -> np.ndarray:
        j = cols.index(c)
        return vals[:, j + (1 if k_frac is not None and j > ti else 0)]

    k = TIME_UNITS[layout.time_unit]
    ti_int = vals[:, ti]
    if k_frac is None:
        if k >= 0:
            if k and np.abs(ti_int).max(initial=0) >= 10 ** (_MAX_DIGITS - k):
                return None
            t = ti_int * _POW10[k] if k else ti_int.copy()
        else:
            t = (ti_int + 5 * 10 ** (-k - 1)) // 10 ** (-k)
    else:
        frac = vals[:, ti + 1]
        if k >= 0:
            if ti_int.max(initial=0) >= 10 ** (_MAX_DIGITS - k):
                return None
            # µs = I·10^k + floor(F·10^k / 10^kf + 1/2)
            d = k - k_frac
            up = d >= 0
            t = ti_int * _POW10[k]
            t += np.where(up, frac * _POW10[np.clip(d, 0, 18)], 0)
            down = _POW10[np.clip(-d, 0, 18)]
            t += np.where(up, 0, (frac + down // 2) // down)
        else:
            if np.any(ti_int >= _POW10[np.clip(_MAX_DIGITS - k_frac, 0, 18)]):
                return None
            n_val = ti_int * _POW10[k_frac] + frac
            down = _POW10[k_frac - k]
            t = (n_val + down // 2) // down
    if nonblank is None:
        line_of = lambda i: first_line + i  # noqa: E731
    else:
        line_of = lambda i: first_line + int(nonblank[i])  # noqa: E731
    p = col("p") if "p" in cols else None
    return _to_events(path, layout, t, col("x"), col("y"), p, line_of)


def _table(delim: str, dot: bool) -> bytes:
    src = b"\t\r\n" + (b"" if delim == " " else delim.encode()) + (b"." if dot else b"")
    return bytes.maketrans(src, b" " * len(src))


_TRANSLATE = {d: _table(d, False) for d in DELIMITERS}
_TRANSLATE_DOT = {d: _table(d, True) for d in DELIMITERS}
# bytes a padded block may hold (bytes.translate(None, allowed) leaves the others)
_ALLOWED_PADDED = {d: b"0123456789-.\n \t\r" + d.encode() for d in DELIMITERS}


def _marks(chars: bytes) -> bytes:
    """A translate table mapping ``chars`` to 1 and every other byte to 0."""
    table = bytearray(256)
    for c in chars:
        table[c] = 1
    return bytes(table)


_TOKMARK = _marks(b"0123456789-.")
_SEPMARK = {d: _marks(b"\n" + d.encode()) for d in DELIMITERS}


def parse_block(path, layout: Layout, buf: bytes, first_line: int) -> np.ndarray:
    """Events of ``buf`` (whole lines, the first being line ``first_line``), file order."""
    if not buf.endswith(b"\n"):
        buf += b"\n"
    if b"\r" in buf:
        buf = buf.replace(b"\r\n", b"\n")  # CRLF; same line numbers
    return _parse_split(path, layout, buf, first_line)


SLOW_LINES = 256
"""A block the vectorised parser refuses is halved until it is this small, then parsed line by
line: one odd line (a comment, an exponent) costs ~log2(block/256) vectorised tries plus 256
lines in Python, not a whole block in Python."""


def _parse_split(path, layout: Layout, buf: bytes, first_line: int) -> np.ndarray:
    ev = _parse_fast(path, layout, buf, first_line)
    if ev is not None:
        return ev
    n_lines = buf.count(b"\n")
    if n_lines <= SLOW_LINES:
        return _parse_slow(path, layout, buf[:-1], first_line)
    mid = buf.find(b"\n", len(buf) // 2)
    if mid == len(buf) - 1:  # one very long last line: split before it
        mid = buf.rfind(b"\n", 0, mid)
    head, tail = buf[: mid + 1], buf[mid + 1 :]
    first = _parse_split(path, layout, head, first_line)
    second = _parse_split(path, layout, tail, first_line + head.count(b"\n"))
    return np.concatenate((first, second))


def _iter_blocks(path, layout: Layout, block_bytes: int) -> Iterator[np.ndarray]:
    """Parsed blocks of about ``block_bytes`` bytes of whole lines, from the data offset on."""
    line = layout.first_line
    carry = b""
    with open(path, "rb") as f:
        f.seek(layout.data_offset)
        while True:
            data = f.read(block_bytes)
            if not data:
                break
            buf = carry + data
            cut = buf.rfind(b"\n")
            if cut < 0:
                if len(buf) > MAX_LINE_BYTES:
                    raise _bad(path, line, f"line longer than {MAX_LINE_BYTES >> 20} MiB")
                carry = buf
                continue
            carry = buf[cut + 1 :]
            block = buf[: cut + 1]
            yield parse_block(path, layout, block, line)
            line += block.count(b"\n")
    if carry.strip():
        yield parse_block(path, layout, carry, line)


def iter_chunks(path: Path, info: FileInfo, chunk_events: int) -> Iterator[np.ndarray]:
    """Events in file order, at most ``chunk_events`` per array, O(chunk_events + 4 MiB) memory."""
    chunk_events = max(1, int(chunk_events))
    pending: list[np.ndarray] = []
    n_pending = 0
    for ev in _iter_blocks(path, _layout(info), BLOCK_BYTES):
        while ev.size:
            take = min(chunk_events - n_pending, ev.shape[0])
            pending.append(ev[:take])
            n_pending += take
            ev = ev[take:]
            if n_pending == chunk_events:
                yield concat_events(iter(pending))
                pending, n_pending = [], 0
    if n_pending:
        yield concat_events(iter(pending))


def read(path: Path, info: FileInfo) -> np.ndarray:
    """Every event, file order."""
    return concat_events(_iter_blocks(path, _layout(info), BLOCK_BYTES))
