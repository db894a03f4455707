"""The streaming recorder (neuromoco.streaming.recorder): every format written while events
arrive and read back by independent readers (dv-processing and ``aedat`` for AEDAT 4.0, the naive
loops / peers of test_writers for the others); bounded reordering of late events; a slow disk
(backlog warning, counted drops, exact accounting); a SIGKILLed recorder whose partial file stays
readable, is found at the next start and finalised by ``neuromoco convert``; refusals.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from test_writers import PEER, SUFFIX, peer_aedat4

from neuromoco.events import EVENT_DTYPE, make_events, read_recording
from neuromoco.formats.writer import open_writer
from neuromoco.streaming.recorder import (
    Recorder,
    check_record_target,
    final_path_of,
    find_partial_recordings,
    leftover_message,
)

REPO = Path(__file__).resolve().parents[1]


def _events(n, size=(128, 128), t0=0, span=5_000_000, seed=0):
    rng = np.random.default_rng(seed)
    t = t0 + np.sort(rng.integers(0, span, n))
    return make_events(
        t, rng.integers(0, size[0], n), rng.integers(0, size[1], n), rng.integers(0, 2, n)
    )


def _cols(a):
    return np.stack([np.asarray(a[k]).astype(np.int64) for k in "txyp"], 1)


class Statuses:
    """Collects the recorder's (kind, message) statuses from any thread."""

    def __init__(self):
        self.lock = threading.Lock()
        self.items: list[tuple[str, str]] = []

    def __call__(self, kind, message):
        with self.lock:
            self.items.append((kind, message))

    def of(self, kind):
        with self.lock:
            return [m for k, m in self.items if k == kind]


def _jitter(ev, max_us, seed=1):
    """Arrival order of a live camera: each event displaced by up to ``max_us`` (µs)."""
    rng = np.random.default_rng(seed)
    key = ev["t"] + rng.integers(0, max_us + 1, ev.shape[0])
    return ev[np.argsort(key, kind="stable")]


@pytest.mark.parametrize("fmt", ["aedat4", "aedat3", "evt2", "evt3", "dat"])
def test_every_format_streams_and_reads_back_with_peers(fmt, tmp_path):
    size = (128, 128) if fmt == "aedat3" else (346, 260)
    ev = _events(120_000, size, t0=1_000_000, seed=len(fmt))
    arrived = _jitter(ev, 5_000)  # out of order by ≤ 5 ms: inside the 20 ms reorder window
    assert np.any(np.diff(arrived["t"]) < 0)
    out = tmp_path / f"rec{SUFFIX[fmt]}"
    st = Statuses()
    rec = Recorder(out, size, fmt if fmt in ("evt2", "evt3") else None, on_status=st)
    assert rec.partial_path == tmp_path / f"rec.partial{SUFFIX[fmt]}"
    assert rec.partial_path.exists() and not out.exists()
    for i in range(0, arrived.shape[0], 3001):
        rec.add(arrived[i : i + 3001])
    assert rec.close() == out
    s = rec.stats()
    assert (s.events_in, s.events_written, s.events_dropped, s.events_late) == (120_000,) * 2 + (
        0,
        0,
    )
    assert not rec.partial_path.exists()
    # a stable sort of the arrival order, checked against this project's reader and a peer
    want = arrived[np.argsort(arrived["t"], kind="stable")]
    got = read_recording(out, format=fmt)
    assert got.sensor_size == size
    np.testing.assert_array_equal(got.events, want)
    ref = PEER[fmt](out)[0]
    np.testing.assert_array_equal(ref, _cols(want))
    assert st.of("recording") == [f"wrote 120000 events to {out}"]
    assert not st.of("error") and not st.of("warning")


