"""Text event files (CSV / TXT): neuromoco.formats.text, checked against naive decoders written
here from the layouts (Python's csv module, str.split, Decimal), on the shared real CSV clips and
on files generated in every supported layout."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from decimal import ROUND_FLOOR, Decimal
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_file

from neuromoco.events import (
    EVENT_DTYPE,
    EventFormatError,
    detect_format,
    iter_events,
    read_events,
    read_recording,
    sort_events,
)
from neuromoco.formats import text, text_parse
from neuromoco.polarity import hash_polarity

CLIPS = [f"dvsgesture_csv/class{c}_user02_led.csv" for c in (2, 3, 5, 6, 7)]
M64 = (1 << 64) - 1


def naive_hash_polarity(t: int, x: int, y: int) -> int:
    """The documented "hash" policy, in Python integers (independent of the numpy code)."""
    z = (t & M64) ^ (((x + 65536 * y + 1) * 0x9E3779B97F4A7C15) & M64)
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    z ^= z >> 31
    return z >> 63


def naive_csv(path: Path, polarity_every: int = 1) -> np.ndarray:
    """``timestamp,x,y`` CSV (header, µs, no polarity) with the csv module; the hash polarity
    of every ``polarity_every``-th event (the others get 255, "not computed")."""
    rows = []
    with open(path, newline="") as f:
        r = csv.reader(f)
        assert next(r) == ["timestamp", "x", "y"]
        for i, row in enumerate(r):
            t, x, y = (int(v) for v in row)
            p = naive_hash_polarity(t, x, y) if i % polarity_every == 0 else 255
            rows.append((t, x, y, p))
    ev = np.array(rows, dtype=[("t", "<i8"), ("x", "<u2"), ("y", "<u2"), ("p", "u1")])
    return ev.astype(EVENT_DTYPE)


def _chunked(path, n, **kw) -> np.ndarray:
    with iter_events(path, chunk_events=n, **kw) as ch:
        parts = list(ch)
    assert all(p.size <= n for p in parts)
    return np.concatenate(parts) if parts else np.zeros(0, EVENT_DTYPE)


# --------------------------------------------------------------------------------------------
# The shared real clips


@pytest.mark.parametrize("rel", CLIPS)
def test_shared_clip_equals_naive_csv_decoder(rel):
    path = shared_file(rel)
    rec = read_recording(path)
    want = naive_csv(path, polarity_every=13)
    assert rec.format == "text" and rec.sensor_size == (128, 128)
    assert rec.extra["columns"] == "txy" and rec.extra["time_unit"] == "us"
    assert rec.extra["polarity_policy"] == "hash"
    want_sorted, n_bad = sort_events(want)
    assert rec.n_reordered == n_bad
    np.testing.assert_array_equal(rec.events[["t", "x", "y"]], want_sorted[["t", "x", "y"]])
    checked = want_sorted["p"] != 255
    assert checked.sum() > want.size // 14
    np.testing.assert_array_equal(rec.events["p"][checked], want_sorted["p"][checked])
    # ON fraction of the hash policy: about half
    assert abs(rec.events["p"].mean() - 0.5) < 0.01
    # chunked == whole (chunk sizes that cut inside and across the 4 MiB parse blocks)
    np.testing.assert_array_equal(_chunked(path, 50_000), rec.events)


def test_shared_clip_small_blocks_and_chunks(monkeypatch):
    path = shared_file(CLIPS[1])
    whole = read_events(path)
    monkeypatch.setattr(text, "BLOCK_BYTES", 4096)  # many blocks, lines cut at block ends
    np.testing.assert_array_equal(read_events(path), whole)
    np.testing.assert_array_equal(_chunked(path, 777), whole)


def test_polarity_policies_on_and_off():
    path = shared_file(CLIPS[1])
    base = read_events(path)
    on = read_events(path, polarity="on")
    off = read_events(path, polarity="off")
    for ev in (on, off):
        np.testing.assert_array_equal(ev[["t", "x", "y"]], base[["t", "x", "y"]])
    assert on["p"].all() and not off["p"].any()


def test_hash_polarity_matches_naive_definition():
    rng = np.random.default_rng(3)
    t = np.concatenate([rng.integers(-(2**62), 2**62, 300), [0, 1, -1, 2**63 - 1, -(2**63)]])
    x = rng.integers(0, 65536, t.size)
    y = rng.integers(0, 65536, t.size)
    got = hash_polarity(t, x, y)
    want = [naive_hash_polarity(int(a), int(b), int(c)) for a, b, c in zip(t, x, y, strict=True)]
    np.testing.assert_array_equal(got, want)


# --------------------------------------------------------------------------------------------
# Generated files in every layout


def _events(n=3000, seed=0, size=(346, 260)):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, 5_000_000, n)) + 1_234_567
    return t, rng.integers(0, size[0], n), rng.integers(0, size[1], n), rng.integers(0, 2, n)


def _fmt_t(t_us: int, unit: str) -> str:
    if unit == "us":
        return str(t_us)
    if unit == "ms":
        return f"{t_us // 1000}.{t_us % 1000:03d}"
    return f"{t_us // 10**6}.{t_us % 10**6:06d}000"  # seconds with 9 decimals, exact


LAYOUTS = [
    # (columns, delimiter, header, time unit)
    ("txy", ",", "timestamp,x,y", "us"),
    ("txyp", ",", "t,x,y,p", "us"),
    ("txyp", " ", None, "s"),  # Event Camera Dataset events.txt
    ("txyp", "\t", None, "s"),
    ("xypt", ",", "x,y,p,t", "us"),  # Metavision CSV
    ("xypt", ",", None, "us"),
    ("xytp", " ", None, "us"),
    ("txy", " ", None, "s"),
    ("xyt", ";", None, "us"),
    ("txyp", ",", "time [ms],x,y,polarity", "ms"),
    ("txyp", ",", "t_s,x,y,p", "s"),
    ("t_xyp", ",", None, "us"),  # needs columns=
]


@pytest.mark.parametrize("columns,delim,header,unit", LAYOUTS)
def test_generated_layouts(tmp_path, columns, delim, header, unit):
    t, x, y, p = _events()
    lines = [] if header is None else [header]
    for i in range(t.size):
        vals = {"t": _fmt_t(int(t[i]), unit), "x": str(x[i]), "y": str(y[i]), "p": str(p[i])}
        vals["_"] = "9.5"
        lines.append(delim.join(vals[c] for c in columns))
    path = tmp_path / "ev.txt"
    path.write_text("\n".join(lines) + "\n")
    opts = {"columns": columns} if "_" in columns else {}
    rec = read_recording(path, **opts)
    assert rec.format == "text" and detect_format(path) == "text"
    assert rec.extra["columns"] == columns
    assert rec.extra["time_unit"] == (unit if unit != "ms" or header else "s")
    assert rec.sensor_size == (346, 260)  # max x/y need the DAVIS346 size
    assert rec.n_reordered == 0
    np.testing.assert_array_equal(rec.events["t"], t)
    np.testing.assert_array_equal(rec.events["x"], x)
    np.testing.assert_array_equal(rec.events["y"], y)
    if "p" in columns:
        np.testing.assert_array_equal(rec.events["p"], p)
        assert rec.extra["polarity_policy"] is None
    else:
        want = [
            naive_hash_polarity(int(a), int(b), int(c)) for a, b, c in zip(t, x, y, strict=True)
        ]
        np.testing.assert_array_equal(rec.events["p"], want)
    np.testing.assert_array_equal(_chunked(path, 101, **opts), rec.events)


def test_messy_file_equals_naive(tmp_path, monkeypatch):
    """Comments, blank lines, CRLF, padding, '+' signs, exponents, -1 polarity, a UTF-8 BOM."""
    body = (
        "\ufeff# recorded by hand\r\n\r\n  Timestamp , X , Y , Polarity \r\n"
        " 1 , 2 , 3 , 1\r\n\r\n2,3,4,-1\r\n# a comment mid-file\r\n+3 ,4, 5, 0\r\n"
        "4,  5,6,1\n5,6,7,+1"
    )
    rows = [(1, 2, 3, 1), (2, 3, 4, 0), (3, 4, 5, 0), (4, 5, 6, 1), (5, 6, 7, 1)]
    path = tmp_path / "messy.csv"
    path.write_bytes(body.encode("utf-8"))
    got = read_events(path)
    assert got.tolist() == rows
    monkeypatch.setattr(text, "BLOCK_BYTES", 16)
    assert read_events(path).tolist() == rows
    assert _chunked(path, 2).tolist() == rows


def test_seconds_exponents_and_rounding(tmp_path):
    """µs = floor(value·10^k + 1/2), exact decimal arithmetic (checked with Decimal here)."""
    cases = [
        "0.0000015",
        "0.0000025",
        "1e-6",
        "2.5E-6",
        "12.3456785",
        "0.000000499",
        "7",
        "-0.0000015",
    ]
    path = tmp_path / "s.txt"
    path.write_text("".join(f"{c} 1 2 1\n" for c in cases))
    want = [
        int((Decimal(c) * 10**6 + Decimal("0.5")).to_integral_value(rounding=ROUND_FLOOR))
        for c in cases
    ]
    assert want[:2] == [2, 3] and want[-1] == -1
    rec = read_recording(path, time_unit="s")
    assert sorted(want) == rec.events["t"].tolist()
    assert rec.n_reordered == 3  # 3 -> 1, 12345679 -> 0, 7000000 -> -1


@pytest.mark.parametrize(
    "unit,values,want",
    [
        ("ns", ["1499", "1500", "2500", "123456789"], [1, 2, 3, 123457]),
        ("ms", ["1", "1.5", "0.0005", "0.0004999"], [1000, 1500, 1, 0]),
        ("us", ["5", "5.5", "6.49"], [5, 6, 6]),
        ("s", ["1", "1.000001", "0.1234564999"], [1_000_000, 1_000_001, 123456]),
    ],
)
def test_time_units(tmp_path, unit, values, want):
    path = tmp_path / "u.csv"
    path.write_text("".join(f"{v},3,4,0\n" for v in values))
    assert sorted(read_events(path, time_unit=unit)["t"].tolist()) == sorted(want)


def test_fast_and_line_by_line_paths_agree(tmp_path, monkeypatch):
    """A big file with one odd line: the vectorised parser handles all but a few hundred lines
    around it; every line must read the same as with the line-by-line parser alone."""
    t, x, y, p = _events(20_000, seed=5)
    lines = [f"{_fmt_t(int(a), 's')} {b} {c} {d}" for a, b, c, d in zip(t, x, y, p, strict=True)]
    lines[12_345] = lines[12_345].replace(" ", "\t  ", 1) + "  "
    lines[15_000] = "# comment"
    lines[3_000] = "." + lines[3_000].split(".", 1)[1]  # ".123 x y p": no integer part
    lines[7_000] = lines[7_000].split(".", 1)[0] + ". 5 6 1"  # "12. x y p": no fraction
    lines[9_000] = lines[9_000].replace(" ", ",", 1)  # a bad line: found and named
    path = tmp_path / "big.txt"
    path.write_text("\n".join(lines) + "\n")
    for read in (read_events, lambda path: text.read(path, text.probe(path))):
        with pytest.raises(EventFormatError, match="line 9001: 3 fields, expected 4"):
            read(path)
    lines[9_000] = lines[9_000].replace(",", " ", 1)
    path.write_text("\n".join(lines) + "\n")
    fast = text.read(path, text.probe(path))
    monkeypatch.setattr(text_parse, "_parse_fast", lambda *a: None)
    slow = text.read(path, text.probe(path))
    np.testing.assert_array_equal(fast, slow)
    keep = np.ones(t.size, bool)
    keep[15_000] = False
    want = t[keep].copy()
    want[3_000] = t[3_000] % 10**6  # ".123..." is 0.123... s
    want[7_000] = t[7_000] // 10**6 * 10**6
    np.testing.assert_array_equal(fast["t"], want)


def test_backwards_time_is_sorted_and_counted(tmp_path):
    path = tmp_path / "b.csv"
    path.write_text("t,x,y,p\n10,1,1,1\n30,2,2,0\n20,3,3,1\n40,4,4,1\n")
    rec = read_recording(path)
    assert rec.events["t"].tolist() == [10, 20, 30, 40] and rec.n_reordered == 1


# --------------------------------------------------------------------------------------------
# Sensor size


@pytest.mark.parametrize(
    "xmax,ymax,size",
    [
        (127, 127, (128, 128)),
        (128, 10, (240, 180)),
        (239, 179, (240, 180)),
        (300, 200, (346, 260)),
        (639, 479, (640, 480)),
        (1000, 700, (1280, 720)),
        (1279, 800, (1280, 801)),
        (5000, 3, (5001, 4)),
    ],
)
def test_sensor_size_rule(tmp_path, xmax, ymax, size):
    path = tmp_path / "s.csv"
    path.write_text(f"t,x,y\n1,0,0\n2,{xmax},{ymax}\n")
    rec = read_recording(path)
    assert rec.sensor_size == size
    assert rec.extra["sensor_size_inferred"] is True
    assert read_recording(path, sensor_size=(8000, 8000)).sensor_size == (8000, 8000)


def test_sensor_size_option_too_small(tmp_path):
    path = tmp_path / "s.csv"
    path.write_text("t,x,y\n1,200,3\n")
    with pytest.raises(EventFormatError, match="outside the 128x128 sensor"):
        read_recording(path, sensor_size=(128, 128))


# --------------------------------------------------------------------------------------------
# Bad input: EventFormatError naming the file and the line


def _big_prefix(n=6000) -> str:
    return "t,x,y,p\n" + "".join(f"{i},{i % 100},{i % 50},{i % 2}\n" for i in range(n))


@pytest.mark.parametrize(
    "bad_line,reason",
    [
        ("6000,abc,3,1", r"field 2 \(x\) is not an integer: 'abc'"),
        ("6000,1,3", "3 fields, expected 4"),
        ("6000,1,3,1,5", "5 fields, expected 4"),
        ("6000,-4,3,1", "x = -4 is negative"),
        ("6000,4,70000,1", "y = 70000 is larger than 65535"),
        ("6000,4,5,2", "polarity 2 is not 1, 0 or -1"),
        ("6000,4.5,5,1", r"field 2 \(x\) is not an integer"),
        ("6000,,5,1", r"field 2 \(x\) is not an integer: ''"),
        ("6000,4,5,1,", "5 fields, expected 4"),
        ("60x0,4,5,1", r"field 1 \(t\) is not a number"),
        ("99999999999999999999999,1,1,1", "overflows int64"),
        ("1" * 100 + ",1,1,1", r"field 1 \(t\) is 100 characters long"),
    ],
)
def test_bad_line_names_file_and_line(tmp_path, monkeypatch, bad_line, reason):
    # far past the probe's sample and across several parse blocks
    monkeypatch.setattr(text, "BLOCK_BYTES", 1 << 14)
    path = tmp_path / "bad.csv"
    path.write_text(_big_prefix() + bad_line + "\n" + "6001,1,1,1\n")
    for read in (lambda: read_events(path), lambda: _chunked(path, 1000)):
        with pytest.raises(EventFormatError, match=reason) as e:
            read()
        assert str(path) in str(e.value) and "line 6002:" in str(e.value)


@pytest.mark.parametrize(
    "content,reason",
    [
        ("1,2,3\n4,abc,5\n", "line 2: field 2 is not a number: 'abc'"),
        ("1,2,3\n4,5\n", "line 2: 2 fields, but line 1 has 3"),
        ("foo,bar,baz\n1,2,3\n", "line 1: header 'foo', 'bar', 'baz' does not name the columns"),
        ("1,2,3,4,5\n", "5 columns and no header naming them: pass columns="),
        ("1.5,2.5,3.5\n", "cannot tell the order of the 3 columns"),
    ],
)
def test_bad_layout(tmp_path, content, reason):
    path = tmp_path / "l.csv"
    path.write_text(content)
    with pytest.raises(EventFormatError, match=reason) as e:
        read_events(path)
    assert str(path) in str(e.value)


def test_bad_options(tmp_path, testdata):
    path = tmp_path / "o.csv"
    path.write_text("1,2,3\n")
    for kw, reason in [
        ({"columns": "txx"}, "one letter per column"),
        ({"columns": "txyp"}, "1 fields, expected 4|3 fields, expected 4"),
        ({"time_unit": "h"}, "time_unit='h'"),
        ({"delimiter": "|"}, "delimiter='|'"),
        ({"polarity": "random"}, "polarity='random'"),
    ]:
        with pytest.raises(EventFormatError, match=reason):
            read_events(path, **kw)
    with pytest.raises(EventFormatError, match="do not apply to aedat4"):
        read_events(testdata / "aedat4/dvxplorer_sample.aedat4", columns="txyp")


@pytest.mark.parametrize(
    "content,suffix",
    [
        (b"", ".csv"),  # zero bytes
        (b"timestamp,x,y\n", ".csv"),  # header only
        (b"t x y p", ".txt"),  # header only, no newline
        (b"\n\n  \n", ".txt"),  # blank lines
        (b"# nothing recorded\n", ".csv"),
    ],
)
def test_files_without_events(tmp_path, content, suffix):
    path = tmp_path / f"e{suffix}"
    path.write_bytes(content)
    rec = read_recording(path)
    assert rec.format == "text" and rec.events.size == 0 and rec.sensor_size == (128, 128)
    assert _chunked(path, 10).size == 0


def test_binary_is_not_text(tmp_path):
    path = tmp_path / "junk"
    path.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(EventFormatError, match="unknown event file format"):
        detect_format(path)
    path.write_text("hello world\nthis is prose\n")
    with pytest.raises(EventFormatError, match="unknown event file format"):
        detect_format(path)


# --------------------------------------------------------------------------------------------
# Command line


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "neuromoco.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_info_and_convert_round_trip(tmp_path):
    src = shared_file(CLIPS[1])
    want = naive_csv(src)
    r = _cli("info", src, "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["format"] == "text" and info["events"] == want.size
    assert info["polarity_policy"] == "hash"
    assert info["text_layout"] == {"columns": "txy", "time_unit": "us", "delimiter": ","}
    assert (info["width"], info["height"]) == (128, 128)
    r = _cli("info", src)
    assert "no polarity column: polarity assigned by policy 'hash'" in r.stdout
    for out in ("c.npz", "c.aedat"):
        r = _cli("convert", src, tmp_path / out)
        assert r.returncode == 0, r.stderr
        back = read_recording(tmp_path / out)
        assert back.sensor_size == (128, 128)
        np.testing.assert_array_equal(back.events, sort_events(want)[0])


def test_cli_text_options(tmp_path):
    src = tmp_path / "ev.dat.txt"
    src.write_text("5 6 0 0.5\n7 8 1 0.75\n")  # x y p t(s): the column order is ambiguous-free
    r = _cli("convert", src, tmp_path / "o.npz", "--columns", "xypt", "--time-unit", "s")
    assert r.returncode == 0, r.stderr
    assert read_events(tmp_path / "o.npz").tolist() == [(500000, 5, 6, 0), (750000, 7, 8, 1)]
    r = _cli("info", src, "--columns", "txyz")
    assert r.returncode == 1 and "columns='txyz'" in r.stderr and "Traceback" not in r.stderr
    r = _cli("info", src, "--polarity", "on", "--columns", "xy_t", "--time-unit", "s")
    assert r.returncode == 0 and "policy 'on'" in r.stdout


def test_chunked_reading_has_bounded_memory(tmp_path, monkeypatch):
    """iter_events holds one parse block and one chunk, not the file (peak measured)."""
    import tracemalloc

    t, x, y, p = _events(200_000, seed=9)
    path = tmp_path / "m.csv"
    path.write_text("".join(f"{a},{b},{c},{d}\n" for a, b, c, d in zip(t, x, y, p, strict=True)))
    monkeypatch.setattr(text, "BLOCK_BYTES", 1 << 16)
    whole_bytes = path.stat().st_size + t.size * EVENT_DTYPE.itemsize
    tracemalloc.start()
    try:
        n = 0
        with iter_events(path, chunk_events=5_000, sensor_size=(346, 260)) as chunks:
            for ev in chunks:
                n += ev.size
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert n == t.size
    assert peak < whole_bytes / 4, (peak, whole_bytes)
