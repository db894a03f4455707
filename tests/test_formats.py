"""Event file formats: real recordings, cross-checks against independent decoders, round trips,
chunked reading, and bad input (truncated, wrong magic, unknown format, garbage header,
coordinates outside the sensor, zero-byte files)."""

from __future__ import annotations

import ast
import struct
from pathlib import Path

import numpy as np
import pytest
from test_formats_peers import naive_atis, naive_evt3

from neuromoco.events import (
    EVENT_DTYPE,
    EventFormatError,
    detect_format,
    iter_events,
    make_events,
    read_events,
    read_recording,
    write_events,
)
from neuromoco.formats import aedat2, aedat3, atis_bin

SJ_ROOT = Path(__file__).resolve().parents[1] / ".venv"

# file -> (format, (width, height), camera, number of events); counts cross-checked below with
# independent decoders (naive loops, spikingjelly's code, dv-processing).
REAL = {
    "aedat4/dvSave-2024_06_13_16_16_25.aedat4": ("aedat4", (128, 128), "DVS128_0279", 18342),
    "aedat4/dvSave-2024_06_20_16_13_00.aedat4": ("aedat4", (128, 128), "DVS128_0279", 149629),
    "aedat4/dvxplorer_sample.aedat4": ("aedat4", (320, 240), "DVXplorer_DXB00010", 111954),
    "aedat4/davis346_sample.aedat4": ("aedat4", (346, 260), "DAVIS346_00000002", 6676),
    "aedat2/alex_walking_again.aedat": ("aedat2", (128, 128), "DVS128", 19182),
    "aedat2/IMU_translBoxes.aedat": ("aedat2", (240, 180), "DAVIS240C", 162771),
    "aedat2/sample_aedat_header.aedat": ("aedat2", (346, 260), "Davis346red", 0),
    "prophesee/evt2_sample.raw": ("evt2", (640, 480), "hal_plugin_gen3_fx3", 539481),
    "prophesee/evt3_sample.raw": ("evt3", (1280, 720), "hal_plugin_gen41_evk3", 219596),
    "prophesee/NCARS_obj_004397_td.dat": ("dat", (304, 240), "N9Chronocam7Event2dE", 4407),
    "atis_bin/sample_nmnist.bin": ("atis_bin", (34, 34), "ATIS", 4325),
    "atis_bin/faces_easy_0001.bin": ("atis_bin", (240, 180), "ATIS", 67445),
}


def _random_events(n, size=(128, 128), seed=0, t_max=10_000_000):
    rng = np.random.default_rng(seed)
    t = np.sort(rng.integers(0, t_max, n))
    return make_events(
        t, rng.integers(0, size[0], n), rng.integers(0, size[1], n), rng.integers(0, 2, n)
    )


# ---------------------------------------------------------------- real recordings


@pytest.mark.parametrize("rel", sorted(REAL))
def test_real_recording(rel, testdata):
    fmt, size, camera, n = REAL[rel]
    path = testdata / rel
    assert detect_format(path) == fmt
    rec = read_recording(path)
    ev = rec.events
    assert rec.format == fmt and rec.sensor_size == size and rec.camera == camera
    assert ev.dtype == EVENT_DTYPE and ev.shape == (n,)
    assert np.all(np.diff(ev["t"]) >= 0)
    if n:
        assert int(ev["x"].max()) < size[0] and int(ev["y"].max()) < size[1]
        assert set(np.unique(ev["p"])) == {0, 1}
        # real scenes: both polarities present in sensible proportion, timestamps progress
        assert 0.2 < ev["p"].mean() < 0.8
        assert ev["t"][-1] > ev["t"][0]


@pytest.mark.parametrize("rel", sorted(REAL))
def test_chunks_concatenate_to_full_read(rel, testdata):
    path = testdata / rel
    full = read_events(path)
    with iter_events(path, chunk_events=5000) as chunks:
        assert chunks.sensor_size == REAL[rel][1]
        assert chunks.format == REAL[rel][0]
        parts = list(chunks)
        assert chunks.n_reordered == 0
    assert all(0 < p.shape[0] <= 5000 for p in parts)
    got = np.concatenate(parts) if parts else np.zeros(0, EVENT_DTYPE)
    np.testing.assert_array_equal(got, full)


