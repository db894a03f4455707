"""Streaming writers (neuromoco.formats.writer): exact round trips in every streaming format,
checked by reading back with this project's reader AND independent ones (dv-processing and
``aedat`` for AEDAT 4.0; naive loops from the format documents plus faery / evt3 for EVT 2.0,
EVT 3.0 and DAT; spikingjelly's loader for AEDAT 3.1); flush() durability under SIGKILL; bounded
memory; refusals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from test_formats_peers import dv_aedat4, naive_dat, naive_evt2, naive_evt3

from neuromoco.events import EVENT_DTYPE, EventFormatError, make_events, read_recording
from neuromoco.formats.registry import STREAM_WRITABLE
from neuromoco.formats.writer import open_writer

REPO = Path(__file__).resolve().parents[1]
SUFFIX = {"aedat4": ".aedat4", "aedat3": ".aedat", "evt2": ".raw", "evt3": ".raw", "dat": ".dat"}


def _events(n, size=(640, 480), t0=0, t_span=10_000_000, seed=0):
    rng = np.random.default_rng(seed)
    t = t0 + np.sort(rng.integers(0, t_span, n))
    return make_events(
        t, rng.integers(0, size[0], n), rng.integers(0, size[1], n), rng.integers(0, 2, n)
    )


def _write(path, ev, size, fmt, chunk=7919, **options):
    with open_writer(path, size, format=fmt, **options) as w:
        for i in range(0, ev.shape[0], chunk):
            w.write(ev[i : i + chunk])
        assert w.events_written == ev.shape[0]
    return path


def _cols(a, names="txyp"):
    return np.stack([np.asarray(a[k]).astype(np.int64) for k in names], 1)


# ------------------------------------------------------------------ independent read-backs


def peer_aedat4(path):
    """dv-processing and the aedat package must both read the file."""
    import aedat

    dv_ev, size = dv_aedat4(path)
    pk = [p["events"] for p in aedat.Decoder(str(path)) if "events" in p]
    a = (
        np.concatenate(pk)
        if pk
        else np.zeros(0, [("t", "u8"), ("x", "u2"), ("y", "u2"), ("on", "?")])
    )
    a_ev = np.stack([a["t"], a["x"], a["y"], a["on"]], 1).astype(np.int64)
    np.testing.assert_array_equal(dv_ev, a_ev)
    return dv_ev, size


def peer_evt2(path):
    """faery's EVT 2.0 decoder, itself checked here against the naive loop of
    test_formats_peers (no code shared with our numpy decoder)."""
    faery = pytest.importorskip("faery")
    dec = faery.file_decoder.Decoder(path, version_fallback="evt2")
    parts = list(dec)
    a = np.concatenate(parts) if parts else np.zeros(0, faery.EVENTS_DTYPE)
    ev = np.stack([a["t"], a["x"], a["y"], a["on"]], 1).astype(np.int64)
    np.testing.assert_array_equal(ev, naive_evt2(path))
    return ev, tuple(dec.dimensions())


def peer_evt3(path):
    """The evt3 package, which is also our EVT 3.0 engine, so the naive loop of
    test_formats_peers (no shared code) is the independent check."""
    evt3 = pytest.importorskip("evt3")
    e = evt3.decode_file(str(path))
    ev = np.stack([e.timestamp, e.x, e.y, e.polarity], 1).astype(np.int64)
    np.testing.assert_array_equal(ev, naive_evt3(path))
    return ev, (int(e.sensor_width), int(e.sensor_height))


def peer_dat(path):
    """faery's low-level DAT decoder (and the naive loop of test_formats_peers)."""
    faery = pytest.importorskip("faery")
    with faery.dat.Decoder(str(path), None, None) as dec:
        dims = tuple(dec.dimensions)
        parts = list(dec)
    a = (
        np.concatenate(parts)
        if parts
        else np.zeros(0, [("t", "u8"), ("x", "u2"), ("y", "u2"), ("payload", "u1")])
    )
    ev = np.stack([a["t"], a["x"], a["y"], a["payload"]], 1).astype(np.int64)
    np.testing.assert_array_equal(ev, naive_dat(path))
    return ev, dims


def peer_aedat3(path):
    """spikingjelly's load_aedat_v3 (compiled from its source; see test_formats)."""
    from test_formats import _spikingjelly_functions

    load_v3, _ = _spikingjelly_functions()
    d = load_v3(str(path))
    return _cols(d), None


