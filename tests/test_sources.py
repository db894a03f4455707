"""Event sources: replay pacing, slicing, loop, pause, close; camera/webcam errors; noise filter."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from neuromoco.events import EventFormatError, read_events
from neuromoco.streaming.camera_source import CameraNotFoundError, CameraSource, list_cameras
from neuromoco.streaming.file_source import ArraySource, FileSource
from neuromoco.streaming.source import EventSource, SourceError
from neuromoco.streaming.synthetic_source import SyntheticSource
from neuromoco.streaming.webcam_source import WebcamSource
from tests.conftest import shared_file
from tests.helpers_formats import random_events

DVS_DENSE = "aedat4/dvSave-2024_06_20_16_13_00.aedat4"


def _stream(n=3000, dur_us=300_000, t0=5_000_000, seed=0, w=32, h=32):
    return random_events(n, (w, h), t0, t0 + dur_us, seed)


def _collect(src, with_wm=False):
    out = []
    for c in src:
        out.append((c, src.watermark_us) if with_wm else c)
    return out


def test_unpaced_replay_is_lossless_and_ends_with_final_watermark():
    ev = _stream()
    src = ArraySource(ev, (32, 32), speed=0, chunk_events=700)
    assert isinstance(src, EventSource)
    got = _collect(src, with_wm=True)
    np.testing.assert_array_equal(np.concatenate([c for c, _ in got]), ev)
    assert got[-1][1] == int(ev["t"][-1]) + 1
    assert src.status == "ended: end of recording"


@pytest.mark.parametrize("speed", [1.0, 5.0])
def test_paced_replay_follows_event_time(speed):
    ev = _stream(dur_us=300_000)
    dur = (int(ev["t"][-1]) - int(ev["t"][0])) / 1e6 / speed
    src = ArraySource(ev, (32, 32), speed=speed, chunk_events=500, slice_us=2000)
    t0 = time.perf_counter()
    got = []
    for c in src:
        # each slice is released no earlier than its watermark's due time
        due = (src.watermark_us - int(ev["t"][0])) / 1e6 / speed
        assert time.perf_counter() - t0 >= due - 0.005
        got.append((c, src.watermark_us))
    elapsed = time.perf_counter() - t0
    assert dur - 0.01 <= elapsed <= dur + 0.5
    np.testing.assert_array_equal(np.concatenate([c for c, _ in got]), ev)
    # slices: events of each chunk lie in [previous watermark, watermark)
    prev = -1
    for c, wm in got:
        assert wm >= prev
        if c.shape[0]:
            assert int(c["t"][0]) >= prev and int(c["t"][-1]) < wm
        prev = wm


def test_loop_continues_timestamps_monotonically():
    ev = _stream(n=500, dur_us=50_000)
    src = ArraySource(ev, (32, 32), speed=0, loop=True, chunk_events=128)
    got = []
    for c in src:
        got.append(c)
        if src.passes >= 3:
            src.close()
    allev = np.concatenate(got)
    assert allev.shape[0] >= 3 * ev.shape[0]
    assert np.all(np.diff(allev["t"]) >= 0)
    period = int(ev["t"][-1]) - int(ev["t"][0]) + 1
    second = allev[ev.shape[0] : 2 * ev.shape[0]]
    np.testing.assert_array_equal(second["t"], ev["t"] + period)
    np.testing.assert_array_equal(second["x"], ev["x"])


def test_pause_freezes_replay_without_a_burst():
    ev = _stream(n=2000, dur_us=400_000)
    src = ArraySource(ev, (32, 32), speed=1.0, slice_us=2000)
    times = []

    def consume():
        for c in src:
            times.append((time.perf_counter(), src.watermark_us, c.shape[0]))

    th = threading.Thread(target=consume)
    t0 = time.perf_counter()
    th.start()
    time.sleep(0.1)
    src.pause()
    assert src.status == "paused"
    paused_at = time.perf_counter()
    n_at_pause = len(times)
    time.sleep(0.3)
    assert len(times) <= n_at_pause + 1  # at most the slice in flight
    src.resume()
    th.join(3)
    assert not th.is_alive()
    elapsed = time.perf_counter() - t0
    assert elapsed >= 0.4 + 0.3 - 0.02  # replay time + pause
    # after resuming, the stream continues in real time (no backlog burst)
    after = [(w, wm) for w, wm, _ in times if w > paused_at + 0.3]
    wm0 = after[0][1]
    for w, wm in after[len(after) // 2 :]:
        assert (wm - wm0) / 1e6 <= (w - after[0][0]) + 0.02


def test_close_from_another_thread_stops_quickly():
    ev = _stream(n=2000, dur_us=10_000_000)  # 10 s of stream
    src = ArraySource(ev, (32, 32), speed=1.0)
    done = threading.Event()

    def consume():
        for _ in src:
            pass
        done.set()

    threading.Thread(target=consume, daemon=True).start()
    time.sleep(0.1)
    t0 = time.perf_counter()
    src.close()
    assert done.wait(1.0)
    assert time.perf_counter() - t0 < 0.5  # waits poll the stop flag every 50 ms
    assert src.status.startswith("ended")


def test_speed_change_mid_stream():
    ev = _stream(n=2000, dur_us=1_000_000)
    src = ArraySource(ev, (32, 32), speed=1.0)
    t0 = time.perf_counter()
    for i, _ in enumerate(src):
        if i == 10:
            src.speed = 20.0
    assert time.perf_counter() - t0 < 0.8  # 1 s of stream: ~10 ms at 1×, the rest at 20×


@pytest.mark.needs_shared
def test_file_source_on_a_real_recording():
    path = shared_file(DVS_DENSE)
    src = FileSource(path, speed=0, chunk_events=10_000)
    assert src.sensor_size == (128, 128) and src.format == "aedat4"
    got = np.concatenate(_collect(src))
    np.testing.assert_array_equal(got, read_events(path))


def test_file_source_bad_inputs(tmp_path):
    with pytest.raises((EventFormatError, OSError), match="nope.aedat4"):
        FileSource(tmp_path / "nope.aedat4")
    bad = tmp_path / "bad.aedat4"
    bad.write_bytes(b"this is not an event file at all")
    with pytest.raises(EventFormatError, match="bad.aedat4"):
        FileSource(bad)
    with pytest.raises(EventFormatError, match="sorted"):
        ArraySource(_stream()[::-1].copy(), (32, 32))


# ---------------------------------------------------------------- camera
class _Desc:
    def __init__(self, serial, model="DVXPLORER"):
        self.serialNumber = serial
        self.cameraModel = f"CameraModel.{model}"


def test_camera_absent_is_a_clear_error(monkeypatch):
    import dv_processing as dv

    monkeypatch.setattr(dv.io.camera, "discover", lambda: [])
    assert list_cameras() == []
    with pytest.raises(CameraNotFoundError, match="no iniVation camera found"):
        CameraSource()


def test_camera_wrong_serial_lists_found(monkeypatch):
    import dv_processing as dv

    monkeypatch.setattr(
        dv.io.camera, "discover", lambda: [_Desc("DXA00093"), _Desc("DVS1", "DVS128")]
    )
    cams = list_cameras()
    assert [c["serial"] for c in cams] == ["DXA00093", "DVS1"]
    with pytest.raises(
        CameraNotFoundError, match=r"'XYZ'.*DVXPLORER serial DXA00093.*DVS128 serial DVS1"
    ):
        CameraSource("XYZ")


def test_camera_vanishing_between_discover_and_open(monkeypatch):
    import dv_processing as dv

    def boom(*a, **k):
        raise IndexError("vector::_M_range_check")

    monkeypatch.setattr(dv.io.camera, "discover", lambda: [_Desc("DXA1")])
    monkeypatch.setattr(dv.io.camera, "open", boom)
    with pytest.raises(SourceError, match="cannot open"):
        CameraSource()


class _FakeStore:
    def __init__(self, ev):
        self.ev = ev

    def size(self):
        return self.ev.shape[0]

    def timestamps(self):
        return self.ev["t"]

    def coordinates(self):
        return np.stack([self.ev["x"], self.ev["y"]], axis=1).astype(np.int16)

    def polarities(self):
        return self.ev["p"].astype(bool)


class _FakeCam:
    def __init__(self, batches):
        self.batches = list(batches)

    def isEventStreamAvailable(self):
        return True

    def getEventResolution(self):
        return (32, 32)

    def getCameraName(self):
        return "FakeCam_1"

    def isRunning(self):
        return bool(self.batches)  # "unplugged" once the batches run out

    def getNextEventBatch(self):
        return self.batches.pop(0)


def test_camera_stream_and_unplug(monkeypatch):
    import dv_processing as dv

    ev = _stream(n=1000)
    batches = [_FakeStore(ev[:400]), None, _FakeStore(ev[400:])]
    monkeypatch.setattr(dv.io.camera, "discover", lambda: [_Desc("1")])
    monkeypatch.setattr(dv.io.camera, "open", lambda *a: _FakeCam(batches))
    src = CameraSource(poll_s=0.0)
    assert src.live and src.sensor_size == (32, 32) and src.name == "FakeCam_1"
    got = _collect(src, with_wm=True)
    np.testing.assert_array_equal(np.concatenate([c for c, _ in got]), ev)
    assert got[-1][1] == int(ev["t"][-1])
    assert src.status == "ended: camera disconnected"


def test_camera_silence_advances_the_watermark(monkeypatch):
    import dv_processing as dv

    ev = _stream(n=200, dur_us=10_000, t0=1_000_000)
    tail = _stream(n=50, dur_us=1000, t0=6_000_000, seed=1)  # the camera clock moved on
    batches = [_FakeStore(ev)] + [None] * 60 + [_FakeStore(tail)]
    monkeypatch.setattr(dv.io.camera, "discover", lambda: [_Desc("1")])
    monkeypatch.setattr(dv.io.camera, "open", lambda *a: _FakeCam(batches))
    src = CameraSource(poll_s=0.005, idle_margin_us=20_000)
    got = _collect(src, with_wm=True)
    idle = [wm for c, wm in got if c.shape[0] == 0]
    assert len(idle) >= 5  # a silent scene keeps the clock moving (~300 ms of polls)
    assert idle == sorted(idle) and idle[0] > int(ev["t"][-1])
    assert idle[-1] < int(tail["t"][0])  # the margin keeps real events ahead of the watermark
    np.testing.assert_array_equal(np.concatenate([c for c, _ in got]), np.concatenate([ev, tail]))


# ---------------------------------------------------------------- webcam
class _FakeCapture:
    def __init__(self, frames, opened=True):
        self.frames = list(frames)
        self.opened = opened
        self.released = False

    def isOpened(self):
        return self.opened

    def read(self):
        if not self.frames:
            return False, None
        return True, self.frames.pop(0)

    def release(self):
        self.released = True


def test_webcam_absent_is_a_clear_error():
    with pytest.raises(SourceError, match="webcam 3: cannot open"):
        WebcamSource(3, capture=_FakeCapture([], opened=False))
    with pytest.raises(SourceError, match="no frames"):
        WebcamSource(0, capture=_FakeCapture([]))


def test_webcam_frames_become_events():
    # a bright square moving over a dark background: edges must produce ON and OFF events
    frames = []
    for i in range(6):
        f = np.full((60, 80, 3), 20, np.uint8)
        f[20:40, 10 + 8 * i : 30 + 8 * i] = 230
        frames.append(f)
    cap = _FakeCapture(frames)
    src = WebcamSource(0, size=(40, 30), capture=cap)
    got = _collect(src, with_wm=True)
    ev = np.concatenate([c for c, _ in got])
    assert src.status.startswith("ended") and cap.released
    assert src.frames == 6 and ev.shape[0] > 20
    assert set(np.unique(ev["p"]).tolist()) == {0, 1}
    assert ev["x"].max() < 40 and ev["y"].max() < 30
    for c, wm in got:
        if c.shape[0]:
            assert int(c["t"][-1]) < wm


# ---------------------------------------------------------------- synthetic
def test_synthetic_source_truth_from_segments():
    segs = []
    t = 0
    for label in (2, 5, 1):
        segs.append((_stream(n=300, dur_us=100_000, t0=t, seed=label), label, t))
        t += 120_000
    src = SyntheticSource(
        speed=0, segments=iter(segs), class_names=tuple("abcdefg"), sensor_size=(32, 32)
    )
    got = np.concatenate(_collect(src))
    assert got.shape[0] == 900
    assert src.truth_label(0, 50_000) == 2
    assert src.truth_label(100_000, 200_000) == 5  # mostly in the second segment
    assert src.truth_label(230_000, 260_000) == 1


def test_synthetic_source_real_gestures():
    from neuromoco import synth

    if not hasattr(synth, "GestureStream"):
        pytest.skip("neuromoco.synth.GestureStream not available yet")
    src = SyntheticSource(seed=1, speed=0, max_segments=2)
    got = np.concatenate(_collect(src))
    assert got.shape[0] > 100 and src.sensor_size == tuple(synth.SENSOR_SIZE)
    assert src.truth_label(int(got["t"][0]), int(got["t"][0]) + 1000) in range(
        len(synth.CLASS_NAMES)
    )


def test_every_source_implements_the_protocol():
    """The engine relies on the EventSource protocol (no getattr probes): every source class
    has all of it, pause/resume/speed included."""
    from neuromoco.streaming.camera_source import CameraSource
    from neuromoco.streaming.file_source import ArraySource, FileSource
    from neuromoco.streaming.source import EventSource
    from neuromoco.streaming.synthetic_source import SyntheticSource
    from neuromoco.streaming.webcam_source import WebcamSource

    members = [m for m in dir(EventSource) if not m.startswith("_") or m == "__iter__"]
    assert {"pause", "resume", "speed", "watermark_us", "truth_label", "close"} <= set(members)
    for cls in (FileSource, ArraySource, SyntheticSource, CameraSource, WebcamSource):
        missing = [m for m in members if not hasattr(cls, m)]
        assert not missing, (cls.__name__, missing)
    src = ArraySource(_stream(), (32, 32), speed=0)
    assert isinstance(src, EventSource)