def test_late_events_are_kept_counted_and_reported(tmp_path):
    ev = _events(50_000, span=2_000_000)
    late = make_events([100, 200, 300], [1, 2, 3], [4, 5, 6], [1, 0, 1])
    st = Statuses()
    out = tmp_path / "late.aedat4"
    rec = Recorder(out, (128, 128), on_status=st, tick_s=0.01)
    rec.add(ev[:40_000])
    # wait until the writer has written events well past t = 300 µs
    deadline = time.monotonic() + 5
    while rec.events_written == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert rec.events_written > 0
    rec.add(late)
    rec.add(ev[40_000:])
    assert rec.close() == out
    s = rec.stats()
    assert (s.events_in, s.events_written, s.events_late, s.events_dropped) == (50_003,) * 2 + (
        3,
        0,
    )
    got, _ = peer_aedat4(out)
    assert got.shape[0] == 50_003 and np.all(np.diff(got[:, 0]) >= 0)
    # the late events are there, with the timestamp of the last event written before them
    for x, y, p in ((1, 4, 1), (2, 5, 0), (3, 6, 1)):
        hit = got[(got[:, 1] == x) & (got[:, 2] == y) & (got[:, 3] == p)]
        assert hit.shape[0] >= 1
    assert any("3 events arrived more than 20 ms late" in m for m in st.of("warning"))
    assert "3 late events retimed" in st.of("recording")[-1]


def test_partial_file_is_readable_while_recording(tmp_path):
    """Flushed at least every flush_s: the events are on disk and readable without close(),
    also the last ones held for reordering once the input pauses."""
    ev = _events(30_000)
    out = tmp_path / "live.aedat4"
    rec = Recorder(out, (128, 128), flush_s=0.2, tick_s=0.02)
    rec.add(ev)
    deadline = time.monotonic() + 5
    n = 0
    while time.monotonic() < deadline:
        time.sleep(0.1)
        n = read_recording(rec.partial_path).events.shape[0]
        if n == ev.shape[0]:
            break
    assert n == ev.shape[0]
    np.testing.assert_array_equal(peer_aedat4(rec.partial_path)[0], _cols(ev))
    assert rec.close() == out


class SlowWriter:
    """An ``open_writer`` whose writes take ``delay`` seconds (a slow or stalled disk)."""

    def __init__(self, delay):
        self.delay = delay
        self.release = threading.Event()

    def __call__(self, path, sensor_size, format=None, **kw):
        w = open_writer(path, sensor_size, format=format, **kw)
        real_write = w.write
        slow = self

        def write(events):
            if not slow.release.is_set():
                time.sleep(slow.delay)
            real_write(events)

        w.write = write
        return w


def test_slow_disk_warns_drops_whole_chunks_counted_and_never_blocks(tmp_path):
    chunk_n = 10_000  # 130 kB a chunk
    ev = _events(60 * chunk_n, span=60_000_000)
    slow = SlowWriter(0.5)
    st = Statuses()
    out = tmp_path / "slow.aedat4"
    rec = Recorder(
        out,
        (128, 128),
        on_status=st,
        warn_bytes=300_000,
        max_bytes=1_000_000,
        tick_s=0.01,
        writer_factory=slow,
    )
    worst = 0.0
    for i in range(60):
        t0 = time.perf_counter()
        rec.add(ev[i * chunk_n : (i + 1) * chunk_n])
        worst = max(worst, time.perf_counter() - t0)
    assert worst < 0.1, f"add() blocked for {worst:.3f} s"
    s = rec.stats()
    assert s.behind and s.events_dropped > 0 and s.events_dropped % chunk_n == 0
    assert s.backlog_bytes <= 1_000_000
    assert any("is behind: backlog" in m for m in st.of("warning"))
    drops = st.of("error")
    assert drops and "disk is too slow, dropped" in drops[0]
    slow.release.set()  # the disk recovers: the backlog is written
    assert rec.close(timeout=30) == out
    s = rec.stats()
    assert s.events_in == ev.shape[0]
    assert s.events_in == s.events_written + s.events_dropped
    assert f"({s.events_dropped} dropped: the disk was too slow)" in st.of("recording")[-1]
    assert any("has caught up" in m for m in st.of("recording"))
    got, _ = peer_aedat4(out)
    assert got.shape[0] == s.events_written
    # whole chunks are kept or dropped, in order: each chunk's events are all there or absent
    kept = [
        i for i in range(60) if np.isin(ev["t"][i * chunk_n : (i + 1) * chunk_n], got[:, 0]).all()
    ]
    assert len(kept) * chunk_n == s.events_written
    want = np.concatenate([ev[i * chunk_n : (i + 1) * chunk_n] for i in kept])
    np.testing.assert_array_equal(got, _cols(want))