def test_aedat4_matches_dv_processing(testdata):
    """aedat (used for reading) and dv-processing agree on a real, trusted file."""
    dv = pytest.importorskip("dv_processing")
    path = testdata / "aedat4/dvSave-2024_06_13_16_16_25.aedat4"
    rec = dv.io.MonoCameraRecording(str(path))
    ts, xs, ys, ps = [], [], [], []
    while rec.isRunning():
        batch = rec.getNextEventBatch()
        if batch is None:
            continue
        ts.append(batch.timestamps())
        c = batch.coordinates()
        xs.append(c[:, 0])
        ys.append(c[:, 1])
        ps.append(batch.polarities())
    ev = read_events(path)
    np.testing.assert_array_equal(ev["t"], np.concatenate(ts))
    np.testing.assert_array_equal(ev["x"], np.concatenate(xs))
    np.testing.assert_array_equal(ev["y"], np.concatenate(ys))
    np.testing.assert_array_equal(ev["p"], np.concatenate(ps).astype(np.uint8))


# Every AEDAT 2.0 file is checked against a naive decoder in tests/test_formats_peers.py.


def test_aedat2_cifar10dvs_convention(testdata):
    """spikingjelly's CIFAR10-DVS mapping (x = 127 - row, y = 127 - column, p = 1 - bit0)."""
    path = testdata / "aedat2/alex_walking_again.aedat"
    data = path.read_bytes()
    pos = 0
    while data[pos : pos + 1] == b"#":
        pos = data.index(b"\n", pos) + 1
    raw = np.frombuffer(data[pos:], dtype=">u4")
    addr = raw[::2]
    x_sj = 127 - ((addr & 0x7F00) >> 8)
    y_sj = 127 - ((addr & 0xFE) >> 1)
    p_sj = 1 - (addr & 1)
    ev = aedat2.to_cifar10dvs_convention(read_events(path))
    np.testing.assert_array_equal(ev["x"], x_sj)
    np.testing.assert_array_equal(ev["y"], y_sj)
    np.testing.assert_array_equal(ev["p"], p_sj)


def test_aedat2_timestamp_wrap(tmp_path):
    head = b"#!AER-DAT2.0\r\n# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n"
    ts = np.array([2**32 - 20, 2**32 - 5, 3, 10], dtype=">u4")
    addr = np.array([0, 2, 4, 6], dtype=">u4")
    rec = np.empty(4, dtype=aedat2.RECORD)
    rec["a"], rec["t"] = addr, ts
    p = tmp_path / "wrap.aedat"
    p.write_bytes(head + rec.tobytes())
    ev = read_events(p)
    np.testing.assert_array_equal(ev["t"], [2**32 - 20, 2**32 - 5, 2**32 + 3, 2**32 + 10])
    # chunk boundary right at the wrap
    got = np.concatenate(list(iter_events(p, chunk_events=2)))
    np.testing.assert_array_equal(got, ev)


def _spikingjelly_functions():
    """spikingjelly's own decoders (datasets/utils.py), taken from its source file: the module
    cannot be imported here (it needs torchvision), so the two functions are compiled alone."""
    import spikingjelly

    src_path = Path(spikingjelly.__file__).parent / "datasets" / "utils.py"
    if not src_path.exists():
        pytest.skip(f"{src_path} absent")
    tree = ast.parse(src_path.read_text())
    wanted = [
        n
        for n in tree.body
        if isinstance(n, ast.FunctionDef) and n.name in ("load_aedat_v3", "load_ATIS_bin")
    ]
    ns = {"np": np, "struct": struct, "Union": object, "Path": Path, "str": str}
    exec(compile(ast.Module(body=wanted, type_ignores=[]), str(src_path), "exec"), ns)
    return ns["load_aedat_v3"], ns["load_ATIS_bin"]


