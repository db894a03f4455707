"""CIFAR10-DVS (AEDAT 2.0 class folders) and N-Caltech101 (ATIS .bin class folders) + splits."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import shared_file
from helpers_formats import random_events, write_cifar10dvs_tree, write_ncaltech_tree

from neuromoco.data import CIFAR10DVS, DatasetNotFoundError, NCaltech101, build_dataset
from neuromoco.data.cifar10_dvs import CLASS_NAMES
from neuromoco.data.ncaltech101 import BACKGROUND, OBJECT_CLASSES
from neuromoco.data.splits import split_per_class
from neuromoco.framing import FramingSpec

# -- splits ------------------------------------------------------------------------------


def test_split_sorted_order_matches_spikingjelly_rule():
    files = [[f"c0_{i}.x" for i in range(10)], [f"c1_{i:02d}.x" for i in range(25)], ["only.x"]]
    tr = split_per_class(files, "train")
    te = split_per_class(files, "test")
    # ceil(n · 0.9) per class go to train: 9, 23, 1
    assert [lab for _, lab in tr].count(0) == 9 and [lab for _, lab in tr].count(1) == 23
    assert [lab for _, lab in te] == [0, 1, 1]
    # train = first files in lexicographic order ("c0_10" would sort before "c0_2")
    assert [f for f, lab in tr if lab == 0] == sorted(files[0])[:9]
    assert te[0][0] == "c0_9.x" and ("only.x", 2) in tr
    # disjoint and complete
    assert sorted(tr + te) == sorted(split_per_class(files, "all"))


def test_split_equals_spikingjelly_split_to_train_test_set():
    from tests.peers import spikingjelly_utils

    sj = spikingjelly_utils()
    sizes = [1, 2, 9, 10, 11, 31, 99, 100, 1000]
    label_idx, files, i = [], [], 0
    for n in sizes:  # spikingjelly indexes samples in (class, sorted file) order
        label_idx.append(list(range(i, i + n)))
        files.append([f"f{k:04d}" for k in range(n)])
        i += n
    for ratio in (0.9, 0.8, 0.5):
        tr_idx, te_idx = sj._split_class_indices([list(x) for x in label_idx], ratio, False)
        flat = [(f, lab) for lab, fs in enumerate(files) for f in fs]
        assert split_per_class(files, "train", ratio) == [flat[k] for k in tr_idx]
        assert split_per_class(files, "test", ratio) == [flat[k] for k in te_idx]


def test_split_seeded_is_deterministic_and_different():
    files = [[f"f{i:03d}" for i in range(100)] for _ in range(3)]
    a = split_per_class(files, "test", seed=7)
    assert a == split_per_class(files, "test", seed=7)
    assert a != split_per_class(files, "test", seed=8)
    assert a != split_per_class(files, "test")
    assert len(a) == 30
    # the per-class permutation does not depend on the other classes
    b = split_per_class(files[:1], "test", seed=7)
    assert [f for f, lab in a if lab == 0] == [f for f, _ in b]
    # input order does not matter
    rev = [list(reversed(f)) for f in files]
    assert split_per_class(rev, "test", seed=7) == a


def test_split_bad_arguments():
    with pytest.raises(ValueError, match="split"):
        split_per_class([["a"]], "val")
    with pytest.raises(ValueError, match="train_fraction"):
        split_per_class([["a"]], "train", train_fraction=0)


# -- CIFAR10-DVS -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cifar_root(tmp_path_factory):
    return write_cifar10dvs_tree(tmp_path_factory.mktemp("cifar"), per_class=10, events=100)


def test_cifar_counts_labels_split(cifar_root):
    tr, te = CIFAR10DVS(cifar_root, "train"), CIFAR10DVS(cifar_root, "test")
    assert (len(tr), len(te)) == (90, 10)
    assert te.class_counts() == {c: 1 for c in CLASS_NAMES}
    assert tr.class_names == CLASS_NAMES and tr.num_classes == 10
    # label = class folder index; test = last file of each class in sorted order
    for ref in te.samples:
        assert ref.source.endswith(
            f"{CLASS_NAMES[ref.label]}/cifar10_{CLASS_NAMES[ref.label]}_9.aedat"
        )
    assert not {r.source for r in tr.samples} & {r.source for r in te.samples}
    seeded = CIFAR10DVS(cifar_root, "test", seed=3)
    assert len(seeded) == 10 and seeded.samples != te.samples


def test_cifar_events_and_orientation(cifar_root):
    te = CIFAR10DVS(cifar_root, "test")
    want = random_events(100, (128, 128), 0, 1_000_000, seed=1000 * te.samples[0].label + 9)
    ev_jaer = CIFAR10DVS(cifar_root, "test", convention="jaer").events(0)
    np.testing.assert_array_equal(ev_jaer, want)  # our AEDAT 2.0 encoder ↔ the reader
    ev = te.events(0)  # spikingjelly convention: x and y swapped
    np.testing.assert_array_equal(ev["x"], want["y"])
    np.testing.assert_array_equal(ev["y"], want["x"])
    ds = build_dataset("cifar10_dvs", cifar_root, "test", FramingSpec(T=3, size=(64, 64)))
    x, y = ds[4]
    assert x.shape == (3, 2, 64, 64) and y == 4 and float(x.sum()) == 100
    assert ds.class_names == CLASS_NAMES


def test_cifar_real_aedat2_recording_in_layout(tmp_path):
    real = shared_file("aedat2/alex_walking_again.aedat")
    for c in CLASS_NAMES:
        (tmp_path / c).mkdir()
        shutil.copy(real, tmp_path / c / f"cifar10_{c}_0.aedat")
    ds = build_dataset("cifar10_dvs", tmp_path, "train", FramingSpec(T=16, size=(128, 128)))
    assert len(ds) == 10
    x, y = ds[2]
    assert x.shape == (16, 2, 128, 128) and y == 2 and float(x.sum()) > 1000


def test_cifar_missing_and_incomplete(tmp_path, cifar_root):
    with pytest.raises(DatasetNotFoundError, match="figshare"):
        CIFAR10DVS(tmp_path / "absent")
    part = tmp_path / "part"
    shutil.copytree(cifar_root, part)
    shutil.rmtree(part / "frog")
    with pytest.raises(DatasetNotFoundError, match=r"1 of 10 class folder\(s\) missing .*frog"):
        CIFAR10DVS(part)
    (part / "frog").mkdir()
    with pytest.raises(DatasetNotFoundError, match=r"no \*\.aedat files .*frog"):
        CIFAR10DVS(part)
    with pytest.raises(DatasetNotFoundError, match=r"10 of 10 class folder"):
        CIFAR10DVS(tmp_path / "part" / "frog")  # a class folder given as root


# -- N-Caltech101 ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ncal_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("ncal")
    write_ncaltech_tree(root, per_class={"Faces_easy": 12, "accordion": 3})
    return root


def test_ncaltech_classes_background_and_split(ncal_root):
    tr, te = NCaltech101(ncal_root, "train"), NCaltech101(ncal_root, "test")
    assert tr.class_names == OBJECT_CLASSES and len(OBJECT_CLASSES) == 100
    assert BACKGROUND not in tr.class_names
    assert tr.class_names[0] == "Faces_easy"  # case-sensitive sorted order (spikingjelly's)
    # 98 classes × 1 file → train; Faces_easy 12 → 11/1; accordion 3 → 3/0
    assert len(tr) == 98 + 11 + 3 and len(te) == 1
    assert te.samples[0].name == "Faces_easy/image_0012.bin" and te.labels == [0]
    bg = NCaltech101(ncal_root, "all", include_background=True)
    assert len(bg.class_names) == 101 and BACKGROUND in bg.class_names
    assert bg.class_counts()[BACKGROUND] == 2
    assert tr.sensor_size == (240, 180)


def test_ncaltech_frames_resized(ncal_root):
    ds = build_dataset("ncaltech101", ncal_root, "test", FramingSpec(T=2, size=(128, 128)))
    x, y = ds[0]
    assert x.shape == (2, 2, 128, 128) and y == 0 and float(x.sum()) == 60


def test_ncaltech_real_bin_in_layout(tmp_path):
    real = shared_file("atis_bin/faces_easy_0001.bin")
    write_ncaltech_tree(tmp_path, background=0)
    shutil.copy(real, tmp_path / "Caltech101" / "Faces_easy" / "image_0002.bin")
    ds = build_dataset("ncaltech101", tmp_path, "all", FramingSpec(T=16, size=(128, 128)))
    i = [s.name for s in ds.source.samples].index("Faces_easy/image_0002.bin")
    x, y = ds[i]
    ev = ds.source.events(i)
    assert y == 0
    assert float(x.sum()) == ev.size > 10_000 and int(ev["x"].max()) < 240


def test_ncaltech_missing_and_incomplete(tmp_path, ncal_root):
    with pytest.raises(DatasetNotFoundError, match="garrickorchard"):
        NCaltech101(tmp_path / "absent")
    part = tmp_path / "p"
    shutil.copytree(ncal_root, part)
    shutil.rmtree(part / "Caltech101" / "wrench")
    shutil.rmtree(part / "Caltech101" / BACKGROUND)
    with pytest.raises(DatasetNotFoundError, match=r"1 of 100 class folder\(s\) missing .*wrench"):
        NCaltech101(part)
    (part / "Caltech101" / "wrench").mkdir()
    (part / "Caltech101" / "wrench" / "readme.txt").write_text("x")
    with pytest.raises(DatasetNotFoundError, match=r"no \*\.bin files .*wrench"):
        NCaltech101(part)
    shutil.copy(
        ncal_root / "Caltech101" / "ant" / "image_0001.bin",
        part / "Caltech101" / "wrench" / "image_0001.bin",
    )
    assert len(NCaltech101(part, "all")) == 100 + 11 + 2
    with pytest.raises(DatasetNotFoundError, match="BACKGROUND_Google"):
        NCaltech101(part, include_background=True)


def test_build_dataset_rejects_unknown(tmp_path, cifar_root):
    with pytest.raises(ValueError, match="unknown dataset 'mnist'"):
        build_dataset("mnist", tmp_path)
    with pytest.raises(ValueError, match=r"no option\(s\) \['per_class'\]"):
        build_dataset("cifar10_dvs", cifar_root, per_class=3)
    with pytest.raises(DatasetNotFoundError, match="root=None"):
        build_dataset("cifar10_dvs", None)
