"""Which polarity should events from a text file WITHOUT a polarity column get?

Run: ``python -m bench.polarity_policy`` (prints markdown for docs/text_events.md).

Needs the shared data (``../shared/testdata``: the five labelled DVS128 Gesture CSV clips and the
25 unlabelled real DVS128 AEDAT4 recordings; ``../shared/models/neurobench_dvs_gesture``: a
two-channel SNN trained on real DVS128 Gesture) and, as peers, ``snntorch`` and ``tonic``
(``pip install --no-deps snntorch tonic`` plus ``pip install scipy importRosbag requests``:
tonic's own requirements pull librosa/numba, which its transforms do not need).

What it measures:

1. The real ON/OFF balance: the ON fraction of every unlabelled real DVS128 recording (they
   have polarity), i.e. what a two-channel model saw in training on real data.
2. Accuracy on the five labelled clips of the ORIGINAL pipeline of the NeuroBench model (tonic
   ``Denoise(10 ms)`` → ``Downsample(0.25)`` → ``ToFrame(32×32×2, 150 bins over the trial)``,
   the snnTorch network stepped 150 times, decision = most output spikes), once per policy:
   ``hash`` (the reader's default: a pseudo-random bit per event), ``on``, ``off``,
   ``alternate`` (event index parity in file order), five seeds of a plain random 50/50 bit
   (the spread a random policy has on these clips) and, as references that no per-event policy
   can produce, ``both channels`` (every event counted in both channels) and ``both channels ×
   0.5`` (half of it in each: the expected frames of a random 50/50 polarity).
   Besides accuracy, the mean share of output spikes that went to the true class.
3. The bundled procedural model ``gesture-demo`` through the streaming engine (window mode), if
   it loads: each policy's events are written to an npz and evaluated like any recording.
"""

from __future__ import annotations

import csv
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from neuromoco.data.dvs128_gesture import CLASS_NAMES

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
CLIPS_DIR = SHARED / "testdata" / "dvsgesture_csv"
UNLABELLED = SHARED / "testdata" / "unlabeled_dvs128"
NB_WEIGHTS = SHARED / "models" / "neurobench_dvs_gesture" / "dvs_gesture_snn.pt"
CLASSES = list(CLASS_NAMES)


def labelled_clips() -> list[tuple[Path, int]]:
    with open(CLIPS_DIR / "labels.csv", newline="") as f:
        return [(CLIPS_DIR / r["path"], CLASSES.index(r["label"])) for r in csv.DictReader(f)]


def policies(ev: np.ndarray) -> dict[str, np.ndarray]:
    """Polarity arrays (0/1) per policy for events ``ev`` (t, x, y; file order)."""
    from neuromoco.polarity import hash_polarity

    n = ev.shape[0]
    out = {
        "hash (default)": hash_polarity(ev["t"], ev["x"], ev["y"]),
        "on": np.ones(n, np.uint8),
        "off": np.zeros(n, np.uint8),
        "alternate": (np.arange(n) % 2).astype(np.uint8),
    }
    for seed in range(5):
        out[f"random seed {seed}"] = np.random.default_rng(seed).integers(0, 2, n).astype(np.uint8)
    return out


# --------------------------------------------------------------------------------------------
# The NeuroBench model, as published: snnTorch network + tonic framing