PEER = {
    "aedat4": peer_aedat4,
    "evt2": peer_evt2,
    "evt3": peer_evt3,
    "dat": peer_dat,
    "aedat3": peer_aedat3,
}

# t ranges that exercise each format's time encoding: EVT 3.0 wraps every 2**24 µs, AEDAT 3.1
# overflows every 2**31 µs, EVT 2.0 holds 2**34, DAT 2**32
T_CASES = {
    "aedat4": (5 * 2**32, 3 * 2**31),
    "aedat3": (2**31 - 3_000_000, 2 * 2**31),
    "evt2": (2**33, 2**33 - 1),
    "evt3": (3 * 2**24 - 1_000_000, 5 * 2**24),
    "dat": (2**31, 2**31 - 1),
}


@pytest.mark.parametrize("fmt", STREAM_WRITABLE)
@pytest.mark.parametrize("case", ["small_t", "large_t"])
def test_round_trip_read_back_by_peers(fmt, case, tmp_path):
    size = (346, 260) if fmt != "aedat3" else (128, 128)
    t0, span = (0, 3_000_000) if case == "small_t" else T_CASES[fmt]
    ev = _events(60_000, size, t0=t0, t_span=span, seed=len(fmt))
    if case == "small_t":  # equal timestamps and the first event at t = 0
        ev["t"][:100] = 0
    p = _write(tmp_path / f"rt{SUFFIX[fmt]}", ev, size, fmt)
    rec = read_recording(p, format=fmt if fmt in ("evt2", "evt3") else None)
    assert rec.format == fmt and rec.sensor_size == size and rec.n_reordered == 0
    np.testing.assert_array_equal(rec.events, ev)
    ref, peer_size = PEER[fmt](p)
    np.testing.assert_array_equal(ref, _cols(ev))
    if peer_size is not None:
        assert peer_size == size


@pytest.mark.parametrize("fmt", STREAM_WRITABLE)
def test_empty_and_single_event_files(fmt, tmp_path):
    size = (128, 128)
    p = _write(tmp_path / f"e{SUFFIX[fmt]}", np.zeros(0, EVENT_DTYPE), size, fmt)
    rec = read_recording(p, format=fmt)
    assert rec.events.shape == (0,) and rec.sensor_size == size
    one = make_events([123], [5], [6], [1])
    p = _write(tmp_path / f"one{SUFFIX[fmt]}", one, size, fmt)
    np.testing.assert_array_equal(read_recording(p, format=fmt).events, one)


def test_aedat4_uncompressed_and_packet_sizes(tmp_path):
    ev = _events(20_000, (128, 128), seed=3)
    for comp, k in (("none", 1000), ("lz4", 1), ("lz4", 1 << 20)):
        p = _write(
            tmp_path / f"{comp}{k}.aedat4",
            ev[: 3000 if k == 1 else None],
            (128, 128),
            "aedat4",
            compression=comp,
            packet_events=k,
        )
        want = ev[: 3000 if k == 1 else None]
        np.testing.assert_array_equal(read_recording(p).events, want)
        np.testing.assert_array_equal(peer_aedat4(p)[0], _cols(want))


# ------------------------------------------------------------------ flush() under SIGKILL

CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from neuromoco.events import make_events
    from neuromoco.formats.writer import open_writer

    path, fmt, n, extra = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(0)
    m = n + extra
    t = np.sort(rng.integers(0, 40_000_000, m))
    ev = make_events(t, rng.integers(0, 128, m), rng.integers(0, 128, m), rng.integers(0, 2, m))
    w = open_writer(path, (128, 128), format=fmt)
    for i in range(0, n, 7777):
        w.write(ev[i : min(i + 7777, n)])
    w.flush()
    w.write(ev[n : n + extra // 2])  # written but not flushed: may or may not be on disk
    print("flushed", flush=True)
    time.sleep(120)
    """
)


def _kill_after_flush(tmp_path, fmt, n, extra):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    path = tmp_path / f"killed{SUFFIX[fmt]}"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [sys.executable, str(script), str(path), fmt, str(n), str(extra)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert child.stdout.readline().strip() == "flushed"
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    rng = np.random.default_rng(0)
    m = n + extra
    t = np.sort(rng.integers(0, 40_000_000, m))
    ev = make_events(t, rng.integers(0, 128, m), rng.integers(0, 128, m), rng.integers(0, 2, m))
    return path, ev[:n]


@pytest.mark.parametrize("extra", [0, 70_001])
def test_aedat4_flushed_file_survives_sigkill(extra, tmp_path):
    """After flush() the file is complete up to there for neuromoco info, dv-processing and
    aedat, although the process dies without close() (no index, header table position -1)."""
    path, flushed = _kill_after_flush(tmp_path, "aedat4", 50_000, extra)
    info = subprocess.run(
        [sys.executable, "-m", "neuromoco.cli", "info", str(path)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(REPO)),
        timeout=120,
    )
    assert info.returncode == 0, info.stderr
    assert "aedat4" in info.stdout
    got = read_recording(path).events
    ref, _ = peer_aedat4(path)
    np.testing.assert_array_equal(ref, _cols(got))
    # everything flushed is there; complete packets written later may be there too
    np.testing.assert_array_equal(got[: flushed.shape[0]], flushed)
    if extra == 0:
        assert got.shape[0] == flushed.shape[0]


@pytest.mark.parametrize("fmt", ["aedat3", "evt2", "evt3", "dat"])
def test_other_formats_flushed_file_survives_sigkill(fmt, tmp_path):
    path, flushed = _kill_after_flush(tmp_path, fmt, 30_000, 0)
    rec = read_recording(path, format=fmt)
    np.testing.assert_array_equal(rec.events, flushed)
    np.testing.assert_array_equal(PEER[fmt](path)[0], _cols(flushed))


# ------------------------------------------------------------------ memory, refusals


@pytest.mark.parametrize("fmt", STREAM_WRITABLE)
def test_memory_is_bounded(fmt, tmp_path):
    """Writing 3 M events in 100 k chunks holds about one packet, not the recording."""
    import tracemalloc

    chunk = _events(100_000, (128, 128), seed=7)
    span = int(chunk["t"][-1]) + 1
    tracemalloc.start()
    try:
        with open_writer(tmp_path / f"m{SUFFIX[fmt]}", (128, 128), format=fmt) as w:
            for i in range(30):
                c = chunk.copy()
                c["t"] += i * span
                w.write(c)
                del c
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert w.events_written == 3_000_000
    assert peak < 12 << 20, f"peak {peak / 2**20:.1f} MiB"


def test_open_writer_refusals(tmp_path):
    ev = _events(10, (128, 128))
    with pytest.raises(ValueError, match=r"x\.npz: npz cannot be written as a stream"):
        open_writer(tmp_path / "x.npz", (128, 128))
    with pytest.raises(ValueError, match="EVT 2.0 or EVT 3.0"):
        open_writer(tmp_path / "x.raw", (128, 128))
    with pytest.raises(ValueError, match="cannot stream format 'mp4'"):
        open_writer(tmp_path / "x.mp4", (128, 128), format="mp4")
    (tmp_path / "old.aedat4").write_bytes(b"keep")
    with pytest.raises(FileExistsError, match="old.aedat4"):
        open_writer(tmp_path / "old.aedat4", (128, 128))
    assert (tmp_path / "old.aedat4").read_bytes() == b"keep"
    with pytest.raises(FileNotFoundError, match="does not exist"):
        open_writer(tmp_path / "no" / "x.aedat4", (128, 128))
    with pytest.raises(ValueError, match="does not fit evt3"):
        open_writer(tmp_path / "big.raw", (4096, 100), format="evt3")
    with open_writer(tmp_path / "w.aedat4", (128, 128)) as w:
        w.write(ev)
        with pytest.raises(ValueError, match=r"w\.aedat4: events must be sorted"):
            w.write(ev[::-1])
        with pytest.raises(ValueError, match="before the previous chunk's last event"):
            w.write(ev[:1])
        with pytest.raises(EventFormatError, match="outside the 128x128 sensor"):
            bad = ev.copy()
            bad["t"] += 10**8
            bad["x"][3] = 200
            w.write(bad)
    assert w.events_written == 10
    np.testing.assert_array_equal(read_recording(tmp_path / "w.aedat4").events, ev)
    with pytest.raises(ValueError, match="closed"):
        w.write(ev)


@pytest.mark.parametrize(
    "fmt,t_bad", [("evt2", 2**34), ("dat", 2**32), ("aedat4", -1), ("evt3", -5)]
)
def test_timestamp_range_per_format(fmt, t_bad, tmp_path):
    p = tmp_path / f"x{SUFFIX[fmt]}"
    with open_writer(p, (128, 128), format=fmt) as w:
        with pytest.raises(ValueError, match=f"{fmt} holds timestamps"):
            w.write(make_events([0, t_bad] if t_bad > 0 else [t_bad, 0], [1, 2], [1, 2], [0, 1]))


def test_exception_in_block_leaves_valid_file(tmp_path):
    ev = _events(5000, (128, 128))
    p = tmp_path / "crash.aedat4"
    with pytest.raises(RuntimeError, match="source died"), open_writer(p, (128, 128)) as w:
        w.write(ev)
        raise RuntimeError("source died")
    np.testing.assert_array_equal(read_recording(p).events, ev)


def test_evt2_sizes_and_geometry_checks(tmp_path):
    """EVT 2.0 sizes: header geometry, a sensor_size override, no size in the header."""
    from neuromoco.events import iter_events

    ev = _events(5000, (600, 400), seed=21)
    p = _write(tmp_path / "g.raw", ev, (640, 480), "evt2")
    np.testing.assert_array_equal(read_recording(p, format="evt2").events, ev)
    with pytest.raises(EventFormatError, match="outside the 100x100 sensor"):
        read_recording(p, sensor_size=(100, 100))
    with pytest.raises(EventFormatError, match="outside the 100x100 sensor"):
        list(iter_events(p, sensor_size=(100, 100)))
    small = tmp_path / "small.events"  # any name: the format comes from the content
    small.write_bytes(
        p.read_bytes()
        .replace(b"height=480;width=640", b"height=240;width=320")
        .replace(b"geometry 640x480", b"geometry 320x240")
    )
    with pytest.raises(EventFormatError, match=r"small\.events: event coordinates outside"):
        read_recording(small)
    assert list(tmp_path.glob(".neuromoco_prophesee_*")) == []
    # no size in the header (like the real Gen3 sample): the plugin name or 640x480, or ours
    bare = tmp_path / "bare.raw"
    body = p.read_bytes().split(b"% end\n", 1)[1]
    bare.write_bytes(b"% evt 2.0\n% end\n" + body)
    assert read_recording(bare).sensor_size == (640, 480)
    np.testing.assert_array_equal(read_recording(bare, sensor_size=(1000, 900)).events, ev)


def test_evt2_decreasing_timestamps_read_literally(tmp_path):
    """A TIME_HIGH step back and CD low bits that decrease: every event keeps the timestamp its
    words give (TIME_HIGH << 6 | low bits), as the naive decoder reads it; the events come back
    sorted and counted as reordered. (faery 0.7.1 would make them 645, 649, 2**34 + ...)"""
    hdr = b"% evt 2.0\n% format EVT2;height=480;width=640\n% end\n"

    def cd(p, t, x, y):
        return (p << 28) | ((t & 63) << 22) | (x << 11) | y

    words = [8 << 28 | 10, cd(1, 5, 1, 1), cd(0, 9, 2, 2), 8 << 28 | 9, cd(1, 3, 3, 3)]
    words += [8 << 28 | 11, cd(0, 0, 4, 4), cd(1, 2, 5, 5), cd(1, 1, 6, 6)]
    p = tmp_path / "back.raw"
    p.write_bytes(hdr + np.array(words, "<u4").tobytes())
    ref = naive_evt2(p)
    np.testing.assert_array_equal(ref[:, 0], [645, 649, 579, 704, 706, 705])
    rec = read_recording(p)
    assert rec.n_reordered == 2
    order = np.argsort(ref[:, 0], kind="stable")
    np.testing.assert_array_equal(_cols(rec.events), ref[order])


def test_aedat4_lz4_frame_is_a_standard_frame():
    """Our hand-made LZ4 frames (lz4.block inside a frame header) decode with python-lz4's frame
    decoder (LZ4F, as dv-processing uses it), compressible or not (a block LZ4 cannot shrink
    is stored raw, high bit of its size set), across several 4 MiB blocks."""
    import lz4.frame

    from neuromoco.formats.aedat4_writer import lz4_frame

    rng = np.random.default_rng(1)
    for raw in (
        rng.integers(0, 256, 100_000, dtype=np.uint8),  # incompressible
        np.zeros(9 << 20, dtype=np.uint8),  # three blocks
        np.zeros(0, dtype=np.uint8),
    ):
        frame = b"".join(bytes(p) for p in lz4_frame(raw))
        assert lz4.frame.decompress(frame) == raw.tobytes()
