"""`neuromoco convert` through the streaming writers: exact conversions of the real recordings
(read back by our reader and by independent peers), the one-chunk reorder window, bounded
memory, and refusals."""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytest
from test_formats_peers import SENSOR, TESTDATA
from test_writers import PEER, SUFFIX, _cols, _events

from neuromoco.commands import convert
from neuromoco.events import make_events, read_recording, write_events
from neuromoco.formats import aedat3


def _convert(src, out, fmt=None, chunk_events=1_000_000, force=False, **extra):
    parser = argparse.ArgumentParser()
    convert.add_arguments(parser)
    argv = [str(src), str(out), "--chunk-events", str(chunk_events)]
    if fmt:
        argv += ["--format", fmt]
    if force:
        argv.append("--force")
    return convert.run(parser.parse_args(argv))


REAL = sorted(r for r in SENSOR if not r.startswith("unlabeled_"))


@pytest.mark.needs_shared
@pytest.mark.parametrize("rel", REAL)
def test_real_recordings_to_aedat4(rel, tmp_path):
    src = TESTDATA / rel
    if not src.exists():
        pytest.skip(f"{src} absent")
    want = read_recording(src)
    out = tmp_path / "out.aedat4"
    _convert(src, out, chunk_events=3001)
    got = read_recording(out)
    assert got.sensor_size == want.sensor_size
    np.testing.assert_array_equal(got.events, want.events)
    ref, size = PEER["aedat4"](out)
    np.testing.assert_array_equal(ref, _cols(want.events))
    assert size == want.sensor_size


@pytest.mark.needs_shared
@pytest.mark.parametrize("fmt", ["aedat3", "evt2", "evt3", "dat", "npz"])
def test_real_evt3_to_every_format(fmt, tmp_path):
    src = TESTDATA / "prophesee/evt3_sample.raw"
    if not src.exists():
        pytest.skip(f"{src} absent")
    want = read_recording(src)
    out = tmp_path / f"out{SUFFIX.get(fmt, '.npz')}"
    _convert(src, out, fmt=fmt, chunk_events=50_000)
    got = read_recording(out, format=fmt)
    np.testing.assert_array_equal(got.events, want.events)
    if fmt == "aedat3":  # the AEDAT 3.1 #Source line holds the size as neuromoco_WxH
        assert got.sensor_size == (1280, 720)
    else:
        assert got.sensor_size == want.sensor_size
    if fmt in PEER:
        np.testing.assert_array_equal(PEER[fmt](out)[0], _cols(want.events))


def _shuffled_aedat3(tmp_path, ev, swaps):
    """An AEDAT 3.1 file holding ``ev`` with the given index pairs swapped (write_events
    refuses unsorted input, so the packets are built from words)."""
    bad = ev.copy()
    for i, j in swaps:
        bad[[i, j]] = bad[[j, i]]
    n = bad.shape[0]
    p = tmp_path / "ooo.aedat"
    p.write_bytes(
        aedat3.header_bytes()
        + aedat3.PACKET_HEADER.pack(1, 1, 8, 4, 0, n, n, n)
        + aedat3.encode(bad).tobytes()
    )
    return p


def test_inversions_across_chunk_boundaries_are_merged(tmp_path, capsys):
    ev = _events(10_000, (128, 128), seed=11)
    # swaps straddling the 1000-event chunk boundaries, and one inside a chunk
    p = _shuffled_aedat3(tmp_path, ev, [(999, 1000), (1995, 2004), (4500, 4501), (7000, 7990)])
    want = read_recording(p)  # whole-file stable sort
    assert want.n_reordered >= 3
    out = tmp_path / "merged.aedat4"
    _convert(p, out, chunk_events=1000)
    np.testing.assert_array_equal(read_recording(out).events, want.events)
    assert "reordered" in capsys.readouterr().out


def test_displacement_beyond_one_chunk_is_refused(tmp_path):
    ev = _events(10_000, (128, 128), seed=12)
    p = _shuffled_aedat3(tmp_path, ev, [(100, 5000)])  # an event 4900 places late
    out = tmp_path / "bad.aedat4"
    with pytest.raises(ValueError, match="larger --chunk-events"):
        _convert(p, out, chunk_events=1000)
    assert not out.exists() and list(tmp_path.glob(".bad.aedat4*")) == []
    _convert(p, out, chunk_events=10_000)  # one chunk holds the whole displacement
    np.testing.assert_array_equal(read_recording(out).events, read_recording(p).events)


def test_convert_memory_is_bounded(tmp_path):
    """3 M events (39 MB decoded) converted AEDAT 3.1 -> AEDAT 4.0 in 100 k chunks."""
    import tracemalloc

    n = 3_000_000
    ev = _events(n, (128, 128), t_span=60_000_000, seed=13)
    src = tmp_path / "big.aedat"
    write_events(src, ev, (128, 128))
    del ev
    tracemalloc.start()
    try:
        _convert(src, tmp_path / "big.aedat4", chunk_events=100_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 << 20, f"peak {peak / 2**20:.1f} MiB"
    assert read_recording(tmp_path / "big.aedat4").events.shape == (n,)


def test_convert_refusals(tmp_path):
    src = tmp_path / "a.aedat4"
    write_events(src, make_events([1, 2], [1, 2], [1, 2], [0, 1]), (128, 128))
    with pytest.raises(ValueError, match="pass --format"):
        _convert(src, tmp_path / "a.raw")
    with pytest.raises(ValueError, match="same file"):
        _convert(src, src, force=True)
    (tmp_path / "exists.dat").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="--force"):
        _convert(src, tmp_path / "exists.dat")
    _convert(src, tmp_path / "exists.dat", force=True)
    assert read_recording(tmp_path / "exists.dat").events.shape == (2,)
    big = tmp_path / "big.aedat4"
    write_events(big, make_events([0], [3000], [5], [1]), (4000, 100))
    with pytest.raises(ValueError, match="does not fit evt3"):
        _convert(big, tmp_path / "x.raw", fmt="evt3")
    assert not Path(tmp_path / "x.raw").exists()