@pytest.mark.parametrize("rel", ["atis_bin/sample_nmnist.bin", "atis_bin/faces_easy_0001.bin"])
def test_atis_bin_matches_spikingjelly(rel, testdata):
    _, load_atis = _spikingjelly_functions()
    path = testdata / rel
    ref = load_atis(str(path))  # no overflow records in these files, so the rules coincide
    order = np.argsort(ref["t"], kind="stable")
    ev = read_events(path)
    for k in "txyp":
        np.testing.assert_array_equal(ev[k].astype(np.int64), ref[k][order].astype(np.int64))


def test_atis_bin_overflow_records(tmp_path):
    ev = _random_events(3000, size=(34, 34), seed=3, t_max=200_000)
    blob = atis_bin.encode(ev).tobytes()
    assert blob.count(b"\xf0") > 0  # overflow records present (y == 240)
    p = tmp_path / "digit.bin"
    p.write_bytes(blob)
    ref = naive_atis(p)
    rec = read_recording(p)
    assert rec.sensor_size == (34, 34)
    got = np.stack([rec.events[k].astype(np.int64) for k in "txyp"], axis=1)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(rec.events, ev)
    chunks = np.concatenate(list(iter_events(p, chunk_events=97)))
    np.testing.assert_array_equal(chunks, ev)


def test_atis_bin_sensor_size_override(testdata):
    rec = read_recording(testdata / "atis_bin/sample_nmnist.bin", sensor_size=(240, 180))
    assert rec.sensor_size == (240, 180)
    with pytest.raises(EventFormatError, match="outside the 34x34 sensor"):
        read_recording(testdata / "atis_bin/faces_easy_0001.bin", sensor_size=(34, 34))


# ---------------------------------------------------------------- AEDAT 3.1


def test_aedat3_matches_spikingjelly_loader(tmp_path):
    """Our writer's files read identically by our parser and spikingjelly's load_aedat_v3,
    including timestamps beyond 2**31 µs (tsOverflow) and skipped non-polarity packets."""
    load_v3, _ = _spikingjelly_functions()
    ev = _random_events(20_000, seed=1, t_max=5 * 2**31)
    p = tmp_path / "user01_fluorescent.aedat"
    write_events(p, ev, (128, 128), format="aedat3")
    # append a special-event packet (type 0) that both readers must skip
    blob = p.read_bytes() + aedat3.PACKET_HEADER.pack(0, 1, 8, 4, 0, 2, 2, 2) + bytes(16)
    p.write_bytes(blob)
    ref = load_v3(str(p))
    got = read_events(p)
    np.testing.assert_array_equal(got, ev)
    for k in "txyp":
        np.testing.assert_array_equal(got[k].astype(np.int64), np.asarray(ref[k]).astype(np.int64))


def test_aedat3_invalid_events_dropped_and_header(tmp_path):
    ev = _random_events(10, seed=2)
    words = aedat3.encode(ev)
    words[3, 0] &= ~np.uint32(1)  # clear the valid bit of one event
    body = aedat3.PACKET_HEADER.pack(1, 1, 8, 4, 0, 10, 10, 9) + words.tobytes()
    p = tmp_path / "x.aedat"
    p.write_bytes(aedat3.header_bytes("DAVIS240C") + body)
    rec = read_recording(p)
    assert rec.camera == "DAVIS240C" and rec.sensor_size == (240, 180)
    np.testing.assert_array_equal(rec.events, np.delete(ev, 3))


# ---------------------------------------------------------------- round trips, writers


@pytest.mark.parametrize(
    "fmt,suffix", [("aedat3", ".aedat"), ("npz", ".npz"), ("aedat4", ".aedat4")]
)
@pytest.mark.parametrize("size", [(128, 128), (346, 260)])
def test_round_trip(fmt, suffix, size, tmp_path):
    ev = _random_events(3000 if fmt == "aedat4" else 50_000, size=size, seed=4, t_max=3 * 2**31)
    p = tmp_path / f"rt{suffix}"
    write_events(p, ev, size, format=fmt)
    rec = read_recording(p)
    assert rec.format == fmt and rec.sensor_size == size and rec.n_reordered == 0
    np.testing.assert_array_equal(rec.events, ev)
    np.testing.assert_array_equal(np.concatenate(list(iter_events(p, chunk_events=1000))), ev)


