"""How a CSV/TXT event file is laid out: its delimiter, columns, time unit and where the data
starts, found from its first lines or given as reading options (the rules are documented in
:mod:`neuromoco.formats.text`, the reader that uses this module).

* :func:`looks_like_text`: is a file's first bytes an event text file (format detection);
* :func:`find_layout`: the :class:`Layout` of a file, from the options and its first
  :data:`SAMPLE_LINES` lines (a header names the columns; without one the column order is
  inferred from the data).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path

from neuromoco.polarity import DEFAULT_POLARITY, POLARITY_POLICIES
from neuromoco.types import EventFormatError

TIME_UNITS: dict[str, int] = {"s": 6, "ms": 3, "us": 0, "ns": -3}
"""Unit -> k with µs = value × 10^k."""
DELIMITERS: tuple[str, ...] = (",", ";", " ")
HEADERLESS_CANDIDATES: dict[int, tuple[str, ...]] = {
    3: ("txy", "xyt"),
    4: ("txyp", "xypt", "xytp"),
}


MAX_LINE_BYTES = 1 << 20
PROBE_BYTES = 1 << 18
"""find_layout reads this much (the header, the sample lines) unless the first line is longer."""
SAMPLE_LINES = 2000

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
INT_RE = re.compile(rb"^[+-]?\d+$")
NUM_RE = re.compile(rb"^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$")


@dataclass(frozen=True)
class Layout:
    """How a text event file is laid out (what :func:`find_layout` found or was told)."""

    columns: str
    time_unit: str
    delimiter: str
    polarity: str
    """"file" when the file has a p column, else the policy name."""
    data_offset: int
    first_line: int
    """1-based line number of the byte at ``data_offset``."""


def fields_text(n: int) -> str:
    return "1 field" if n == 1 else f"{n} fields"


def line_error(path, line: int, reason: str) -> EventFormatError:
    """The error for content at 1-based ``line`` of a text file."""
    return EventFormatError(path, f"line {line}: {reason}")


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
        fields = split_fields(line, delim)
        if not 3 <= len(fields) <= 8:
            return False
        if all(NUM_RE.match(f) for f in fields):
            return True
        names = line.decode("utf-8", "replace")
        if i > 0 or any(NUM_RE.match(f) for f in fields) or not _HEADER_TEXT.match(names):
            return False
    return len(content) == 1  # a header-only file


def _guess_delimiter(line: bytes) -> str:
    if b"," in line:
        return ","
    if b";" in line:
        return ";"
    return " "


def split_fields(line: bytes, delimiter: str) -> list[bytes]:
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
            if not NUM_RE.match(f):
                raise line_error(
                    path, no, f"field {j + 1} is not a number: {f[:40].decode('latin-1')!r}"
                )
    cands = HEADERLESS_CANDIDATES.get(ncols)
    if cands is None:
        raise EventFormatError(
            path,
            f"{ncols} columns and no header naming them: pass columns= (e.g. 'txyp', with _ "
            "for a column to skip)",
        )
    cells = list(zip(*sample, strict=False))  # per column
    ints = [all(INT_RE.match(v) and not v.startswith(b"-") for v in col) for col in cells]
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


def find_layout(
    path: Path,
    columns: str | None = None,
    time_unit: str | None = None,
    delimiter: str | None = None,
    polarity: str | None = None,
) -> tuple[Layout, dict]:
    """The layout of the text event file ``path`` and how each part of it was found (the
    ``FileInfo.extra`` entries: ``columns_source``, ``time_unit_source``, ...). The options are
    the reading options (``None``: found from the file); reads the first lines only."""
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
            fields = split_fields(line, delim)
            if data_offset is None and header is None and not any(NUM_RE.match(v) for v in fields):
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
                f"line {sample_lines[bad[0]]}: {fields_text(len(sample[bad[0]]))}, but line "
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
    return layout, extra