def test_a_write_error_is_reported_and_accounted(tmp_path):
    class Failing:
        def __call__(self, path, sensor_size, format=None, **kw):
            w = open_writer(path, sensor_size, format=format, **kw)
            real_write, calls = w.write, [0]

            def write(events):
                calls[0] += 1
                if calls[0] > 2:
                    raise OSError(28, "No space left on device")
                real_write(events)

            w.write = write
            return w

    ev = _events(40_000)
    st = Statuses()
    out = tmp_path / "full.aedat4"
    rec = Recorder(out, (128, 128), on_status=st, tick_s=0.01, writer_factory=Failing())
    for i in range(0, 40_000, 1000):
        rec.add(ev[i : i + 1000])
        time.sleep(0.002)
    assert rec.close() is None
    s = rec.stats()
    assert s.error and "No space left" in s.error
    assert s.events_in == 40_000 == s.events_written + s.events_dropped and s.events_written > 0
    err = st.of("error")[-1]
    assert f"recording {out} failed" in err and str(rec.partial_path) in err
    # what was written stays readable in the partial file (never renamed over the target)
    assert not out.exists()
    got = read_recording(rec.partial_path).events
    np.testing.assert_array_equal(got, ev[: got.shape[0]])


def test_refusals_and_names(tmp_path):
    with pytest.raises(ValueError, match=r"x\.npz: cannot record to \.npz: an npz file"):
        Recorder(tmp_path / "x.npz", (128, 128))
    with pytest.raises(ValueError, match=r"x\.raw: a \.raw recording is EVT 2\.0 or EVT 3\.0"):
        check_record_target(tmp_path / "x.raw")
    with pytest.raises(ValueError, match=r"x\.mp4: cannot record to '\.mp4'"):
        check_record_target(tmp_path / "x.mp4")
    with pytest.raises(ValueError, match=r"needs the suffix \.raw"):
        check_record_target(tmp_path / "x.aedat4", "evt3")
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Recorder(tmp_path / "no" / "x.aedat4", (128, 128))
    assert not list(tmp_path.iterdir())
    assert (
        check_record_target("a.aedat") == "aedat3"
        and check_record_target("a.raw", "evt2") == "evt2"
    )
    assert final_path_of(tmp_path / "r.partial3.raw") == tmp_path / "r.raw"


def test_clean_stop_replaces_an_older_file_only_when_complete(tmp_path):
    out = tmp_path / "take.aedat4"
    out.write_bytes(b"an older take")
    ev = _events(5000)
    rec = Recorder(out, (128, 128))
    rec.add(ev)
    assert out.read_bytes() == b"an older take"  # untouched while recording
    assert rec.close() == out
    np.testing.assert_array_equal(read_recording(out).events, ev)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["take.aedat4"]