@pytest.mark.parametrize("fmt", ["aedat3", "npz", "aedat4"])
def test_round_trip_empty(fmt, tmp_path):
    p = tmp_path / f"empty.{fmt}"
    write_events(p, np.zeros(0, EVENT_DTYPE), (128, 128), format=fmt)
    rec = read_recording(p)
    assert rec.events.shape == (0,) and rec.sensor_size == (128, 128)


def test_spikingjelly_npz(tmp_path):
    ev = _random_events(1000, seed=5)
    p = tmp_path / "sj.npz"
    # spikingjelly's events_np layout: keys t, x, y, p, no sensor size, its own dtypes
    np.savez_compressed(
        p,
        t=ev["t"].astype(np.float64).astype(np.int64),
        x=ev["x"].astype(np.int64),
        y=ev["y"].astype(np.int64),
        p=ev["p"].astype(bool),
    )
    rec = read_recording(p)
    assert rec.sensor_size == (128, 128) and rec.extra["sensor_size_inferred"]
    np.testing.assert_array_equal(rec.events, ev)
    np.testing.assert_array_equal(np.concatenate(list(iter_events(p, chunk_events=333))), ev)
    big = make_events([0, 1], [10, 200], [10, 100], [0, 1])
    p2 = tmp_path / "sj_big.npz"
    np.savez(p2, t=big["t"], x=big["x"], y=big["y"], p=big["p"])
    assert read_recording(p2).sensor_size == (240, 180)


def test_out_of_order_events_sorted_and_counted(tmp_path):
    ev = _random_events(1000, seed=6)
    shuffled = ev.copy()
    shuffled[[10, 11]] = shuffled[[11, 10]]
    shuffled[500], shuffled[501] = ev[501], ev[500]
    p = tmp_path / "ooo.aedat"
    # write_events refuses unsorted input, so build the file from words
    body = (
        aedat3.PACKET_HEADER.pack(1, 1, 8, 4, 0, 1000, 1000, 1000)
        + aedat3.encode(shuffled).tobytes()
    )
    p.write_bytes(aedat3.header_bytes() + body)
    rec = read_recording(p)
    n_bad = int(np.count_nonzero(np.diff(shuffled["t"]) < 0))
    assert rec.n_reordered == n_bad >= 1
    np.testing.assert_array_equal(rec.events["t"], ev["t"])
    # chunks: sorted within each chunk and counted; a boundary inversion is counted too
    with iter_events(p, chunk_events=501) as chunks:
        parts = list(chunks)
        assert all(np.all(np.diff(c["t"]) >= 0) for c in parts)
        assert chunks.n_reordered >= n_bad


def test_write_is_atomic(tmp_path, monkeypatch):
    p = tmp_path / "keep.npz"
    ev = _random_events(100)
    write_events(p, ev, (128, 128))
    before = p.read_bytes()

    def boom(*a, **k):
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(np, "savez", boom)
    with pytest.raises(OSError, match="disk full"):
        write_events(p, ev[:50], (128, 128))
    assert p.read_bytes() == before
    assert sorted(x.name for x in tmp_path.iterdir()) == ["keep.npz"]  # no temp file left


def test_write_rejects_bad_input(tmp_path):
    ev = _random_events(100)
    with pytest.raises(ValueError, match="sorted"):
        write_events(tmp_path / "a.npz", ev[::-1], (128, 128))
    with pytest.raises(EventFormatError, match="outside the 64x64 sensor"):
        write_events(tmp_path / "a.npz", ev, (64, 64))
    with pytest.raises(ValueError, match="suffix"):
        write_events(tmp_path / "a.xyz", ev, (128, 128))
    with pytest.raises(ValueError, match="cannot write"):
        write_events(tmp_path / "a.mp4", ev, (128, 128), format="mp4")
    assert list(tmp_path.iterdir()) == []


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("rel", sorted(r for r in REAL if REAL[r][3] > 0))
def test_truncated_real_files(rel, testdata, tmp_path):
    """Cut in the middle of the data: an error naming the file, or (where the cut lands on a
    record boundary of a headerless stream) fewer valid events; never another exception."""
    data = (testdata / rel).read_bytes()
    for frac in (0.5, 0.77):
        cut = int(len(data) * frac)
        for extra in (0, 1, 3):
            p = tmp_path / f"cut{Path(rel).suffix}"
            p.write_bytes(data[: cut + extra])
            try:
                rec = read_recording(p)
            except EventFormatError as e:
                assert str(p) in str(e)
            else:
                assert rec.events.shape[0] < REAL[rel][3]