def neurobench_net():
    """The snnTorch network of ../shared/models/neurobench_dvs_gesture (README there), with the
    published weights loaded strictly."""
    import snntorch as snn
    import torch
    from torch import nn

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            leaky = dict(beta=0.9, init_hidden=True, learn_beta=True, learn_threshold=True)
            self.conv1 = nn.Conv2d(2, 16, 5, padding="same")
            self.lif1 = snn.Leaky(**leaky)
            self.conv2 = nn.Conv2d(16, 32, 5, padding="same")
            self.lif2 = snn.Leaky(**leaky)
            self.conv3 = nn.Conv2d(32, 64, 5, padding="same")
            self.lif3 = snn.Leaky(**leaky)
            self.linear1 = nn.Linear(64 * 4 * 4, 11)
            self.dropout = nn.Dropout(0.5)
            self.lif4 = snn.Leaky(**leaky, output=True)
            self.pool = nn.MaxPool2d(2)

        def forward(self, x):
            x = self.lif1(self.pool(self.conv1(x)))
            x = self.lif2(self.pool(self.conv2(x)))
            x = self.lif3(self.pool(self.conv3(x)))
            spk, _mem = self.lif4(self.dropout(self.linear1(x.flatten(1))))
            return spk

    net = Net()
    sd = torch.load(NB_WEIGHTS, map_location="cpu", weights_only=True)
    net.load_state_dict(sd, strict=True)
    return net.eval()


def tonic_prepare(ev: np.ndarray) -> np.ndarray:
    """tonic ``Denoise(10 ms)`` then ``Downsample(0.25)`` on one trial, with each surviving
    event's index in ``ev`` as an extra field ``i`` (both transforms ignore polarity and keep
    extra fields, so this is done once per clip, not once per policy)."""
    import tonic.transforms as T

    tev = np.empty(
        ev.shape[0], dtype=[("x", "<i2"), ("y", "<i2"), ("p", "?"), ("t", "<i8"), ("i", "<i8")]
    )
    tev["x"], tev["y"], tev["t"], tev["p"] = ev["x"], ev["y"], ev["t"], False
    tev["i"] = np.arange(ev.shape[0])
    return T.Downsample(spatial_factor=0.25)(T.Denoise(filter_time=10000)(tev))


def tonic_frames(prep: np.ndarray, p: np.ndarray | None, both: float = 1.0) -> np.ndarray:
    """tonic ``ToFrame(32×32×2, n_time_bins=150)`` of prepared events with polarity
    ``p[prep["i"]]``: float32 [150, 2, 32, 32]. ``p=None``: every event counted ``both`` times
    in both channels (1: duplicated; 0.5: the expected frames of a random 50/50 polarity)."""
    import tonic.transforms as T

    ev = prep.copy()
    ev["p"] = False if p is None else p[ev["i"]].astype(bool)
    frames = T.ToFrame(sensor_size=(32, 32, 2), n_time_bins=150)(ev).astype(np.float32)
    if p is None:
        s = frames.sum(axis=1, keepdims=True) * np.float32(both)
        frames = np.concatenate([s, s], axis=1)
    return frames


def neurobench_counts(net, frames: np.ndarray) -> np.ndarray:
    """Output spike counts per class over the trial, ``frames`` [B, 150, 2, 32, 32] → [B, 11]
    (snnTorch state reset first; the batch entries do not interact)."""
    import snntorch.utils
    import torch

    snntorch.utils.reset(net)
    x = torch.from_numpy(frames)
    counts = torch.zeros(x.shape[0], 11)
    with torch.no_grad():
        for step in range(x.shape[1]):
            counts += net(x[:, step])
    return counts.numpy()


# --------------------------------------------------------------------------------------------


def real_on_fraction() -> list[tuple[str, int, float]]:
    from neuromoco.events import read_events

    rows = []
    for f in sorted(UNLABELLED.glob("*.aedat4")):
        ev = read_events(f)
        rows.append((f.name, int(ev.size), float(ev["p"].mean())))
    return rows


def bundled_accuracy(clips, evs) -> dict[str, list[str]] | str:
    """Predicted class per clip and policy for the bundled ``gesture-demo`` (window mode,
    through the streaming engine), or the reason it could not run."""
    try:
        from neuromoco.events import make_events, write_events
        from neuromoco.streaming import open_model
        from neuromoco.streaming.recording_evaluation import evaluate_clip

        predictor = open_model("gesture-demo", mode="window")
        names = list(predictor.class_names)
    except Exception as e:  # the app side may be absent or in flux: report, do not fail
        return f"not run ({type(e).__name__}: {e})"
    out: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for (path, _label), ev in zip(clips, evs, strict=True):
            for name, p in policies(ev).items():
                f = Path(tmp) / f"{path.stem}.npz"
                write_events(f, make_events(ev["t"], ev["x"], ev["y"], p), (128, 128))
                scores, _n = evaluate_clip(predictor, f, "window", sensor_size=(128, 128))
                pred = names[int(np.argmax(scores))] if np.any(scores) else "-"
                out.setdefault(name, []).append(pred)
    return out


