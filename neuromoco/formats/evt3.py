"""Prophesee EVT 3.0: a vectorised numpy decoder and encoder.

Format (docs.prophesee.ai, "EVT 3.0 Format"): little-endian 16-bit words; the 4 high bits give
the type, the 12 low bits the payload.

======  =============  ===========================================================
type    name           payload
======  =============  ===========================================================
0x0     EVT_ADDR_Y     y (bits 0-10); bit 11 = system type (master/slave), ignored
0x2     EVT_ADDR_X     one CD event: x (bits 0-10), polarity (bit 11)
0x3     VECT_BASE_X    base x (bits 0-10) and polarity (bit 11) of the next vectors
0x4     VECT_12        12-bit mask: an event at base_x + i for each set bit i;
                       then base_x += 12
0x5     VECT_8         8-bit mask, the same; then base_x += 8
0x6     EVT_TIME_LOW   the low 12 bits of the 24-bit time base (µs)
0x8     EVT_TIME_HIGH  the high 12 bits of the 24-bit time base (units of 4096 µs)
0x7/F   CONTINUED      extra data of other events, skipped
0xA     EXT_TRIGGER    external trigger, skipped (not a CD event)
0xE     OTHERS         skipped
======  =============  ===========================================================

Rules this decoder follows (the quirks are discussed in docs/formats.md):

* **time base**: every CD event takes the time base in force: ``TIME_HIGH << 12 | TIME_LOW``
  as last set. A TIME_LOW word *replaces* the low bits; it never carries into TIME_HIGH. (Real
  Gen4 files repeat TIME_HIGH as a keep-alive and may send a TIME_LOW that steps back by a few
  µs right after it; expelliarmus 1.1.12 took every such step back as a 4096 µs carry and made
  timestamps up to 45 ms late. faery 0.7.1 clamps the time so it never decreases, shifting
  events up to 11 µs late on the sample file. evt3 0.4.1 and evlib 0.13.2 follow the literal
  rule, as here.)
* **24-bit wrap**: the time base wraps every 2**24 µs (16.8 s); each decrease of TIME_HIGH
  is counted as one wrap and adds 2**24 µs to all later events.
* **start**: CD events before the first TIME_HIGH word have no defined time and are dropped
  (as Prophesee's OpenEB decoder does); the time low starts at 0 and y at 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from neuromoco.formats.base import iter_records, rechunk
from neuromoco.formats.event_writer import EventWriter
from neuromoco.types import EVENT_DTYPE, EventFormatError

WORD = np.dtype("<u2")
# words decoded per block: temporaries stay in a few MB
BLOCK_WORDS = 1 << 20
MAX_COORD = 2048  # 11-bit x and y

_POP = np.array([bin(i).count("1") for i in range(4096)], dtype=np.int64)


@dataclass
class State:
    """Decoder state carried from one block of words to the next."""

    wraps: int = 0
    th: int = -1  # last TIME_HIGH value; -1 = none seen yet (events are dropped)
    tl: int = 0
    y: int = 0
    base_x: int = 0
    pol: int = 0


def _last_setter(is_setter: np.ndarray, ar: np.ndarray, at: np.ndarray) -> np.ndarray:
    """For each word position in ``at``, the position of the last word before it (or at it)
    where ``is_setter`` holds; -1 where there is none in this block (a forward fill)."""
    idx = np.where(is_setter, ar, -1)
    np.maximum.accumulate(idx, out=idx)
    return idx[at]


def decode_words(w: np.ndarray, st: State) -> np.ndarray:
    """Decode one block of EVT 3.0 words (uint16) into events (``EVENT_DTYPE``, file order);
    ``st`` carries the state across blocks and is updated."""
    n = w.shape[0]
    k = w >> 12
    val = (w & 0xFFF).astype(np.int32)
    ar = np.arange(n, dtype=np.int32)

    # --- TIME_HIGH: a decrease is a 24-bit wrap; high[pos] = wraps << 24 | th << 12
    is_th = k == 8
    th_pos = np.flatnonzero(is_th)
    high = None
    wraps_end = st.wraps
    if th_pos.size:
        th_val = val[th_pos].astype(np.int64)
        prev = np.empty_like(th_val)
        prev[0] = st.th
        prev[1:] = th_val[:-1]
        wraps = st.wraps + np.cumsum(th_val < prev)
        wraps_end = int(wraps[-1])
        high = np.zeros(n, dtype=np.int64)
        high[th_pos] = (wraps << 24) | (th_val << 12)

    is_ev = (k == 2) | (k == 4) | (k == 5)
    ev_pos = np.flatnonzero(is_ev)
    out = np.empty(0, dtype=EVENT_DTYPE)
    if ev_pos.size:
        kt = k[ev_pos]
        v = val[ev_pos]
        # the time high, time low and y in force at each event word
        j = _last_setter(is_th, ar, ev_pos)
        state_high = -1 if st.th < 0 else (st.wraps << 24) | (st.th << 12)
        hi = np.where(j >= 0, high[j] if high is not None else 0, state_high)
        j = _last_setter(k == 6, ar, ev_pos)
        t = hi | np.where(j >= 0, val[j], st.tl)
        j = _last_setter(k == 0, ar, ev_pos)
        yy = np.where(j >= 0, val[j] & 0x7FF, st.y)
        timed = hi >= 0  # before the first TIME_HIGH: dropped

        single = kt == 2
        # x (singles) or base x (vectors), polarity, event count of each event word
        xb = v & 0x7FF
        pol = v >> 11
        counts = single.astype(np.int64)
        vi = np.flatnonzero(~single)
        bits = None
        if vi.size:
            kv = kt[vi]
            inc = np.where(kv == 4, 12, 8)
            cum = np.cumsum(inc) - inc  # increments of the earlier vectors of this block
            # the last VECT_BASE_X before each vector, and the increments already made then
            is_b = k == 3
            jb = _last_setter(is_b, ar, ev_pos[vi])
            cum_at = np.concatenate(([0], np.cumsum(inc)))
            nb = np.searchsorted(ev_pos[vi], jb)  # vectors of this block before that base
            has_b = jb >= 0
            base = np.where(has_b, (val[jb] & 0x7FF) - cum_at[nb], st.base_x) + cum
            xb[vi] = base
            pol[vi] = np.where(has_b, val[jb] >> 11, st.pol)
            mask = np.where(kv == 4, v[vi], v[vi] & 0xFF).astype("<u2")
            counts[vi] = _POP[mask]
            bits = np.unpackbits(mask.view(np.uint8).reshape(-1, 2), axis=1, bitorder="little")
            # base x after the block's last vector, if no base follows it
            st.base_x = int(base[-1] + inc[-1])
            st.pol = int(pol[vi[-1]])
        if not timed.all():
            counts[~timed] = 0
            if bits is not None:
                bits[~timed[vi]] = 0
        rows = np.repeat(np.arange(ev_pos.size, dtype=np.int32), counts)
        x = xb[rows]
        if bits is not None:
            _, cols = np.nonzero(bits)
            x[~single[rows]] += cols.astype(x.dtype)
        out = np.empty(rows.size, dtype=EVENT_DTYPE)
        out["t"] = t[rows]
        out["x"] = x
        out["y"] = yy[rows]
        out["p"] = pol[rows]
        if x.size and int(x.max()) >= 1 << 16:
            raise EventFormatError(None, "EVT 3.0 vector x beyond 65535 (corrupt data)")

    # --- state at the end of the block
    if th_pos.size:
        st.th = int(val[th_pos[-1]])
        st.wraps = wraps_end
    for code, attr in ((6, "tl"), (0, "y")):
        pos = np.flatnonzero(k == code)
        if pos.size:
            setattr(st, attr, int(val[pos[-1]]) & (0xFFF if code == 6 else 0x7FF))
    b_pos = np.flatnonzero(k == 3)
    if b_pos.size:
        last_b = int(b_pos[-1])
        tail = k[last_b + 1 :]
        st.base_x = (
            (int(val[last_b]) & 0x7FF) + 12 * int((tail == 4).sum()) + 8 * int((tail == 5).sum())
        )
        st.pol = int(val[last_b]) >> 11
    return out


def iter_word_blocks(path: Path, offset: int, n_bytes: int, block_words: int = BLOCK_WORDS):
    """The words after ``offset`` in blocks of ``block_words`` (bounded memory)."""
    if n_bytes % 2:
        raise EventFormatError(path, f"truncated EVT 3.0 file: {n_bytes} data bytes is odd")
    return iter_records(path, offset, WORD, n_bytes // 2, block_words)


def iter_data(path: Path, offset: int, n_bytes: int, chunk_events: int) -> Iterator[np.ndarray]:
    """The decoded events of an EVT 3.0 file's data section (``n_bytes`` from ``offset``), in
    arrays of exactly ``chunk_events`` (the last one shorter; file order). Not to be confused
    with ``neuromoco.events.iter_events``, the public chunked reader of every format."""
    st = State()
    blocks = (decode_words(w, st) for w in iter_word_blocks(path, offset, n_bytes))
    yield from rechunk(blocks, chunk_events)


# ---------------------------------------------------------------------------------------------
# Writing


def header_bytes(sensor_size: tuple[int, int], evt: str = "3.0") -> bytes:
    """A Prophesee RAW header for EVT ``evt`` ("2.0"/"3.0") with the sensor geometry."""
    w, h = sensor_size
    name = "EVT3" if evt.startswith("3") else "EVT2"
    return (
        f"% evt {evt}\n% format {name};height={h};width={w}\n% geometry {w}x{h}\n"
        "% integrator_name neuromoco\n% end\n"
    ).encode("ascii")


def encode_run(events: np.ndarray, st: State) -> np.ndarray:
    """EVT 3.0 words for ``events`` whose timestamps all lie in the 2**24 µs epoch ``st.wraps``
    (the caller emits the wrap words first). One EVT_ADDR_X word per event, preceded by
    TIME_HIGH / TIME_LOW / ADDR_Y words where those change (TIME_LOW also after every
    TIME_HIGH); ``st`` is updated."""
    t = events["t"]
    th = ((t >> 12) & 0xFFF).astype(np.int32)
    tl = (t & 0xFFF).astype(np.int32)
    y = events["y"].astype(np.int32)
    n = t.shape[0]

    def changed(v: np.ndarray, prev: int) -> np.ndarray:
        c = np.empty(n, dtype=bool)
        c[0] = v[0] != prev
        np.not_equal(v[1:], v[:-1], out=c[1:])
        return c

    dth, dtl, dy = changed(th, st.th), changed(tl, st.tl), changed(y, st.y)
    # a TIME_LOW after every TIME_HIGH, as cameras write them: some decoders (evt3 0.4.1)
    # reset the low bits on TIME_HIGH, so a file relying on the old low bits would differ there
    dtl |= dth
    counts = 1 + dth.astype(np.int64) + dtl + dy
    end = np.cumsum(counts)
    words = np.empty(int(end[-1]), dtype=WORD)
    pos = end - 1
    words[pos] = (0x2 << 12) | (events["p"].astype(np.uint16) << 11) | events["x"]
    pos = pos - dy
    words[pos[dy]] = y[dy]  # EVT_ADDR_Y: type 0
    pos = pos - dtl
    words[pos[dtl]] = (0x6 << 12) | tl[dtl]
    pos = pos - dth
    words[pos[dth]] = (0x8 << 12) | th[dth]
    st.th, st.tl, st.y = int(th[-1]), int(tl[-1]), int(y[-1])
    return words


def wrap_words(st: State, epoch: int) -> np.ndarray:
    """Words that bring a decoder from ``st`` to the 2**24 µs ``epoch``: a first TIME_HIGH if
    none was written yet, then one TIME_HIGH decrease (0xFFF then 0) per wrap."""
    words = []
    if st.th < 0:
        words.append(0x8000)
        st.th = 0
    n = epoch - st.wraps
    words += [0x8FFF, 0x8000] * n
    if n:
        st.th, st.wraps = 0, epoch
    return np.array(words, dtype=WORD)


class Evt3Writer(EventWriter):
    """Streaming Prophesee EVT 3.0 writer. Every event is one EVT_ADDR_X word (no vectors:
    the file is larger than a camera's, the events are exact), with TIME_HIGH, TIME_LOW and
    ADDR_Y words written only when they change; 24-bit time-base wraps are written as
    TIME_HIGH decreases, so any t ≥ 0 µs round-trips. Coordinates below 2048."""

    format = "evt3"
    max_coord = MAX_COORD

    def _start(self) -> None:
        self._f.write(header_bytes(self.sensor_size, "3.0"))
        self._st = State(th=-1, tl=-1, y=-1)

    def _emit(self, events: np.ndarray) -> None:
        epoch = events["t"] >> 24
        cuts = np.flatnonzero(epoch[1:] != epoch[:-1]) + 1
        for a, b in zip(np.r_[0, cuts], np.r_[cuts, events.shape[0]], strict=True):
            run = events[a:b]
            pre = wrap_words(self._st, int(epoch[a]))
            if pre.size:
                self._f.write(pre.tobytes())
                self._st.tl = -1  # TIME_HIGH words written: make the next TIME_LOW explicit
            self._f.write(encode_run(run, self._st).tobytes())