@pytest.mark.parametrize(
    "name,blob",
    [
        (
            "x.aedat",
            b"#!AER-DAT2.0\r\n# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n" + bytes(13),
        ),
        (
            "x.aedat",
            aedat3.header_bytes()
            + aedat3.PACKET_HEADER.pack(1, 1, 8, 4, 0, 10, 10, 10)
            + bytes(40),
        ),
        ("x.aedat", aedat3.header_bytes() + bytes(10)),
        ("x.bin", bytes(12)),
        (
            "x.dat",
            b"% Data file containing Event2D events.\n% Version 2\n" + b"\x00\x08" + bytes(12),
        ),
        ("x.raw", b"% evt 2.0\n" + bytes(6)),
        ("x.raw", b"% evt 3.0\n" + bytes(3)),
        ("x.aedat4", b"#!AER-DAT4.0\r\n" + bytes(30)),
    ],
)
def test_truncated(name, blob, tmp_path):
    p = tmp_path / name
    p.write_bytes(blob)
    with pytest.raises(EventFormatError) as e:
        read_recording(p)
    assert str(p) in str(e.value)


@pytest.mark.parametrize(
    "name,blob,match",
    [
        ("x.aedat", b"#!AER-DAT9.9\r\n", "not supported"),
        ("x.aedat4", b"#!AER-DAT4.1\r\n" + bytes(100), "not supported"),
        ("x.txt", b"hello world, not events", "unknown event file format"),
        ("x.aedat4", b"\x89PNG\r\n\x1a\n" + bytes(64), "unknown event file format"),
        ("x", b"", "empty file with an unknown suffix"),
        ("x.npz", b"PK\x03\x04garbage-not-a-zip", "npz"),
        ("x.raw", b"% date today\n% nothing else\n" + bytes(8), "cannot tell EVT2 from EVT3"),
        ("x.aedat", b"#!AER-DAT3.1\r\n#Format: RAW\r\nbinary-without-end-header", "END-HEADER"),
        ("x.aedat", b"#!AER-DAT2.0\r\n# AEChip: some.other.Cochlea\r\n", "address layout"),
        ("x.aedat", b"#!AER-DAT2.0\r\n# header\r\n" + b"#" * (17 << 20), "16 MiB"),
    ],
)
def test_bad_header_or_magic(name, blob, match, tmp_path):
    p = tmp_path / name
    p.write_bytes(blob)
    with pytest.raises(EventFormatError, match=match) as e:
        read_recording(p)
    assert str(p) in str(e.value)


def test_unknown_format_argument(tmp_path):
    p = tmp_path / "a.npz"
    write_events(p, _random_events(5), (128, 128))
    with pytest.raises(EventFormatError, match="unknown event format 'mp4'"):
        read_recording(p, format="mp4")
    with pytest.raises(EventFormatError, match="sensor_size"):
        read_recording(p, sensor_size=(0, 5))
    with pytest.raises(FileNotFoundError, match="no such file"):
        read_recording(tmp_path / "missing.aedat4")


def test_coordinates_outside_sensor(tmp_path, testdata):
    with pytest.raises(EventFormatError, match="outside the 100x100 sensor") as e:
        read_recording(
            testdata / "aedat4/dvSave-2024_06_13_16_16_25.aedat4", sensor_size=(100, 100)
        )
    assert "dvSave" in str(e.value)
    # an AEDAT 3.1 file whose events exceed its DVS128 header size
    ev = make_events([1, 2], [5, 300], [5, 5], [1, 0])
    p = tmp_path / "big.aedat"
    p.write_bytes(
        aedat3.header_bytes("DVS128")
        + aedat3.PACKET_HEADER.pack(1, 1, 8, 4, 0, 2, 2, 2)
        + aedat3.encode(ev).tobytes()
    )
    with pytest.raises(EventFormatError, match="outside the 128x128 sensor"):
        read_recording(p)
    with pytest.raises(EventFormatError, match="outside the 128x128 sensor"):
        list(iter_events(p))
    assert read_recording(p, sensor_size=(346, 260)).events.shape == (2,)