def main() -> int:
    from neuromoco.events import read_events

    missing = [p for p in (CLIPS_DIR, UNLABELLED, NB_WEIGHTS) if not p.exists()]
    if missing:
        print(f"missing shared data: {', '.join(map(str, missing))}", file=sys.stderr)
        return 1
    import torch

    torch.set_num_threads(1)  # a small net: threads only add contention on a shared machine
    t0 = time.perf_counter()
    lines = ["### Real ON/OFF balance (unlabelled real DVS128 AEDAT4 recordings)", ""]
    rows = real_on_fraction()
    fr = np.array([r[2] for r in rows])
    n_ev = sum(r[1] for r in rows)
    pooled = sum(r[1] * r[2] for r in rows) / n_ev
    lines += [
        f"{len(rows)} recordings, {n_ev:,} events: ON fraction pooled {pooled:.3f}, per file "
        f"median {np.median(fr):.3f}, min {fr.min():.3f}, max {fr.max():.3f}.",
        "",
    ]

    clips = labelled_clips()
    evs = [read_events(p, polarity="on") for p, _ in clips]  # t, x, y as in the file
    net = neurobench_net()
    refs = {"both channels (reference)": 1.0, "both channels × 0.5 (reference)": 0.5}
    names = list(policies(evs[0][:1]).keys()) + list(refs)
    preds: dict[str, list[int]] = {n: [] for n in names}
    share: dict[str, list[float]] = {n: [] for n in names}
    for (_path, label), ev in zip(clips, evs, strict=True):
        pols = policies(ev)
        prep = tonic_prepare(ev)
        frames = np.stack(
            [
                tonic_frames(prep, None, refs[n]) if n in refs else tonic_frames(prep, pols[n])
                for n in names
            ]
        )
        for name, c in zip(names, neurobench_counts(net, frames), strict=True):
            preds[name].append(int(np.argmax(c)))
            share[name].append(float(c[label] / c.sum()) if c.sum() else 0.0)
    labels = [lab for _, lab in clips]
    short = [p.stem.split("_")[0] for p, _ in clips]
    lines += [
        "### NeuroBench DVS128 Gesture SNN (snnTorch + tonic, as published), 5 labelled clips",
        "",
        "| policy | correct | true-class spike share | "
        + " | ".join(f"{s} ({CLASSES[lab]})" for s, lab in zip(short, labels, strict=True))
        + " |",
        "|---|---|---|" + "---|" * len(clips),
    ]
    for name in names:
        ok = sum(int(a == b) for a, b in zip(preds[name], labels, strict=True))
        cells = [
            ("**" + CLASSES[p] + "**" if p == lab else CLASSES[p])
            for p, lab in zip(preds[name], labels, strict=True)
        ]
        lines.append(
            f"| {name} | {ok}/5 | {np.mean(share[name]):.2f} | " + " | ".join(cells) + " |"
        )
    lines.append("")

    bundled = bundled_accuracy(clips, evs)
    lines += ["### Bundled `gesture-demo` (streaming engine, window mode), 5 labelled clips", ""]
    if isinstance(bundled, str):
        lines.append(bundled)
    else:
        lines += ["| policy | correct | predictions |", "|---|---|---|"]
        for name, pr in bundled.items():
            ok = sum(int(p == CLASSES[lab]) for p, lab in zip(pr, labels, strict=True))
            lines.append(f"| {name} | {ok}/5 | {', '.join(pr)} |")
    lines += ["", f"({time.perf_counter() - t0:.0f} s)"]
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
