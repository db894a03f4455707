"""Parsing the lines of a CSV/TXT event file into events, given its :class:`Layout`.

Blocks of lines are parsed with numpy (a vectorised structure check, then ``np.fromstring`` on
the block); a block holding anything unusual (comments, exponents, ``+`` signs, a bad line) is
halved until it parses, down to :data:`SLOW_LINES` lines parsed one by one, which also pins the
exact line of an error. Timestamps become int64 µs exactly (decimal arithmetic, never binary
floats). A file without a polarity column gets its layout's policy (:mod:`neuromoco.polarity`).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator
from decimal import ROUND_FLOOR, Decimal

import numpy as np

from neuromoco.formats.text_layout import (
    DELIMITERS,
    INT_RE,
    MAX_LINE_BYTES,
    NUM_RE,
    TIME_UNITS,
    Layout,
    fields_text,
    line_error,
    split_fields,
)
from neuromoco.polarity import assign_polarity
from neuromoco.types import EVENT_DTYPE

_MAX_DIGITS = 18  # an int64 holds every 18-digit number
_MAX_FIELD = 64  # longer fields are refused before Python parses them (int() is quadratic)

# Byte classes for the vectorised block check.
_TOKEN = np.zeros(256, dtype=bool)  # bytes that belong to a number
_TOKEN[list(b"0123456789-.")] = True
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[list(b"0123456789")] = True
_POW10 = 10 ** np.arange(19, dtype=np.int64)
_INT64_MAX = 2**63 - 1


def _to_events(path, layout: Layout, t, x, y, p, line_of: Callable[[int], int]) -> np.ndarray:
    """Range-check parsed columns (int64 arrays; ``line_of(i)``: 1-based line of event i) and
    pack them."""
    for name, v in (("x", x), ("y", y)):
        if v.size and (int(v.min()) < 0 or int(v.max()) > 0xFFFF):
            i = int(np.flatnonzero((v < 0) | (v > 0xFFFF))[0])
            what = "negative" if v[i] < 0 else "larger than 65535"
            raise line_error(path, line_of(i), f"{name} = {int(v[i])} is {what} (pixels)")
    if p is not None and p.size and (int(p.min()) < -1 or int(p.max()) > 1):
        i = int(np.flatnonzero((p < -1) | (p > 1))[0])
        raise line_error(path, line_of(i), f"polarity {int(p[i])} is not 1, 0 or -1")
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
    if INT_RE.match(token) and k >= 0:
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
        fields = split_fields(line, layout.delimiter)
        if len(fields) != n:
            raise line_error(
                path,
                no,
                f"{fields_text(len(fields))}, expected {n} ({cols}): {line[:80].decode('latin-1')!r}",
            )
        for j, c in enumerate(cols):
            f = fields[j]
            if len(f) > _MAX_FIELD:
                raise line_error(path, no, f"field {j + 1} ({c}) is {len(f)} characters long")
            if c in "xyp" and not INT_RE.match(f):
                raise line_error(
                    path, no, f"field {j + 1} ({c}) is not an integer: {f[:40].decode('latin-1')!r}"
                )
        f = fields[ti]
        if not NUM_RE.match(f):
            raise line_error(
                path, no, f"field {ti + 1} (t) is not a number: {f[:40].decode('latin-1')!r}"
            )
        us = _seconds_to_us(f, k)
        if not -(2**63) <= us < 2**63:
            raise line_error(
                path, no, f"timestamp {f.decode()} {layout.time_unit} overflows int64 µs"
            )
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


def iter_blocks(path, layout: Layout, block_bytes: int) -> Iterator[np.ndarray]:
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
                    raise line_error(path, line, f"line longer than {MAX_LINE_BYTES >> 20} MiB")
                carry = buf
                continue
            carry = buf[cut + 1 :]
            block = buf[: cut + 1]
            yield parse_block(path, layout, block, line)
            line += block.count(b"\n")
    if carry.strip():
        yield parse_block(path, layout, carry, line)