@pytest.mark.parametrize(
    "suffix,fmt",
    [
        (".aedat4", "aedat4"),
        (".aedat", "aedat3"),
        (".bin", "atis_bin"),
        (".dat", "dat"),
        (".raw", "evt3"),
        (".npz", "npz"),
    ],
)
def test_zero_byte_files_read_as_zero_events(suffix, fmt, tmp_path):
    p = tmp_path / f"empty{suffix}"
    p.write_bytes(b"")
    rec = read_recording(p)
    assert rec.format == fmt and rec.events.shape == (0,)
    assert list(iter_events(p)) == []


@pytest.mark.parametrize(
    "name,blob,fmt",
    [
        ("h.aedat", aedat3.header_bytes(), "aedat3"),
        ("h.dat", b"% Data file containing Event2D events.\n% Version 2\n\x00\x08", "dat"),
        ("h.raw", b"% evt 3.0\n% geometry 1280x720\n", "evt3"),
    ],
)
def test_header_only_files_read_as_zero_events(name, blob, fmt, tmp_path, testdata):
    p = tmp_path / name
    p.write_bytes(blob)
    rec = read_recording(p)
    assert rec.format == fmt and rec.events.shape == (0,)
    assert read_recording(testdata / "aedat2/sample_aedat_header.aedat").events.shape == (0,)


def test_prophesee_suffix_independent(tmp_path, testdata):
    """Prophesee files read the same whatever their name (no suffix is required)."""
    src = testdata / "prophesee/evt2_sample.raw"
    p = tmp_path / "recording.events"
    p.write_bytes(src.read_bytes())
    np.testing.assert_array_equal(read_events(p), read_events(src))
    assert list(tmp_path.iterdir()) == [p]


def test_aedat2_data_starting_with_hash_byte(tmp_path):
    """A first record whose address begins with 0x23 ('#') is data, not another header line."""
    head = (
        b"#!AER-DAT2.0\r\n# AEChip: eu.seebetter.ini.chips.davis.DAVIS240C\r\n"
        b"#End Of ASCII Header\r\n"
    )
    rows = np.array([140, 10, 141], dtype=np.uint32)  # row 140 -> address byte 0 is 0x23
    rec = np.empty(3, dtype=aedat2.RECORD)
    rec["a"] = (rows << 22) | (np.array([5, 6, 7], np.uint32) << 12) | (1 << 11)
    rec["t"] = [100, 200, 300]
    assert rec.tobytes()[:1] == b"#"
    for h in (head, head.replace(b"#End Of ASCII Header\r\n", b"")):
        p = tmp_path / "hash.aedat"
        p.write_bytes(h + rec.tobytes())
        ev = read_events(p)
        np.testing.assert_array_equal(ev["t"], [100, 200, 300])
        np.testing.assert_array_equal(ev["y"], 179 - rows)
        np.testing.assert_array_equal(ev["x"], [5, 6, 7])


@pytest.mark.parametrize("fmt", ["aedat3", "aedat2", "atis_bin", "npz"])
def test_iter_events_memory_is_bounded(fmt, tmp_path):
    """Iterating a 2 M-event file in 50 k chunks never holds more than a few chunks' worth
    (the whole file decoded would be 26 MB)."""
    import tracemalloc

    n = 2_000_000
    ev = _random_events(n, seed=9, t_max=8_000_000)
    p = tmp_path / f"big.{fmt}"
    if fmt == "aedat2":
        rec = np.empty(n, dtype=aedat2.RECORD)
        rec["t"] = ev["t"]
        rec["a"] = (
            ((127 - ev["x"].astype(np.uint32)) << 1)
            | ((127 - ev["y"].astype(np.uint32)) << 8)
            | (1 - ev["p"].astype(np.uint32))
        )
        p.write_bytes(b"#!AER-DAT2.0\r\n" + rec.tobytes())
        del rec
    elif fmt == "atis_bin":
        p.write_bytes(atis_bin.encode(ev).tobytes())
    else:
        write_events(p, ev, (128, 128), format=fmt)
    total = 0
    tracemalloc.start()
    try:
        with iter_events(p, chunk_events=50_000, format=fmt, sensor_size=(128, 128)) as chunks:
            for c in chunks:
                assert c.shape[0] <= 50_000
                total += c.shape[0]
                del c
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert total == n
    assert peak < 8 << 20, f"peak {peak / 2**20:.1f} MiB"


