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
   BatchNorm statistics are calibrated on the unlabelled pool (``bench.real_gain``). Then one
   whole trial per class in two folds (A: the first 3 s teach; B: the last 3 s teach and the
   clip up to 3.5 s before its end scores), with and without direction features (``teach``'s
   default, ``neuromoco.models.direction``), and the issue's naive yardstick over both.
2. **A new class.** ``walking_away`` taught onto ``gesture-demo`` from the first 3.5 s of
   ``aedat2/alex_walking_again.aedat``; scored on the rest of it, on the five gesture clips
   (kept?) and whether any gesture clip is called ``walking_away``. And the same with
   ``--base neuromoco-ssl --only``, one example per class (five gesture stretches + the walk).
3. **Speed**: wall time of a teach run, 6 classes × 1 example and 10 classes × 5 examples.
"""

from __future__ import annotations

import functools
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


@functools.cache
def _clip(name):
    """``(events, first event's t)`` of a shared clip, read once (every table cuts the same
    five clips many times); the array is read-only, as it is shared."""
    from neuromoco.events import read_events

    ev = read_events(TESTDATA / "dvsgesture_csv" / name, sensor_size=S)
    ev.flags.writeable = False
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


FOLDS = ("A", "B")
"""Which part of each clip teaches: ``A`` its first 3 s (scored from 3.5 s on), ``B`` its last
3 s (scored up to 3.5 s before its end): two disjoint teach/score splits of the same clips."""


def _plan(k, fold: str = "A", span_us: int = 0):
    """Teaching stretches (µs relative to the clip's first event) of a clip of ``span_us``."""
    plan = [(0, int(TEACH_END_S * 1e6))] if k == WHOLE else _stretches(k)
    if fold == "B":
        off = span_us - int(TEACH_END_S * 1e6)
        plan = [(a + off, b + off) for a, b in plan]
    return plan


def _span(ev) -> int:
    return int(ev["t"][-1]) + 1 - int(ev["t"][0])


def _examples(k, fold: str = "A") -> list[tuple]:
    """The examples-CSV rows ``(path, label, t0_us, t1_us)`` that teach the five clips with ``k``
    examples each, from the part of each clip that ``fold`` teaches."""
    rows = []
    for name, label in CLIPS:
        ev, t0 = _clip(name)
        for a, b in _plan(k, fold, _span(ev)):
            rows.append((TESTDATA / "dvsgesture_csv" / name, label, t0 + a, t0 + b))
    return rows


def _held_out(fold: str = "A"):
    """``[(events, label)]``: each clip from 3.5 s on (fold A), or up to 3.5 s before its end
    (fold B): never a stretch that taught."""
    out = []
    for name, label in CLIPS:
        ev, t0 = _clip(name)
        if fold == "A":
            out.append((ev[ev["t"] >= t0 + int(TEST_START_S * 1e6)], label))
        else:
            end = t0 + _span(ev) - int(TEST_START_S * 1e6)
            out.append((ev[ev["t"] < end], label))
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


def kshot(tmp: Path, encoders: dict, ks, folds=("A",), directions=(True,)) -> list[str]:
    """One row per encoder × k × direction features on/off × fold."""
    from neuromoco.train.teach import teach

    taught = {label for _, label in CLIPS}
    rows = [
        "| encoder | k | direction features | fold | held-out parts, as recorded | with variants "
        "| teach s |",
        "|---|---|---|---|---|---|---|",
    ]
    for enc, base in encoders.items():
        for i, k in enumerate(ks):
            for direction in directions:
                for fold in folds:
                    tests = _held_out(fold)
                    csv = _write_csv(tmp / f"k{i}.csv", _examples(k, fold))
                    out = tmp / f"{enc.split()[0]}_k{i}.onnx"
                    t = time.perf_counter()
                    teach(
                        csv, out, base=base, only=True, force=True, progress=False,
                        direction=direction,
                    )  # fmt: skip
                    sec = time.perf_counter() - t
                    ok, n, per = score(out, tests, taught)
                    a, b = per["as recorded"]
                    rows.append(
                        f"| {enc} | {k} | {'yes' if direction else 'no'} | {fold} | {a}/{b} | "
                        f"{ok}/{n} ({100 * ok / n:.0f} %) | {sec:.1f} |"
                    )
                    print(rows[-1], file=sys.stderr, flush=True)
    return rows


def _encoder(base: str, direction: bool = False):
    """The frozen encoder (eval mode) and framing of a bundled name or ``.pt`` file, loaded as
    ``teach`` loads its base; ``direction``: read forwards and backwards, as ``teach`` does."""
    from neuromoco.models.direction import with_direction
    from neuromoco.train.teach import load_base

    model, ck, _ = load_base(base)
    if direction:
        model = with_direction(model).eval()
    return model, ck.framing


def naive_baseline(encoders: dict, folds=("A",), directions=(False,)) -> list[str]:
    """The issue's yardstick, written from its words and sharing nothing with ``teach`` but the
    encoder's features: one example per class (the clip's whole teaching part), the mean feature
    of its 800 ms windows as the class prototype, each held-out window given the prototype nearest
    by cosine, a majority vote over the windows of a clip (ties: the earliest class). Scored on
    the same held-out parts and variants as the k-shot table. ``directions``: also over the
    direction features (``[f̄, b·‖f̄‖·d̂]``) instead of the encoder's average alone."""
    import torch

    from neuromoco.event_variants import variant_label
    from neuromoco.train.teach import features, windows

    taught = [label for _, label in CLIPS]
    rows = [
        "| encoder | direction features | fold | held-out parts, as recorded | with variants |",
        "|---|---|---|---|---|",
    ]
    for enc, base in encoders.items():
        for direction in directions:
            model, framing = _encoder(base, direction)

            def embed(ev, model=model, framing=framing):
                f = features(model, windows(ev, S, framing, 100_000))
                return torch.nn.functional.normalize(f, dim=1)

            for fold in folds:
                protos = []
                for name, _ in CLIPS:
                    ev, t0 = _clip(name)
                    ((a, b),) = _plan(WHOLE, fold, _span(ev))
                    protos.append(embed(ev[(ev["t"] >= t0 + a) & (ev["t"] < t0 + b)]).mean(0))
                P = torch.nn.functional.normalize(torch.stack(protos), dim=1)
                ok = n = rec_ok = rec_n = 0
                for vname, (fn, mirrored, reversed_) in _variants().items():
                    for ev, label in _held_out(fold):
                        want = variant_label(label, bool(mirrored), bool(reversed_))
                        if want not in taught:
                            continue
                        sims = embed(fn(ev)) @ P.T
                        votes = torch.bincount(sims.argmax(1), minlength=len(taught))
                        right = taught[int(votes.argmax())] == want
                        ok, n = ok + right, n + 1
                        if vname == "as recorded":
                            rec_ok, rec_n = rec_ok + right, rec_n + 1
                rows.append(
                    f"| {enc} | {'yes' if direction else 'no'} | {fold} | {rec_ok}/{rec_n} | "
                    f"{ok}/{n} ({100 * ok / n:.0f} %) |"
                )
                print(rows[-1], file=sys.stderr, flush=True)
    return rows


def base_model_file(name: str) -> Path:
    """The ``.onnx`` of a bundled model (what ``score`` opens)."""
    from neuromoco.models.bundled import resolve_model

    return Path(resolve_model(name, prefer="onnx")[0])


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
    rows = ["| taught | walking scored on | walking_away | gesture clips right | with variants | gesture clips called walking_away | teach s |",
            "|---|---|---|---|---|---|---|"]  # fmt: skip
    one_each = _examples(WHOLE)  # one recorded trial per gesture, as the target teaches
    cases = [
        ("walking_away onto gesture-demo", "gesture-demo", False, [], w1, "variants"),
        ("the same, from its first 3.5 s", "gesture-demo", False, [], split, "rest"),
        ("neuromoco-ssl --only: 5 gestures (one 3 s trial each) + walking_away", "neuromoco-ssl",
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
        # only: the target, the held-out parts and their variants, 6 classes taught;
        # else the whole clips and their variants, against what the base model gets on them
        ok, n, _ = score(out, tests, set(names) - {"walking_away"})
        varied = f"{ok}/{n} ({100 * ok / n:.0f} %)"
        if not only:
            b, bn, _ = score(base_model_file(base), tests, set(names) - {"walking_away"})
            varied += f"; {base} itself {b}/{bn}"
        rows.append(
            f"| {title} | {what} | {walk_ok} | {right}/5 | {varied} | {called} | {sec:.1f} |"
        )
        print(rows[-1], file=sys.stderr, flush=True)
    return rows


def live(tmp: Path, encoders: dict) -> list[str]:
    """What a user sees at every hop with a taught model: one whole trial per class taught
    (``--only``, fold A), then the five held-out parts played one after another with 3 s pauses
    through the app's engine in window mode, clean and in a noisy room
    (``streaming.continuous_evaluation``, the engine's defaults), with and without direction
    features."""
    from neuromoco.events import write_events
    from neuromoco.streaming.continuous_evaluation import evaluate_continuous
    from neuromoco.streaming.model import open_model
    from neuromoco.train.teach import teach

    labels = tmp / "live_labels.csv"
    lines = ["path,label"]
    for i, (ev, label) in enumerate(_held_out("A")):
        write_events(tmp / f"live_{i}.npz", ev, S)
        lines.append(f"live_{i}.npz,{label}")
    labels.write_text("\n".join(lines) + "\n")
    csv = _write_csv(tmp / "live.csv", _examples(WHOLE))
    rows = [
        "| encoder | direction features | room | in-gesture hops right (top class) "
        "| pause hops 'no gesture' | median time to right | never right / never settled "
        "| changes per gesture |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for enc, base in encoders.items():
        for direction in (True, False):
            out = tmp / "live.onnx"
            teach(csv, out, base=base, only=True, force=True, progress=False, direction=direction)
            p = open_model(str(out), mode="window")
            for noisy in (False, True):
                r = evaluate_continuous(p, labels, "window", noisy=noisy)
                ttr = r["time_to_right_s_median"]
                rows.append(
                    f"| {enc} | {'yes' if direction else 'no'} | {'noisy' if noisy else 'clean'} "
                    f"| {100 * r['in_gesture_right']:.0f} % ({100 * r['in_gesture_top_right']:.0f} %) "
                    f"| {100 * r['pause_no_gesture']:.0f} % "
                    f"| {'—' if ttr is None else f'{ttr:.2f} s'} "
                    f"| {r['never_right']} / {r['never_settled']} "
                    f"| {r['flicker_per_gesture']:.1f} |"
                )
                print(rows[-1], file=sys.stderr, flush=True)
    return rows


def speed(tmp: Path) -> list[str]:
    """Wall time of 6 × 1 and 10 × 5 teach runs (real clips' stretches for 5 classes, procedural
    gestures of other classes for the rest), with direction features and without."""
    from neuromoco.events import write_events
    from neuromoco.synth import generate_gesture
    from neuromoco.train.teach import teach

    rows = [
        "| classes × examples | direction features (default) | --no-direction | ratio | target |",
        "|---|---|---|---|---|",
    ]
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
        sec = []
        for direction in (True, False):  # the peer in the same run
            t = time.perf_counter()
            teach(
                csv, tmp / "speed.onnx", base="gesture-demo", force=True, progress=False,
                direction=direction,
            )  # fmt: skip
            sec.append(time.perf_counter() - t)
        rows.append(
            f"| {n_cls} × {k} | {sec[0]:.1f} s | {sec[1]:.1f} s | {sec[0] / sec[1]:.1f}× "
            f"| ≤ {target} s |"
        )
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
        out += ["", "### One whole trial per class, both folds, direction features or not", ""]
        out += kshot(tmp, encoders, (WHOLE,), folds=FOLDS, directions=(True, False))
        out += ["", "### Naive baseline (prototypes, cosine, vote over 800 ms windows)", ""]
        out += naive_baseline(encoders, FOLDS, directions=(False, True))
        out += ["", "### Live: per hop, gestures with pauses (window mode)", ""]
        out += live(tmp, {k: v for k, v in encoders.items() if not k.startswith("random")})
        out += ["", "### A new class: walking away", ""] + walking(tmp)
        out += ["", "### Speed (2 cores)", ""] + speed(tmp)
    return "\n".join(out)


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv))
