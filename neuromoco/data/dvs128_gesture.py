"""DVS128 Gesture (Amir et al., CVPR 2017) from the official extracted layout or a spikingjelly tree.

Official layout (``DvsGesture.tar.gz`` extracted; spikingjelly keeps it under ``extract/``)::

    <root>/DvsGesture/                      (or <root>/extract/DvsGesture/, or <root> itself)
        trials_to_train.txt                 one recording name per line (user01_fluorescent.aedat ...)
        trials_to_test.txt
        user01_fluorescent.aedat            AEDAT 3.1, DVS128 (128×128)
        user01_fluorescent_labels.csv       class,startTime_usec,endTime_usec (one gesture per row)
        ...

Each csv row is one sample: the events with ``startTime_usec ≤ t < endTime_usec`` of the
recording, label ``class − 1`` (11 classes, 0-based). On the real dataset this gives 1176 training
and 288 test samples (spikingjelly's numbers).

spikingjelly layout (``DVS128Gesture(root, data_type='event')`` writes it)::

    <root>/events_np/{train,test}/{0..10}/<recording>_<label>_<k>.npz   (arrays t, x, y, p)

Pass ``layout="auto"`` (default: the extracted recordings if present, else ``events_np``),
``"aedat"`` or ``"events_np"``.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np

from neuromoco.data.errors import DatasetNotFoundError
from neuromoco.data.samples import SampleRef, SampleSource, check_split
from neuromoco.events import EVENT_DTYPE, EventFormatError
from neuromoco.gesture_classes import DVS128_GESTURE_CLASSES

# The names of the dataset's gesture_mapping.csv, in label order (csv class − 1).
CLASS_NAMES: tuple[str, ...] = DVS128_GESTURE_CLASSES
SENSOR_SIZE = (128, 128)
TRIAL_LISTS = {"train": "trials_to_train.txt", "test": "trials_to_test.txt"}
NAME = "dvs128_gesture"


def find_extracted(root: Path) -> Path | None:
    """The folder holding ``trials_to_train.txt`` under ``root`` (see module layout), or None."""
    for cand in (root / "DvsGesture", root / "extract" / "DvsGesture", root):
        if (cand / TRIAL_LISTS["train"]).is_file() or (cand / TRIAL_LISTS["test"]).is_file():
            return cand
    return None


def find_events_np(root: Path) -> Path | None:
    """The spikingjelly ``events_np`` folder under ``root`` (or ``root`` itself), or None."""
    for cand in (root / "events_np", root):
        if (cand / "train").is_dir() and (cand / "test").is_dir() and cand.name == "events_np":
            return cand
    return None


def read_trial_list(path: Path) -> list[str]:
    """Recording file names listed in a ``trials_to_*.txt`` (blank lines ignored)."""
    names = []
    for i, line in enumerate(path.read_text().splitlines(), 1):
        s = line.strip()
        if not s:
            continue
        if not s.endswith(".aedat"):
            raise EventFormatError(
                path, f"line {i}: expected a recording name ending in .aedat, got {s!r}"
            )
        names.append(s)
    return names


def read_labels_csv(path: Path) -> list[tuple[int, int, int]]:
    """Rows ``(label0, start_us, end_us)`` of a ``*_labels.csv`` (label0 = class − 1)."""
    rows = []
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines, 1):
        s = line.strip()
        if not s or (i == 1 and not s[0].isdigit()):
            continue  # header "class,startTime_usec,endTime_usec"
        parts = s.split(",")
        try:
            cls, a, b = (int(float(v)) for v in parts[:3])
        except ValueError:
            raise EventFormatError(
                path, f"line {i}: expected 'class,startTime_usec,endTime_usec' integers, got {s!r}"
            ) from None
        if not 1 <= cls <= len(CLASS_NAMES):
            raise EventFormatError(path, f"line {i}: class {cls} outside 1..{len(CLASS_NAMES)}")
        if b <= a:
            raise EventFormatError(path, f"line {i}: end {b} µs ≤ start {a} µs")
        rows.append((cls - 1, a, b))
    if not rows:
        raise EventFormatError(
            path, "no gesture rows (expected class,startTime_usec,endTime_usec lines)"
        )
    return rows


class DVS128Gesture(SampleSource):
    """DVS128 Gesture samples of one split (``"train"``, ``"test"`` or ``"all"``).

    Args:
        root: folder containing ``DvsGesture/`` (or ``extract/DvsGesture/``, or the folder itself),
            or a spikingjelly root containing ``events_np/``.
        split: ``"train"`` (trials_to_train.txt), ``"test"`` or ``"all"``.
        layout: ``"auto"``, ``"aedat"`` or ``"events_np"``.

    Raises:
        DatasetNotFoundError: the folder, a trial list, a listed recording or its labels csv is
            missing (the message names the exact path and where to obtain the dataset).
    """

    name = NAME
    class_names = CLASS_NAMES
    sensor_size = SENSOR_SIZE

    def __init__(self, root: str | os.PathLike, split: str = "train", layout: str = "auto"):
        self.split = check_split(split)
        if layout not in ("auto", "aedat", "events_np"):
            raise ValueError(f"layout must be 'auto', 'aedat' or 'events_np', got {layout!r}")
        self.root = Path(root).expanduser()
        if not self.root.is_dir():
            raise DatasetNotFoundError(
                NAME,
                self.root,
                "folder does not exist; expected <root>/DvsGesture/trials_to_train.txt "
                "(official layout) or <root>/events_np/{train,test}/ (spikingjelly layout)",
            )
        extracted = find_extracted(self.root) if layout in ("auto", "aedat") else None
        npz = (
            find_events_np(self.root)
            if layout in ("auto", "events_np") and extracted is None
            else None
        )
        if extracted is not None:
            self.layout = "aedat"
            self.data_dir = extracted
            self.samples = self._index_extracted(extracted)
        elif npz is not None:
            self.layout = "events_np"
            self.data_dir = npz
            self.samples = self._index_npz(npz)
        else:
            want = {
                "auto": f"{self.root / 'DvsGesture' / TRIAL_LISTS['train']} (official layout) or "
                f"{self.root / 'events_np'}/{{train,test}}/ (spikingjelly layout)",
                "aedat": str(self.root / "DvsGesture" / TRIAL_LISTS["train"]),
                "events_np": f"{self.root / 'events_np'}/{{train,test}}/",
            }[layout]
            raise DatasetNotFoundError(NAME, self.root, f"expected {want}; not found")

    # -- official layout -------------------------------------------------------------------
    def _index_extracted(self, d: Path) -> list[SampleRef]:
        splits = ("train", "test") if self.split == "all" else (self.split,)
        samples: list[SampleRef] = []
        for sp in splits:
            lst = d / TRIAL_LISTS[sp]
            if not lst.is_file():
                raise DatasetNotFoundError(NAME, self.root, f"missing trial list {lst}")
            names = read_trial_list(lst)
            if not names:
                raise DatasetNotFoundError(NAME, self.root, f"trial list {lst} lists no recordings")
            missing = []
            for rec in names:
                aedat = d / rec
                csv = d / (rec[: -len(".aedat")] + "_labels.csv")
                for f in (aedat, csv):
                    if not f.is_file():
                        missing.append(str(f))
            if missing:
                more = f" (and {len(missing) - 5} more)" if len(missing) > 5 else ""
                raise DatasetNotFoundError(
                    NAME,
                    self.root,
                    f"{len(missing)} file(s) listed in {lst} are missing: {', '.join(missing[:5])}{more}",
                )
            for rec in names:
                aedat = d / rec
                csv = d / (rec[: -len(".aedat")] + "_labels.csv")
                for k, (label, a, b) in enumerate(read_labels_csv(csv)):
                    samples.append(
                        SampleRef(str(aedat.resolve()), label, a, b, f"{aedat.stem}#{k}")
                    )
        return samples

    # -- spikingjelly events_np ------------------------------------------------------------
    def _index_npz(self, d: Path) -> list[SampleRef]:
        splits = ("train", "test") if self.split == "all" else (self.split,)
        samples: list[SampleRef] = []
        for sp in splits:
            sd = d / sp
            labels = sorted(
                (int(p.name), p) for p in sd.iterdir() if p.is_dir() and p.name.isdigit()
            )
            if not labels:
                raise DatasetNotFoundError(
                    NAME,
                    self.root,
                    f"{sd} has no label folders 0..10 (spikingjelly events_np layout)",
                )
            bad = [str(p) for lab, p in labels if lab >= len(CLASS_NAMES)]
            if bad:
                raise DatasetNotFoundError(NAME, self.root, f"label folders outside 0..10: {bad}")
            n0 = len(samples)
            for lab, p in labels:
                for f in sorted(p.glob("*.npz")):
                    samples.append(SampleRef(str(f.resolve()), lab, None, None, f.stem))
            if len(samples) == n0:
                raise DatasetNotFoundError(NAME, self.root, f"no .npz samples under {sd}/<label>/")
        return samples

    def read_source(self, source: str) -> np.ndarray:
        if self.layout == "events_np":
            return read_npz_events(source)
        from neuromoco.events import read_events

        return read_events(source, sensor_size=SENSOR_SIZE, format="aedat3")


def read_npz_events(path: str | os.PathLike) -> np.ndarray:
    """Events of a spikingjelly ``events_np`` ``.npz`` (arrays ``t, x, y, p``), sorted by ``t``."""
    from neuromoco.events import sort_events

    try:
        with np.load(path) as z:
            missing = {"t", "x", "y", "p"} - set(z.files)
            if missing:
                raise EventFormatError(
                    path, f"npz lacks array(s) {sorted(missing)} (expected t, x, y, p)"
                )
            t, x, y, p = (np.asarray(z[k]).reshape(-1) for k in ("t", "x", "y", "p"))
    except EventFormatError:
        raise
    except (OSError, ValueError, EOFError, KeyError, zipfile.BadZipFile) as e:
        raise EventFormatError(path, f"cannot read npz ({type(e).__name__}: {e})") from None
    if not (t.shape == x.shape == y.shape == p.shape):
        raise EventFormatError(path, "arrays t, x, y, p have different lengths")
    ev = np.empty(t.shape[0], dtype=EVENT_DTYPE)
    ev["t"] = t
    ev["x"] = x
    ev["y"] = y
    ev["p"] = p
    ev, _ = sort_events(ev)
    return ev