def _after_percent_header(data: bytes) -> int:
    pos = 0
    while data[pos : pos + 1] == b"%":
        pos = data.index(b"\n", pos) + 1
    return pos


def test_dat_matches_independent_decoder(testdata):
    """Prophesee DAT (v2 CD events): uint32 t, uint32 (x 14 bits | y 14 bits | p 4 bits)."""
    path = testdata / "prophesee/NCARS_obj_004397_td.dat"
    data = path.read_bytes()
    pos = _after_percent_header(data) + 2  # event type and size bytes
    rec = np.frombuffer(data[pos:], dtype="<u4").reshape(-1, 2)
    t, w = rec[:, 0].astype(np.int64), rec[:, 1]
    ev = read_events(path)
    order = np.argsort(t, kind="stable")
    np.testing.assert_array_equal(ev["t"], t[order])
    np.testing.assert_array_equal(ev["x"], (w & 0x3FFF)[order])
    np.testing.assert_array_equal(ev["y"], ((w >> 14) & 0x3FFF)[order])
    np.testing.assert_array_equal(ev["p"], ((w >> 28) & 0xF)[order])


def test_evt2_matches_independent_decoder(testdata):
    """EVT 2.0 words: type 0/1 = CD OFF/ON (6 low timestamp bits, x, y), 8 = time high."""
    path = testdata / "prophesee/evt2_sample.raw"
    data = path.read_bytes()
    words = np.frombuffer(data[_after_percent_header(data) :], dtype="<u4")
    kind = words >> 28
    high = np.where(kind == 8, (words & 0x0FFFFFFF).astype(np.int64) << 6, 0)
    # the time-high value in force at each word: the last EV_TIME_HIGH at or before it
    idx = np.where(kind == 8, np.arange(words.size), -1)
    idx = np.maximum.accumulate(idx)
    cd = kind <= 1
    assert idx[cd].min() >= 0
    t = high[idx[cd]] + ((words[cd] >> 22) & 0x3F)
    x = (words[cd] >> 11) & 0x7FF
    y = words[cd] & 0x7FF
    p = kind[cd]
    ev = read_events(path)
    order = np.argsort(t, kind="stable")
    np.testing.assert_array_equal(ev["t"], t[order])
    np.testing.assert_array_equal(ev["x"], x[order])
    np.testing.assert_array_equal(ev["y"], y[order])
    np.testing.assert_array_equal(ev["p"], p[order])


