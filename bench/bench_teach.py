"""Teaching your own gestures, measured on real recordings: ``python -m bench teach [--quick]``.

Tables for docs/results.md ("Teach your own gestures"):

1. **k-shot real gestures.** The five labelled real clips (one class each) are taught with
   ``--only`` from ``k`` = 1, 3, 5 stretches of 1.2 s taken from each clip's first 3 s (and from
   one example that is the whole first 3 s: one recorded trial per gesture), and
   scored (one decision per clip, window mode) on the rest of the clip from 3.5 s on — never the
   same stretch to teach and to score — as recorded and varied: mirrored and time-reversed (on
   the class they become, where that class was taught), 1.5× slower and faster, 0.7× size, 20 px
   off centre (4 directions), in a noisy room. Three encoders: ``neuromoco-ssl`` (no label
   anywhere), ``gesture-demo``'s (supervised on procedural labels) and a random one whose
   BatchNorm statistics are calibrated on the unlabelled pool (``bench.real_gain``).
2. **A new class.** ``walking_away`` taught onto ``gesture-demo`` from the first 3.5 s of
   ``aedat2/alex_walking_again.aedat``; scored on the rest of it, on the five gesture clips
   (kept?) and whether any gesture clip is called ``walking_away``. And the same with
   ``--base neuromoco-ssl --only``, one example per class (five gesture stretches + the walk).
3. **Speed**: wall time of a teach run, 6 classes × 1 example and 10 classes × 5 examples.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO.parent / "shared" / "testdata"
CLIPS = [
    ("class2_user02_led.csv", "right_hand_wave"),
    ("class3_user02_led.csv", "left_hand_wave"),
    ("class5_user02_led.csv", "right_arm_counter_clockwise"),
    ("class6_user02_led.csv", "left_arm_clockwise"),
    ("class7_user02_led.csv", "left_arm_counter_clockwise"),
]
WALK = TESTDATA / "aedat2" / "alex_walking_again.aedat"
S = (128, 128)
TEACH_END_S, TEST_START_S, STRETCH_S = 3.0, 3.5, 1.2


def _clip(name):
    from neuromoco.events import read_events

    ev = read_events(TESTDATA / "dvsgesture_csv" / name, sensor_size=S)
    return ev, int(ev["t"][0])


def _write_csv(path: Path, rows) -> Path:
    path.write_text("path,label,t0_us,t1_us\n" + "\n".join(",".join(map(str, r)) for r in rows))
    return path


def _stretches(k: int):
    """``k`` stretches of 1.2 s in a clip's first 3 s (relative µs)."""
    offs = np.linspace(0, (TEACH_END_S - STRETCH_S) * 1e6, k) if k > 1 else [0.0]
    return [(int(o), int(o + STRETCH_S * 1e6)) for o in offs]


WHOLE = "1 (all 3 s)"
"""One example per class that is the clip's whole teaching part (0–3 s, several repetitions of
the gesture), as a user who records one trial per gesture would teach it."""


def _plan(k):
    return [(0, int(TEACH_END_S * 1e6))] if k == WHOLE else _stretches(k)


def _held_out():
    """``[(events, label)]``: each clip from 3.5 s on."""
    out = []
    for name, label in CLIPS:
        ev, t0 = _clip(name)
        out.append((ev[ev["t"] >= t0 + int(TEST_START_S * 1e6)], label))
    return out


def _variants():
    from bench.bench_live import variants

    return variants(S)


def score(model_path: Path, tests, taught: set[str]) -> tuple[int, int, dict]:
    """Decisions right / scored over ``tests`` and their variants (window mode)."""
    from neuromoco.event_variants import variant_label
    from neuromoco.streaming.model import open_model
    from neuromoco.streaming.recording_evaluation import evaluate_clip

    p = open_model(str(model_path), mode="window")
    names = list(p.class_names)
    ok = n = 0
    per: dict = {}
    for vname, (fn, mirrored, reversed_) in _variants().items():
        for ev, label in tests:
            want = variant_label(label, bool(mirrored), bool(reversed_))
            if want not in taught:
                continue
            sc, _ = evaluate_clip(p, (fn(ev), S), "window")
            right = names[int(np.argmax(sc))] == want
            ok += right
            n += 1
            a, b = per.get(vname, (0, 0))
            per[vname] = (a + right, b + 1)
    return ok, n, per