CHILD = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from neuromoco.events import make_events
    from neuromoco.streaming.file_source import ArraySource
    from neuromoco.streaming.recorder import Recorder

    out, fmt, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    rng = np.random.default_rng(5)
    m = 2 * n
    t = np.sort(rng.integers(0, 4_000_000, m))
    ev = make_events(t, rng.integers(0, 128, m), rng.integers(0, 128, m), rng.integers(0, 2, m))
    rec = Recorder(out, (128, 128), fmt if fmt.startswith("evt") else None, flush_s=0.2)
    src = ArraySource(ev[:n], (128, 128), speed=0, chunk_events=4096)
    for chunk in src:               # a source, as the engine's source thread reads it
        rec.add(chunk)
    time.sleep(1.0)                 # the input pauses: > flush_s, everything is flushed
    print("added", rec.events_in, flush=True)
    for i in range(n, m, 997):      # more input, killed while it is written
        rec.add(ev[i : i + 997])
        time.sleep(0.001)
    time.sleep(60)
    """
)


def _record_and_kill(tmp_path, fmt, n):
    script = tmp_path / "child.py"
    script.write_text(CHILD)
    out = tmp_path / f"killed{SUFFIX[fmt]}"
    env = dict(os.environ, PYTHONPATH=str(REPO))
    child = subprocess.Popen(
        [sys.executable, str(script), str(out), fmt, str(n)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        line = child.stdout.readline().strip()
        time.sleep(0.15)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert line == f"added {n}" and child.returncode == -signal.SIGKILL
    rng = np.random.default_rng(5)
    t = np.sort(rng.integers(0, 4_000_000, 2 * n))
    m = 2 * n
    ev = make_events(t, rng.integers(0, 128, m), rng.integers(0, 128, m), rng.integers(0, 2, m))
    return out, ev


@pytest.mark.parametrize("fmt", ["aedat4", "evt3"])
def test_sigkill_leaves_a_readable_partial_found_at_the_next_start(fmt, tmp_path):
    n = 60_000
    out, ev = _record_and_kill(tmp_path, fmt, n)
    partial = out.with_name(f"killed.partial{SUFFIX[fmt]}")
    assert not out.exists() and partial.exists()
    assert find_partial_recordings(tmp_path) == [partial]
    env = dict(os.environ, PYTHONPATH=str(REPO))
    cli = [sys.executable, "-m", "neuromoco.cli"]
    info = subprocess.run(
        [*cli, "info", str(partial)], capture_output=True, text=True, env=env, timeout=120
    )
    assert info.returncode == 0, info.stderr
    got = read_recording(partial, format=fmt).events
    # everything added before the pause is there; what came after may be, in order
    assert got.shape[0] >= n
    np.testing.assert_array_equal(got, ev[: got.shape[0]])
    np.testing.assert_array_equal(PEER[fmt](partial)[0], _cols(got))  # dv-processing + aedat
    # the next start: the leftover is named with how to use it, and never overwritten
    msg = leftover_message(partial)
    assert str(partial) in msg and f"neuromoco convert {partial} {out}" in msg
    rec = Recorder(out, (128, 128), fmt if fmt == "evt3" else None)
    assert rec.partial_path.name == f"killed.partial2{SUFFIX[fmt]}"
    rec.close()
    assert read_recording(out, format=fmt).events.shape == (0,)
    out.unlink()
    # finalising the leftover as the message says
    conv = [*cli, "convert", str(partial), str(out)] + (["--format", fmt] if fmt == "evt3" else [])
    done = subprocess.run(conv, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(read_recording(out, format=fmt).events, got)
    if fmt == "aedat4":
        np.testing.assert_array_equal(peer_aedat4(out)[0], _cols(got))


def test_memory_is_bounded_whatever_the_length(tmp_path):
    """3 M events through the recorder hold the queue and one packet, not the recording."""
    import tracemalloc

    chunk = _events(50_000, seed=9)
    span = int(chunk["t"][-1]) + 1
    rec = Recorder(tmp_path / "long.aedat4", (128, 128), tick_s=0.01)
    tracemalloc.start()
    try:
        for i in range(60):
            c = chunk.copy()
            c["t"] += i * span
            rec.add(c)
            del c
            while rec.stats().backlog_events > 200_000:  # a writer that keeps up (this test)
                time.sleep(0.005)
        rec.close()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rec.events_written == 3_000_000
    assert peak < 24 << 20, (
        f"peak {peak / 2**20:.1f} MiB for {3e6 * EVENT_DTYPE.itemsize / 2**20:.0f} MiB of events"
    )


@pytest.mark.parametrize("fmt", ["evt2", "evt3", "dat"])
def test_prophesee_formats_rebase_epoch_timestamps(fmt, tmp_path):
    """An iniVation camera's µs since 1970 do not fit DAT/EVT 2.0 (and EVT 3.0 would spell out
    every 2**24 µs wrap since 0): written relative to the first event, said and counted."""
    ev = _events(20_000, t0=1_718_925_184_590_631, span=3_000_000)
    st = Statuses()
    out = tmp_path / f"epoch{SUFFIX[fmt]}"
    rec = Recorder(out, (128, 128), fmt if fmt != "dat" else None, on_status=st)
    rec.add(ev)
    assert rec.close() == out
    t0 = int(ev["t"][0])
    assert rec.stats().t_offset_us == t0 and out.stat().st_size < 20 * 20_000
    assert any(f"relative to the first event (t = {t0} µs)" in m for m in st.of("warning"))
    want = ev.copy()
    want["t"] -= t0
    np.testing.assert_array_equal(read_recording(out, format=fmt).events, want)
    np.testing.assert_array_equal(PEER[fmt](out)[0], _cols(want))
    # small timestamps (a Prophesee camera's) and AEDAT stay as they are
    rec = Recorder(tmp_path / f"small{SUFFIX[fmt]}", (128, 128), fmt if fmt != "dat" else None)
    rec.add(want)
    rec.close()
    assert rec.stats().t_offset_us == 0


def test_engine_reports_a_slow_disk_and_accounts_exactly(tmp_path):
    """Through the engine: the backlog warning and the drops reach the status channel (what the
    status bar and the headless log show), with exact accounting."""
    from test_session import LeakyPredictor

    from neuromoco.streaming.engine import Engine
    from neuromoco.streaming.file_source import ArraySource

    ev = _events(400_000, size=(32, 32), span=20_000_000)
    slow = SlowWriter(0.4)
    eng = Engine(LeakyPredictor(), mode="window")
    eng.recorder_options = dict(
        writer_factory=slow, warn_bytes=400_000, max_bytes=1_500_000, tick_s=0.01
    )
    out = tmp_path / "eng.aedat4"
    eng.start(ArraySource(ev, (32, 32), speed=0, chunk_events=20_000), record=out)
    assert eng.wait(20)
    st = eng.recording_stats()
    assert st.events_in == 400_000 and st.events_dropped > 0 and st.behind
    slow.release.set()
    assert eng.stop(1.0)
    st = eng.recording_stats()
    assert st.closed and st.events_in == st.events_written + st.events_dropped
    kinds = [(s.kind, s.message) for s in eng.poll_status()]
    assert any(k == "warning" and "is behind: backlog" in m for k, m in kinds)
    assert any(k == "error" and "disk is too slow, dropped" in m for k, m in kinds)
    assert any(k == "recording" and f"({st.events_dropped} dropped" in m for k, m in kinds)
    assert read_recording(out).events.shape[0] == st.events_written


def test_a_program_that_exits_without_close_gets_a_complete_file(tmp_path):
    out = tmp_path / "atexit.aedat4"
    code = textwrap.dedent(
        f"""
        import numpy as np
        from neuromoco.events import make_events
        from neuromoco.streaming.recorder import Recorder
        rec = Recorder({str(out)!r}, (128, 128))
        rec.add(make_events(np.arange(5000), np.arange(5000) % 128, np.zeros(5000), np.ones(5000)))
        """
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run([sys.executable, "-c", code], env=env, timeout=60, capture_output=True)
    assert r.returncode == 0, r.stderr
    got, _ = peer_aedat4(out)
    np.testing.assert_array_equal(got[:, 0], np.arange(5000))
    assert not list(tmp_path.glob("*.partial*"))


def test_status_bar_recording_field():
    """The status bar's REC field: hidden when not recording, amber when behind or dropping."""
    pytest.importorskip("PySide6")
    from PySide6 import QtWidgets

    from neuromoco.app.status_bar import WARNING_TEXT, StatusInfo, StatusPanel

    QtWidgets.QApplication.instance() or QtWidgets.QApplication([])
    sb = StatusPanel()
    sb.set_info(StatusInfo(state="running"))
    assert sb.labels["rec"].isHidden()
    sb.set_info(StatusInfo(recording="REC 1.20 M ev · behind 80 MiB", recording_alert=True))
    assert not sb.labels["rec"].isHidden()
    assert sb.labels["rec"].text() == "● REC 1.20 M ev · behind 80 MiB"
    assert WARNING_TEXT in sb.labels["rec"].styleSheet()
    sb.show_warning("recording x.aedat4 is behind: backlog 80 MiB")
    assert sb.last_warning.endswith("80 MiB") and "is behind" in sb.text()