def test_tune_malloc_only_raises_and_can_be_declined() -> None:
    """One allocator setting for the readers and the streaming app (neuromoco.malloc_tuning):
    thresholds only go up, so the readers' 32 MiB, asked after the app's 256 MiB / 1 GiB, no
    longer lowers them (the last caller used to win); NEUROMOCO_MALLOC=default, or the user's
    own MALLOC_* variables, leave the allocator alone."""
    import os
    import subprocess
    import sys

    code = (
        "import neuromoco.malloc_tuning as m\n"
        "a = m.tune_malloc_for_streaming(); b = m.tune_malloc(); c = m.tune_malloc()\n"
        "print(a, b, c, *m.thresholds())\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "NEUROMOCO_MALLOC"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if sys.platform.startswith("linux"):
        assert out.stdout.split() == ["True"] * 3 + [str(256 << 20), str(1 << 30)], out.stderr
    for declined in ({"NEUROMOCO_MALLOC": "default"}, {"MALLOC_TRIM_THRESHOLD_": "131072"}):
        out = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, env={**env, **declined}
        )
        assert out.stdout.split() == ["False"] * 3 + ["0", "0"], (declined, out.stderr)
    # reading a file tunes for the readers, once
    code = (
        "import neuromoco.malloc_tuning as m\n"
        "import neuromoco.events as e; e._opening()\n"
        "print(*m.thresholds())\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if sys.platform.startswith("linux"):
        assert out.stdout.split() == [str(32 << 20)] * 2, out.stderr


# ------------------------------------------------- one read of a file's first bytes (formats.base.Head)


@pytest.mark.parametrize("head_bytes", [1, 13, 200, 4096])
def test_reads_do_not_depend_on_how_much_of_the_file_is_read_first(
    head_bytes, testdata, monkeypatch
):
    """Opening reads a file's first 64 KiB once (detection, header probe, and the data of a file
    that fits); a header or data running past those bytes comes from the file. Every real file
    must read the same whatever that amount, including amounts that cut a header line, the
    DAT type bytes or a record in two."""
    from neuromoco.formats import base

    want = {rel: read_recording(testdata / rel) for rel in REAL}
    assert any(
        len(base.read_head(testdata / rel, (testdata / rel).stat().st_size).data)
        == (testdata / rel).stat().st_size
        for rel in REAL
    )  # some fit whole
    monkeypatch.setattr(base, "HEAD_BYTES", head_bytes)
    for rel, ref in want.items():
        rec = read_recording(testdata / rel, format=ref.format)
        assert (rec.sensor_size, rec.camera, rec.extra) == (ref.sensor_size, ref.camera, ref.extra)
        np.testing.assert_array_equal(rec.events, ref.events, err_msg=rel)
        with iter_events(testdata / rel, chunk_events=3000, format=ref.format) as chunks:
            parts = list(chunks)
        got = np.concatenate(parts) if parts else rec.events[:0]
        np.testing.assert_array_equal(got, ref.events, err_msg=rel)


@pytest.mark.parametrize("fmt", ["evt2", "dat", "aedat2"])
def test_header_longer_than_the_first_read(fmt, tmp_path, testdata):
    """A header of 100 KiB of comment lines (past the 64 KiB read at opening) is parsed from
    the file; the events after it read as with a short header."""
    if fmt == "aedat2":  # no writer: a real jAER file
        short, lead = testdata / "aedat2/alex_walking_again.aedat", b"#"
    else:
        short, lead = tmp_path / f"short.{fmt}", b"%"
        write_events(short, _random_events(5000, size=(64, 48)), (64, 48), format=fmt)
    blob = short.read_bytes()
    first_nl = blob.index(b"\n") + 1  # the magic / first line stays first
    pad = b"".join(lead + (b" comment %06d " % i).ljust(100, b".") + b"\n" for i in range(1024))
    long_ = tmp_path / f"long.{fmt}"
    long_.write_bytes(blob[:first_nl] + pad + blob[first_nl:])
    a, b = read_recording(short, format=fmt), read_recording(long_, format=fmt)
    assert b.events.shape[0] > 4000 and b.sensor_size == a.sensor_size
    np.testing.assert_array_equal(b.events, a.events)
    assert detect_format(long_) == fmt


def test_evt3_without_the_evt3_package_reads_the_same(testdata, monkeypatch):
    """The EVT 3.0 reader's own numpy decoder (``formats.evt3.iter_data``), used when the
    ``evt3`` package is missing, decodes the real file exactly as the word loop written from
    Prophesee's spec does (``naive_evt3``, sharing no code with it), and the reader then gives
    exactly the events of the package's decoder."""
    import sys

    from neuromoco.formats import evt3 as np_evt3
    from neuromoco.formats.prophesee import probe

    path = testdata / "prophesee" / "evt3_sample.raw"
    info = probe(path, "evt3")
    got = np.concatenate(
        list(np_evt3.iter_data(path, info.data_offset, info.extra["n_data_bytes"], 50_000))
    )
    np.testing.assert_array_equal(
        np.stack([got[k].astype(np.int64) for k in "txyp"], 1), naive_evt3(path)
    )
    with_pkg = read_events(path)
    monkeypatch.setitem(sys.modules, "evt3", None)  # import evt3 now raises ImportError
    without = read_events(path)
    np.testing.assert_array_equal(without, with_pkg)
