"""Frame cache: reuse, invalidation (framing / touched source), interruption, corruption, workers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from helpers_formats import write_gesture_tree

from neuromoco.atomic import remove_stale_temps
from neuromoco.data import DVS128Gesture, FramesDataset, SampleCache
from neuromoco.framing import FramingSpec, to_frames

REPO = Path(__file__).resolve().parents[1]
TRAIN = {"user01_fluorescent": [1, 2, 3], "user02_lab": [4, 5], "user03_led": [6, 7, 8]}
TEST = {"user24_led": [9, 10, 11]}
SPEC = FramingSpec(T=4, split_by="number", size=(32, 32))


@pytest.fixture
def gesture(tmp_path):
    write_gesture_tree(tmp_path / "data", TRAIN, TEST)
    return tmp_path / "data", tmp_path / "cache"


def _direct(src: DVS128Gesture, i: int, spec: FramingSpec) -> np.ndarray:
    return to_frames(src.events(i), spec.T, src.sensor_size, spec.split_by, spec.size)


def _files(d: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in d.glob("*.npy")}


def test_build_reuse_and_contents(gesture):
    root, cache = gesture
    src = DVS128Gesture(root, "train")
    ds = FramesDataset(src, SPEC, cache_dir=cache)
    assert ds.build_cache(workers=0, progress=False) == 8
    files = _files(ds.cache.dir)
    assert len(files) == 8 and ds.cache.dir.parent.name == "dvs128_gesture"
    assert ds.build_cache(workers=0, progress=False) == 0  # nothing to do the second time
    for i in range(len(ds)):
        x, y = ds[i]
        np.testing.assert_array_equal(x.numpy(), _direct(src, i, SPEC))
        assert y == src.samples[i].label
        assert ds.cache.get(i).dtype == np.uint8  # counts stored compactly
    assert _files(ds.cache.dir) == files  # reading never rewrote a file
    # a new dataset object finds the same files
    ds2 = FramesDataset(DVS128Gesture(root, "train"), SPEC, cache_dir=cache)
    assert ds2.cache.missing() == []


def test_lazy_fill_without_build(gesture):
    root, cache = gesture
    ds = FramesDataset(DVS128Gesture(root, "test"), SPEC, cache_dir=cache)
    assert len(ds.cache.missing()) == 3
    ds[1]
    assert len(ds.cache.missing()) == 2


def test_framing_change_gives_new_cache_normalize_reuses(gesture):
    root, cache = gesture
    src = DVS128Gesture(root, "test")
    a = FramesDataset(src, SPEC, cache_dir=cache)
    a.build_cache(workers=0, progress=False)
    b = FramesDataset(src, FramingSpec(T=5, split_by="number", size=(32, 32)), cache_dir=cache)
    c = FramesDataset(src, FramingSpec(T=4, split_by="time", size=(32, 32)), cache_dir=cache)
    d = FramesDataset(src, FramingSpec(T=4, split_by="number", size=(16, 16)), cache_dir=cache)
    dirs = {x.cache.dir for x in (a, b, c, d)}
    assert len(dirs) == 4
    for x in (b, c, d):
        assert len(x.cache.missing()) == 3
        assert x[0][0].shape[0] == x.framing.T
    # normalisation is applied on load: same files, different values
    n = FramesDataset(
        src, FramingSpec(T=4, split_by="number", size=(32, 32), normalize="binary"), cache_dir=cache
    )
    assert n.cache.dir == a.cache.dir and n.cache.missing() == []
    assert float(n[0][0].max()) == 1.0 and float(a[0][0].max()) > 1.0


def test_touched_source_is_rebuilt_never_stale(gesture):
    root, cache = gesture
    ds = FramesDataset(DVS128Gesture(root, "train"), SPEC, cache_dir=cache)
    ds.build_cache(workers=0, progress=False)
    before = ds[0][0].clone()
    rec = root / "DvsGesture" / "user01_fluorescent.aedat"
    # rewrite the recording with different events (same size), then bump mtime
    from helpers_formats import random_events

    from neuromoco.events import read_events, write_events

    old = read_events(rec)
    new = random_events(old.size, (128, 128), int(old["t"][0]), int(old["t"][-1]) + 1, seed=99)
    write_events(rec, new, (128, 128), format="aedat3")
    st = rec.stat()
    os.utime(rec, ns=(st.st_atime_ns, st.st_mtime_ns + 10_000_000))
    ds = FramesDataset(DVS128Gesture(root, "train"), SPEC, cache_dir=cache)
    assert sorted(ds.cache.missing()) == [0, 1, 2]  # only that recording's samples
    x = ds[0][0]
    assert not np.array_equal(x.numpy(), before.numpy())
    np.testing.assert_array_equal(x.numpy(), _direct(ds.source, 0, SPEC))
    # a plain touch (same content, new mtime) also invalidates: identity is (path, size, mtime)
    os.utime(rec, ns=(st.st_atime_ns, st.st_mtime_ns + 20_000_000))
    assert sorted(
        FramesDataset(DVS128Gesture(root, "train"), SPEC, cache_dir=cache).cache.missing()
    ) == [0, 1, 2]


def test_interrupted_build_resumes_and_leaves_no_corrupt_file(gesture):
    root, cache = gesture
    # A child process builds the cache and is SIGKILLed while writing its 4th file: after the
    # temporary file is written, before the rename.
    script = textwrap.dedent(
        f"""
        import os, signal
        import neuromoco.data.cache as c
        from neuromoco.data.cache import SampleCache  # no torch: a quick child process
        from neuromoco.data.dvs128_gesture import DVS128Gesture
        from neuromoco.framing import FramingSpec
        real, n = os.replace, [0]
        def replace(a, b):
            n[0] += 1
            if n[0] == 4:
                os.kill(os.getpid(), signal.SIGKILL)
            real(a, b)
        c.os.replace = replace
        spec = FramingSpec(T=4, split_by="number", size=(32, 32))
        SampleCache({str(cache)!r}, DVS128Gesture({str(root)!r}, "train"), spec).build(0, False)
        """
    )
    r = subprocess.run([sys.executable, "-c", script], cwd=REPO, capture_output=True, timeout=120)
    assert r.returncode == -9, r.stderr.decode()
    ds = FramesDataset(DVS128Gesture(root, "train"), SPEC, cache_dir=cache)
    d = ds.cache.dir
    assert len(list(d.glob("*.npy"))) == 3
    assert len(list(d.glob(".*.tmp"))) == 1  # the dead writer's temporary file
    for p in d.glob("*.npy"):
        assert np.load(p).shape == (4, 2, 32, 32)  # every final file is complete
    assert len(ds.cache.missing()) == 5
    assert ds.build_cache(workers=0, progress=False) == 5  # resume: only the rest
    assert list(d.glob(".*.tmp")) == []  # stale temporary file removed
    for i in range(len(ds)):
        np.testing.assert_array_equal(ds[i][0].numpy(), _direct(ds.source, i, SPEC))


def test_corrupt_or_wrong_cache_file_is_rebuilt(gesture):
    root, cache = gesture
    ds = FramesDataset(DVS128Gesture(root, "test"), SPEC, cache_dir=cache)
    ds.build_cache(workers=0, progress=False)
    ds.cache.path(0).write_bytes(b"garbage")
    np.save(ds.cache.path(1), np.zeros((2, 2), np.uint8))
    for i in (0, 1):
        np.testing.assert_array_equal(ds[i][0].numpy(), _direct(ds.source, i, SPEC))
    assert np.load(ds.cache.path(0)).shape == (4, 2, 32, 32)


def test_stale_tmp_of_live_process_is_kept(tmp_path):
    (tmp_path / f".a.npy.{os.getpid() + 10**7}.k3x_9.tmp").write_bytes(b"x")  # no such pid
    (tmp_path / f".b.npy.{os.getppid()}.q2z7a.tmp").write_bytes(b"x")  # alive
    (tmp_path / ".c.npy.tmp").write_bytes(b"x")  # not a name atomic_path makes: left alone
    assert remove_stale_temps(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f".b.npy.{os.getppid()}.q2z7a.tmp",
        ".c.npy.tmp",
    ]


def test_worker_processes_build_the_same_files(gesture, monkeypatch):
    import multiprocessing

    import neuromoco.data.cache as cache_mod

    root, cache = gesture
    src = DVS128Gesture(root, "all")
    monkeypatch.setattr(cache_mod, "SMALL_BUILD", 0)  # use the pool even for 11 samples
    used = []
    real = multiprocessing.get_context
    monkeypatch.setattr(multiprocessing, "get_context", lambda m=None: used.append(m) or real(m))
    par = SampleCache(cache / "par", src, SPEC)
    seq = SampleCache(cache / "seq", src, SPEC)
    assert par.build(workers=2, progress=False) == 11
    assert used == ["spawn"]
    assert seq.build(workers=0, progress=False) == 11
    assert used == ["spawn"]
    for i in range(len(src)):
        np.testing.assert_array_equal(par.load(i), seq.load(i))


def test_events_cache_for_window_mode(gesture):
    root, cache = gesture
    spec = FramingSpec(T=4, split_by="time", size=(32, 32), window_us=50_000)
    ds = FramesDataset(
        DVS128Gesture(root, "test"), spec, sampling="window", cache_dir=cache, seed=0
    )
    assert ds.cache.kind == "events" and ds.cache.dir.name == "events"
    ds.build_cache(workers=0, progress=False)
    for i in range(3):
        np.testing.assert_array_equal(ds.cache.load(i), ds.source.events(i))
    assert ds[0][0].shape == (4, 2, 32, 32)


def test_cache_bad_arguments(gesture):
    root, cache = gesture
    src = DVS128Gesture(root, "test")
    with pytest.raises(ValueError, match="kind"):
        SampleCache(cache, src, SPEC, kind="png")
    with pytest.raises(ValueError, match="FramingSpec"):
        SampleCache(cache, src, None)
    with pytest.raises(ValueError, match="cache_dir"):
        FramesDataset(src, SPEC).build_cache()


def test_unguarded_script_falls_back_instead_of_hanging(gesture, tmp_path):
    # spawn re-imports a script's top level in each worker; without an `if __name__ == "__main__"`
    # guard the workers die while bootstrapping. The build must finish in-process, not hang.
    root, cache = gesture
    script = tmp_path / "unguarded.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import neuromoco.data.cache as c
            from neuromoco.data.dvs128_gesture import DVS128Gesture
            from neuromoco.framing import FramingSpec
            c.SMALL_BUILD = 0
            src = DVS128Gesture({str(root)!r}, "all")
            n = c.SampleCache({str(cache)!r}, src, FramingSpec(T=2, size=(16, 16))).build(2, False)
            print("built", n)
            """
        )
    )
    r = subprocess.run([sys.executable, str(script)], cwd=REPO, capture_output=True, timeout=120)
    out, err = r.stdout.decode(), r.stderr.decode()
    assert r.returncode == 0, err
    assert out.strip().endswith("built 11")
    assert "__main__" in err and "RuntimeWarning" in err
