"""DVS128 Gesture loader on tiny fake trees in the official and spikingjelly layouts."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from helpers_formats import random_events, write_gesture_tree

from neuromoco.data import DatasetNotFoundError, DVS128Gesture, build_dataset
from neuromoco.data.dvs128_gesture import CLASS_NAMES
from neuromoco.events import EventFormatError, read_events
from neuromoco.framing import FramingSpec, to_frames

TRAIN = {"user01_fluorescent": [1, 2, 3, 11], "user02_lab": [4, 5, 6]}
TEST = {"user24_led": [7, 8, 9, 10]}


@pytest.fixture
def gesture_root(tmp_path):
    write_gesture_tree(tmp_path, TRAIN, TEST)
    return tmp_path


def test_counts_labels_and_cuts(gesture_root):
    tr = DVS128Gesture(gesture_root, "train")
    te = DVS128Gesture(gesture_root, "test")
    al = DVS128Gesture(gesture_root, "all")
    assert (len(tr), len(te), len(al)) == (7, 4, 11)
    assert tr.labels == [0, 1, 2, 10, 3, 4, 5]  # csv class − 1, file order
    assert te.labels == [6, 7, 8, 9]
    assert tr.class_names == CLASS_NAMES and len(CLASS_NAMES) == 11
    assert tr.layout == "aedat" and tr.sensor_size == (128, 128)
    # each sample holds exactly the events of [start, end) of its recording
    rec = read_events(gesture_root / "DvsGesture" / "user01_fluorescent.aedat")
    for i in range(4):
        ref = tr.samples[i]
        ev = tr.events(i)
        assert ev.size == 400  # the stray events between gestures are in no sample
        assert ev["t"].min() >= ref.t_start and ev["t"].max() < ref.t_end
        m = (rec["t"] >= ref.t_start) & (rec["t"] < ref.t_end)
        np.testing.assert_array_equal(ev, rec[m])


def test_accepts_extract_folder_and_data_folder(gesture_root, tmp_path):
    assert len(DVS128Gesture(gesture_root / "DvsGesture", "train")) == 7
    sj = tmp_path / "sj"
    (sj / "extract").mkdir(parents=True)
    (gesture_root / "DvsGesture").rename(sj / "extract" / "DvsGesture")
    assert len(DVS128Gesture(sj, "test")) == 4


def test_frames_dataset_matches_direct_framing(gesture_root):
    spec = FramingSpec(T=4, split_by="time", size=(32, 32))
    ds = build_dataset("dvs128_gesture", gesture_root, "test", spec)
    x, y = ds[1]
    assert x.shape == (4, 2, 32, 32) and x.dtype == torch.float32 and y == 7
    ref = ds.source.samples[1]
    want = to_frames(ds.source.events(1), 4, (128, 128), "time", (32, 32), ref.t_start, ref.t_end)
    np.testing.assert_array_equal(x.numpy(), want)
    assert float(x.sum()) == 400


def test_spikingjelly_events_np_tree(tmp_path):
    root = tmp_path / "DVS128Gesture"
    want = {}
    for split, labels in (("train", [0, 3, 3, 10]), ("test", [5])):
        for k, lab in enumerate(labels):
            d = root / "events_np" / split / str(lab)
            d.mkdir(parents=True, exist_ok=True)
            ev = random_events(50 + k, seed=k + 100 * len(split))
            np.savez(
                d / f"user01_fluorescent_{lab}_{k}.npz",
                t=ev["t"],
                x=ev["x"].astype(np.int64),
                y=ev["y"].astype(np.int64),
                p=ev["p"].astype(np.int64),
            )
            want[(split, lab, k)] = ev
        for lab in range(11):  # spikingjelly creates every label folder
            (root / "events_np" / split / str(lab)).mkdir(parents=True, exist_ok=True)
    tr = DVS128Gesture(root, "train")
    assert tr.layout == "events_np" and tr.labels == [0, 3, 3, 10]
    np.testing.assert_array_equal(tr.events(0), want[("train", 0, 0)])
    assert len(DVS128Gesture(root, "test")) == 1
    assert len(DVS128Gesture(root, "all")) == 5
    ds = build_dataset("dvs128_gesture", root, "train", FramingSpec(T=2, size=(16, 16)))
    assert ds[3][0].shape == (2, 2, 16, 16) and ds[3][1] == 10


def test_missing_root_names_layout_and_url(tmp_path):
    with pytest.raises(DatasetNotFoundError) as e:
        DVS128Gesture(tmp_path / "nope", "train")
    msg = str(e.value)
    assert "nope" in msg and "trials_to_train.txt" in msg and "research.ibm.com" in msg
    assert isinstance(e.value, FileNotFoundError)
    with pytest.raises(DatasetNotFoundError, match=r"DvsGesture.*trials_to_train\.txt"):
        DVS128Gesture(tmp_path, "train")  # exists but empty


def test_incomplete_tree_names_missing_files(gesture_root):
    d = gesture_root / "DvsGesture"
    (d / "user02_lab_labels.csv").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"user02_lab_labels\.csv"):
        DVS128Gesture(gesture_root, "train")
    assert len(DVS128Gesture(gesture_root, "test")) == 4  # the other split is complete
    (d / "user24_led.aedat").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"trials_to_test\.txt.*user24_led\.aedat"):
        DVS128Gesture(gesture_root, "test")
    (d / "trials_to_test.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"missing trial list .*trials_to_test\.txt"):
        DVS128Gesture(gesture_root, "test")


@pytest.mark.parametrize(
    "csv, match",
    [
        ("class,startTime_usec,endTime_usec\n12,0,10\n", "class 12 outside 1..11"),
        ("class,startTime_usec,endTime_usec\n3,500,100\n", "end 100"),
        ("class,startTime_usec,endTime_usec\n3,abc\n", "line 2"),
        ("class,startTime_usec,endTime_usec\n", "no gesture rows"),
    ],
)
def test_bad_labels_csv(gesture_root, csv, match):
    (gesture_root / "DvsGesture" / "user24_led_labels.csv").write_text(csv)
    with pytest.raises(EventFormatError, match=match) as e:
        DVS128Gesture(gesture_root, "test")
    assert "user24_led_labels.csv" in str(e.value)


def test_bad_split_and_layout(gesture_root):
    with pytest.raises(ValueError, match="split"):
        DVS128Gesture(gesture_root, "val")
    with pytest.raises(ValueError, match="layout"):
        DVS128Gesture(gesture_root, "train", layout="hdf5")
    with pytest.raises(DatasetNotFoundError, match="events_np"):
        DVS128Gesture(gesture_root, "train", layout="events_np")


def test_real_dvs128_recording_in_official_layout(tmp_path):
    """A real DVS128 recording (AEDAT 4 → AEDAT 3.1 with the project's writer) cut by a csv."""
    from conftest import shared_file

    from neuromoco.events import write_events

    real = read_events(shared_file("aedat4/dvSave-2024_06_20_16_13_00.aedat4"))
    d = tmp_path / "DvsGesture"
    d.mkdir()
    write_events(d / "user05_natural.aedat", real, (128, 128), format="aedat3")
    t0, t1 = int(real["t"][0]), int(real["t"][-1])
    third = (t1 - t0) // 3
    bounds = [(t0 + k * third, t0 + (k + 1) * third) for k in range(3)]
    rows = [f"{c},{a},{b}" for c, (a, b) in zip((2, 9, 11), bounds, strict=True)]
    (d / "user05_natural_labels.csv").write_text(
        "class,startTime_usec,endTime_usec\n" + "\n".join(rows)
    )
    (d / "trials_to_train.txt").write_text("user05_natural.aedat\n")
    (d / "trials_to_test.txt").write_text("")
    spec = FramingSpec(T=16, split_by="number", size=(128, 128))
    with pytest.raises(DatasetNotFoundError, match="lists no recordings"):
        DVS128Gesture(tmp_path, "test")
    ds = build_dataset("dvs128_gesture", tmp_path, "train", spec, cache_dir=tmp_path / "cache")
    assert ds.labels == [1, 8, 10]
    total = 0
    for i, (a, b) in enumerate(bounds):
        x, _ = ds[i]
        m = (real["t"] >= a) & (real["t"] < b)
        np.testing.assert_array_equal(x.numpy(), to_frames(real[m], 16, (128, 128)))
        total += int(m.sum())
    assert total > 100_000


def test_corrupt_sample_files_name_the_file(gesture_root, tmp_path):
    sj = tmp_path / "sj"
    d = sj / "events_np" / "train" / "0"
    d.mkdir(parents=True)
    (sj / "events_np" / "test").mkdir()
    (d / "bad_0_0.npz").write_bytes(b"PK\x03\x04 not a zip")
    ds = DVS128Gesture(sj, "train")
    with pytest.raises(EventFormatError, match=r"bad_0_0\.npz.*cannot read npz"):
        ds.events(0)
    np.savez(d / "bad_0_0.npz", t=np.arange(3), x=np.zeros(3))
    with pytest.raises(EventFormatError, match=r"lacks array\(s\) \['p', 'y'\]"):
        DVS128Gesture(sj, "train").events(0)
    rec = gesture_root / "DvsGesture" / "user24_led.aedat"
    rec.write_bytes(rec.read_bytes()[:-7])  # truncated mid-packet
    with pytest.raises(EventFormatError, match="user24_led.aedat"):
        build_dataset("dvs128_gesture", gesture_root, "test", FramingSpec(T=2))[0]