def kshot(tmp: Path, encoders: dict, ks) -> list[str]:
    from neuromoco.train.teach import teach

    tests = _held_out()
    taught = {label for _, label in CLIPS}
    rows = [
        "| encoder | k | held-out clips, as recorded | with variants | teach s |",
        "|---|---|---|---|---|",
    ]
    for enc, base in encoders.items():
        for i, k in enumerate(ks):
            ex = []
            for name, label in CLIPS:
                _, t0 = _clip(name)
                for a, b in _plan(k):
                    ex.append((TESTDATA / "dvsgesture_csv" / name, label, t0 + a, t0 + b))
            csv = _write_csv(tmp / f"k{i}.csv", ex)
            out = tmp / f"{enc.split()[0]}_k{i}.onnx"
            t = time.perf_counter()
            teach(csv, out, base=base, only=True, force=True, progress=False)
            sec = time.perf_counter() - t
            ok, n, per = score(out, tests, taught)
            a, b = per["as recorded"]
            rows.append(f"| {enc} | {k} | {a}/{b} | {ok}/{n} ({100 * ok / n:.0f} %) | {sec:.1f} |")
            print(rows[-1], file=sys.stderr, flush=True)
    return rows


def _encoder(base: str):
    """The frozen encoder (eval mode) and framing of a bundled name or ``.pt`` file, loaded as
    ``teach`` loads its base."""
    from neuromoco.train.teach import load_base

    model, ck, _ = load_base(base)
    return model, ck.framing


