"""Regression tests for the failures `python -m bench fuzz --n 10000` found in the readers (issue
H §4): each corruption gives an ``EventFormatError`` naming the file, or the same events whole
and chunked, quickly, and nothing on the terminal. The corrupt files are built here byte by byte
(small), not taken from the fuzz run.
"""

from __future__ import annotations

import struct
import subprocess
import sys
import textwrap
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from neuromoco.events import EventFormatError, iter_events, read_events
from neuromoco.formats.writer import open_writer
from neuromoco.types import make_events


def _events(n: int = 200) -> np.ndarray:
    i = np.arange(n)
    return make_events(i * 3, i % 10, i % 7, i % 2)


def _aedat4(path: Path, compression: str = "none") -> bytes:
    with open_writer(path, (16, 16), compression=compression) as w:
        w.write(_events())
    return path.read_bytes()


def _chunked(path: Path, chunk: int) -> np.ndarray:
    with iter_events(path, chunk_events=chunk) as it:
        parts = list(it)
    return np.concatenate(parts) if parts else np.empty(0, dtype=_events(1).dtype)


# --------------------------------------------------------------------------------- AEDAT 4.0


def test_aedat4_header_not_utf8_is_an_error_not_an_abort(tmp_path: Path) -> None:
    """A non-UTF-8 byte in the header's XML made ``aedat`` raise UnicodeDecodeError and then
    abort the process (pyo3 panic during unwinding). Run in a subprocess: a regression must
    fail this test, not kill pytest."""
    data = bytearray(_aedat4(tmp_path / "ok.aedat4"))
    at = data.index(b"<attr key=") + 1
    data[at] = 0xD1  # a UTF-8 lead byte followed by ASCII: invalid
    bad = tmp_path / "bad.aedat4"
    bad.write_bytes(bytes(data))
    code = textwrap.dedent(
        f"""
        from neuromoco.events import EventFormatError, iter_events, read_events
        for fn in (read_events, lambda p: list(iter_events(p, chunk_events=7))):
            try:
                fn({str(bad)!r})
            except EventFormatError as e:
                print("EFE", e)
            else:
                print("decoded")
        """
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr[-2000:]
    lines = r.stdout.strip().splitlines()
    assert len(lines) == 2 and all(line.startswith("EFE") for line in lines), r.stdout
    assert "bad.aedat4" in lines[0] and "not UTF-8" in lines[0]
    assert "panicked" not in r.stderr


@pytest.mark.parametrize(
    "offset, value, what",
    [
        (0, b"\xff\xff\xff\x7f", "header size"),  # beyond the file
        (4 + 4 + 16, struct.pack("<i", 7), "compression"),  # IOHeader.compression: 7
    ],
)
def test_aedat4_bad_header_fields(tmp_path: Path, offset: int, value: bytes, what: str) -> None:
    data = bytearray(_aedat4(tmp_path / "ok.aedat4"))
    at = 14 + offset  # after the magic line
    data[at : at + len(value)] = value
    bad = tmp_path / "bad.aedat4"
    bad.write_bytes(bytes(data))
    with pytest.raises(EventFormatError, match="bad.aedat4"):
        read_events(bad)


def test_aedat4_rust_panic_text_stays_off_stderr(tmp_path: Path, capfd) -> None:
    """A packet of 2 bytes: ``aedat``'s flatbuffers code panics (an assertion) and Rust prints
    the panic and a backtrace on fd 2. We give an EventFormatError and print nothing."""
    data = bytearray(_aedat4(tmp_path / "ok.aedat4"))
    (hsize,) = struct.unpack_from("<I", data, 14)
    struct.pack_into("<i", data, 18 + hsize + 4, 2)  # first packet's size
    bad = tmp_path / "bad.aedat4"
    bad.write_bytes(bytes(data))
    capfd.readouterr()
    for fn in (read_events, lambda p: _chunked(p, 50)):
        with pytest.raises(EventFormatError, match="bad.aedat4"):
            fn(bad)
    out, err = capfd.readouterr()
    assert "panicked" not in err and "backtrace" not in err, err[:500]
    assert out == ""


def test_aedat4_quiet_output_keeps_other_text(capfd) -> None:
    """Text that is not a Rust panic, written while fd 2 is redirected (e.g. by another
    thread), is replayed, not lost; a panic report is dropped."""
    import os

    from neuromoco.formats.aedat4 import quiet_native_output

    with quiet_native_output():
        os.write(2, b"keep me\n")
    with quiet_native_output(), quiet_native_output():  # nested
        os.write(2, b"thread '<unnamed>' panicked at x.rs:1:1:\nboom\n")
    _, err = capfd.readouterr()
    assert err == "keep me\n"


# --------------------------------------------------------------------------------- EVT 2.0


def _naive_evt2(words: list[int]) -> list[tuple[int, int, int, int]]:
    """EVT 2.0 from the format document, one word at a time: type 0/1 = CD OFF/ON (6 low time
    bits 22-27, x 11-21, y 0-10), type 8 = TIME_HIGH (28 high bits); others skipped; events
    before the first TIME_HIGH dropped."""
    out, high = [], None
    for v in words:
        kind = v >> 28
        if kind == 8:
            high = (v & 0x0FFFFFFF) << 6
        elif kind in (0, 1) and high is not None:
            out.append((high | ((v >> 22) & 0x3F), (v >> 11) & 0x7FF, v & 0x7FF, kind))
    return out


def test_evt2_undefined_word_types_whole_equals_chunked(tmp_path: Path, capfd) -> None:
    """expelliarmus stopped without an error at the first word of an undefined type (the
    whole read at 327,680 events, the chunked read elsewhere) and printed "event type not
    recognised". Now: the words are skipped, whole == chunked == a naive decoder, silently."""
    rng = np.random.default_rng(0)
    words: list[int] = [(0 << 28) | (1 << 22) | (3 << 11) | 4]  # before any TIME_HIGH: dropped
    for h in range(1, 400):
        words.append((8 << 28) | h)
        for _ in range(int(rng.integers(0, 40))):
            kind = int(rng.integers(0, 2))
            t6, x, y = (int(v) for v in rng.integers(0, (64, 64, 48)))
            words.append((kind << 28) | (t6 << 22) | (x << 11) | y)
        if h % 37 == 0:  # undefined types (2-7, 9, 11-13) and a trigger/others/continued word
            kind = int(rng.choice([2, 3, 4, 5, 6, 7, 9, 10, 11, 12, 13, 14, 15]))
            words.append((kind << 28) | h)
    path = tmp_path / "rec.raw"
    header = b"% evt 2.0\n% format EVT2;width=64;height=48\n% end\n"
    path.write_bytes(header + np.array(words, dtype="<u4").tobytes())
    want = np.array(_naive_evt2(words), dtype=np.int64)
    capfd.readouterr()
    whole = read_events(path)
    assert whole.shape[0] == want.shape[0] > 1000
    got = np.stack([whole[k].astype(np.int64) for k in "txyp"], axis=1)
    assert np.array_equal(got, want[np.argsort(want[:, 0], kind="stable")])
    for chunk in (1, 7, 1000, 1 << 20):
        part = _chunked(path, chunk)  # each chunk sorted on its own: compare stable-sorted
        assert np.array_equal(part[np.argsort(part["t"], kind="stable")], whole)
    out, err = capfd.readouterr()
    assert out == "" and err == ""


def test_evt2_decoder_blocks_carry_the_time_high(tmp_path: Path, monkeypatch) -> None:
    """The decoder works in blocks of words: a TIME_HIGH in one block stamps the events of the
    next; small blocks must give the same events as one block."""
    from neuromoco.formats import prophesee

    words = []
    for h in range(1, 50):
        words.append((8 << 28) | h)
        words += [(1 << 28) | ((h % 64) << 22) | (i << 11) | i for i in range(h % 9)]
    path = tmp_path / "rec.raw"
    path.write_bytes(b"% evt 2.0\n% end\n" + np.array(words, dtype="<u4").tobytes())
    big = read_events(path)
    monkeypatch.setattr(prophesee, "EVT2_BLOCK_WORDS", 5)
    assert np.array_equal(read_events(path), big)
    want = np.array(_naive_evt2(words), dtype=np.int64)
    assert np.array_equal(big["t"], want[:, 0])


# --------------------------------------------------------------------------------- npz, CSV


def test_npz_garbled_header_is_an_event_format_error(tmp_path: Path) -> None:
    """numpy's .npy header parser raises tokenize.TokenError on an unclosed bracket."""
    path = tmp_path / "bad.npz"
    with zipfile.ZipFile(path, "w") as zf:
        for k, dt in (("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "|u1")):
            head = "{'descr': '" + dt + "', 'fortran_order': False, 'shape': ((3,), }"
            head = head.ljust(117) + "\n"
            zf.writestr(f"{k}.npy", b"\x93NUMPY\x01\x00" + struct.pack("<H", 118) + head.encode())
    with pytest.raises(EventFormatError, match="bad.npz"):
        read_events(path)


def test_csv_absurd_exponent_is_rejected_fast(tmp_path: Path) -> None:
    """A timestamp ``1E728005`` made the reader build a 728,005-digit integer (~22 s per read)
    before saying it overflows; now it is refused at once, with its line."""
    lines = [f"{i * 10},{i % 5},{i % 3},{i % 2}" for i in range(600)]
    lines[321] = "1E728005,1,1,1"
    path = tmp_path / "ev.csv"
    path.write_text("t,x,y,p\n" + "\n".join(lines) + "\n")
    for huge in ("1E728005", "-1e99999999999999999999999"):
        path.write_text("t,x,y,p\n" + "\n".join(lines).replace("1E728005", huge) + "\n")
        t0 = time.perf_counter()
        with pytest.raises(EventFormatError, match=r"ev\.csv.*line 323.*overflows"):
            read_events(path)
        assert time.perf_counter() - t0 < 2.0