def naive_baseline(encoders: dict) -> list[str]:
    """The issue's yardstick, written from its words and sharing nothing with ``teach`` but the
    encoder's features: one example per class (the clip's whole teaching part), the mean feature
    of its 800 ms windows as the class prototype, each held-out window given the prototype nearest
    by cosine, a majority vote over the windows of a clip (ties: the earliest class). Scored on
    the same held-out parts and variants as the k-shot table."""
    import torch

    from neuromoco.event_variants import variant_label
    from neuromoco.train.teach import features, windows

    tests = _held_out()
    taught = [label for _, label in CLIPS]
    rows = ["| encoder | held-out parts, as recorded | with variants |", "|---|---|---|"]
    for enc, base in encoders.items():
        model, framing = _encoder(base)

        def embed(ev, model=model, framing=framing):
            f = features(model, windows(ev, S, framing, 100_000))
            return torch.nn.functional.normalize(f, dim=1)

        protos = []
        for name, _ in CLIPS:
            ev, t0 = _clip(name)
            part = ev[(ev["t"] >= t0) & (ev["t"] < t0 + int(TEACH_END_S * 1e6))]
            protos.append(embed(part).mean(0))
        P = torch.nn.functional.normalize(torch.stack(protos), dim=1)
        ok = n = rec_ok = rec_n = 0
        for vname, (fn, mirrored, reversed_) in _variants().items():
            for ev, label in tests:
                want = variant_label(label, bool(mirrored), bool(reversed_))
                if want not in taught:
                    continue
                votes = torch.bincount((embed(fn(ev)) @ P.T).argmax(1), minlength=len(taught))
                right = taught[int(votes.argmax())] == want
                ok, n = ok + right, n + 1
                if vname == "as recorded":
                    rec_ok, rec_n = rec_ok + right, rec_n + 1
        rows.append(f"| {enc} | {rec_ok}/{rec_n} | {ok}/{n} ({100 * ok / n:.0f} %) |")
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def walking(tmp: Path) -> list[str]:
    """``walking_away`` taught from the one walking recording: scored on variants of it (mirrored,
    moved, smaller, slower, faster: a proxy for new recordings, which we do not have), and, taught
    from its first 3.5 s only, on the rest of it (the person far away, a harder case); the gesture
    clips must keep their decisions and never be called walking_away."""
    from neuromoco.event_variants import mirror, shift, time_scale, zoom
    from neuromoco.events import read_events
    from neuromoco.streaming.model import open_model
    from neuromoco.streaming.recording_evaluation import evaluate_clip
    from neuromoco.train.teach import teach

    walk = read_events(WALK)
    w0, w1 = int(walk["t"][0]), int(walk["t"][-1]) + 1
    split = w0 + int(3.5e6)
    walk_variants = {
        "mirrored": lambda e: mirror(e, S),
        "+20 px": lambda e: shift(e, 20, 0, S),
        "−20 px": lambda e: shift(e, -20, 0, S),
        "+15 px down": lambda e: shift(e, 0, 15, S),
        "0.8× size": lambda e: zoom(e, 0.8, S),
        "1.3× slower": lambda e: time_scale(e, 1.3),
        "1.3× faster": lambda e: time_scale(e, 1 / 1.3),
    }
    rows = ["| taught | walking scored on | walking_away | gesture clips right | gesture clips called walking_away | teach s |",
            "|---|---|---|---|---|---|"]  # fmt: skip
    one_each = [
        (TESTDATA / "dvsgesture_csv" / n, lab, _clip(n)[1], _clip(n)[1] + int(1.5e6))
        for n, lab in CLIPS
    ]
    cases = [
        ("walking_away onto gesture-demo", "gesture-demo", False, [], w1, "variants"),
        ("the same, from its first 3.5 s", "gesture-demo", False, [], split, "rest"),
        ("neuromoco-ssl --only: 5 gestures + walking_away, 1 example each", "neuromoco-ssl",
         True, one_each, w1, "variants"),
    ]  # fmt: skip
    for title, base, only, extra, t_end, scored in cases:
        csv = _write_csv(tmp / "walk.csv", [(WALK, "walking_away", w0, t_end), *extra])
        out = tmp / "walk.onnx"
        t = time.perf_counter()
        teach(csv, out, base=base, only=only, force=True, progress=False)
        sec = time.perf_counter() - t
        p = open_model(str(out), mode="window")
        names = list(p.class_names)

        def pred(ev, p=p, names=names):
            sc, _ = evaluate_clip(p, (ev, S), "window")
            return names[int(np.argmax(sc))]

        if scored == "variants":
            got = [pred(fn(walk)) for fn in walk_variants.values()]
            what = f"{len(got)} variants of it"
        else:
            got = [pred(walk[walk["t"] >= split])]
            what = "its last 3.4 s (far away)"
        walk_ok = f"{sum(g == 'walking_away' for g in got)}/{len(got)}"
        if scored == "rest" and got[0] != "walking_away":
            walk_ok += f" ({got[0]})"
        # --only: the gesture stretches were taught, score the rest of each clip
        tests = _held_out() if only else [(_clip(n)[0], lab) for n, lab in CLIPS]
        preds = [pred(ev) for ev, _ in tests]
        right = sum(pr == lab for pr, (_, lab) in zip(preds, tests, strict=True))
        called = sum(pr == "walking_away" for pr in preds)
        rows.append(f"| {title} | {what} | {walk_ok} | {right}/5 | {called} | {sec:.1f} |")
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def speed(tmp: Path) -> list[str]:
    """Wall time of 6 × 1 and 10 × 5 teach runs (real clips' stretches for 5 classes, procedural
    gestures of other classes for the rest)."""
    from neuromoco.events import write_events
    from neuromoco.synth import generate_gesture
    from neuromoco.train.teach import teach

    rows = ["| classes × examples | wall time (s) | target |", "|---|---|---|"]
    for n_cls, k, target in ((6, 1, 30), (10, 5, 120)):
        ex = []
        for i in range(n_cls):
            for j in range(k):
                if i < len(CLIPS):
                    name, _ = CLIPS[i]
                    _, t0 = _clip(name)
                    a = t0 + int(j * 0.6e6)
                    ex.append((TESTDATA / "dvsgesture_csv" / name, f"g{i}", a, a + int(1.2e6)))
                else:
                    f = tmp / f"proc_{i}_{j}.npz"
                    if not f.exists():
                        write_events(
                            f, generate_gesture(7 + i % 4, seed=j, duration_us=1_500_000), S
                        )
                    ex.append((f, f"g{i}", 0, 1_500_000))
        csv = _write_csv(tmp / "speed.csv", ex)
        t = time.perf_counter()
        teach(csv, tmp / "speed.onnx", base="gesture-demo", force=True, progress=False)
        rows.append(f"| {n_cls} × {k} | {time.perf_counter() - t:.1f} | ≤ {target} |")
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def main(quick: bool = False) -> str:
    if not WALK.is_file():
        return f"teach: {WALK} not found (../shared/testdata is absent): skipped"
    from bench.real_gain import random_bn_backbone

    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        rnd = random_bn_backbone(0, tmp / "random_bn.pt", quick=quick)
        encoders = {
            "neuromoco-ssl": "neuromoco-ssl",
            "gesture-demo (its encoder)": "gesture-demo",
            "random, BN calibrated": str(rnd),
        }
        ks = (1,) if quick else (1, WHOLE, 3, 5)
        out = ["## Teach your own gestures (`python -m bench teach`)", "", "### k-shot", ""]
        out += kshot(tmp, encoders, ks)
        out += ["", "### Naive baseline (prototypes, cosine, vote over 800 ms windows)", ""]
        out += naive_baseline(encoders)
        out += ["", "### A new class: walking away", ""] + walking(tmp)
        out += ["", "### Speed (2 cores)", ""] + speed(tmp)
    return "\n".join(out)


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
