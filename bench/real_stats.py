"""Real DVS128 recordings vs procedural gestures: the statistics the generator is tuned to.

Run ``python -m bench.real_stats`` (prints two markdown tables; ``--per-class N`` generated clips
per class, default 2; ``--duration-s`` of each generated clip, default 3). Measures, per clip, then
the median over a group of clips:

* **event rate** (k events/s) and its **time profile**: coefficient of variation of the counts in
  100 ms bins (0 = steady, > 1 = bursty);
* **where the moving parts are**: 5–95 % percentile box of the event coordinates at 128×128
  (width, height, centre) and the area (px²) of the smallest set of pixels that holds 80 % of the
  events;
* **speed and period of the motion**: median speed (px/s) of the event centroid in 40 ms bins, and
  the dominant frequency (Hz, 0.3–6 Hz) of the centroid track;
* **polarity**: fraction of ON events; for consecutive events at the same pixel, the fraction of
  opposite polarity by their time gap (< 1 ms, 1–10 ms, 10–100 ms, > 100 ms) — a moving edge gives
  a burst of one polarity (< 1 ms) and the opposite one when its other side passes; and the
  leading/trailing edge order: the fraction of 40 ms bins where the ON centroid lies ahead of the
  OFF centroid along the motion (0.5 = no order; text files without polarity get ~0.5);
* **background activity**: rate (Hz per pixel) of isolated events (no other event in the 3×3
  neighbourhood within the same or the adjacent 10 ms bin); **hot pixels**: pixels with ≥ 50
  events and more than 10× the median count of their 8 neighbours;
* **rotation sense**: turns per second of the event centroid around its mean position (positive =
  clockwise *as the image shows it*, x right and y down) — the check of the rotation classes.

The labelled clips (``dvsgesture_csv``) have no polarity: the reader draws one per event (policy
``hash``), so their polarity rows mean nothing and are shown as "—".
"""

from __future__ import annotations

import argparse
import glob
import os
import time

import numpy as np

TESTDATA = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "testdata")
ROT_CLASSES = (3, 4, 5, 6)


def rotation_turns_per_s(ev: np.ndarray, bin_us: int = 50_000, min_events: int = 20) -> float:
    """Signed rotation rate (turns/s) of the event centroid around its mean, clockwise on screen > 0.

    The centroid of the events of each ``bin_us`` bin (bins with fewer than ``min_events`` events
    are skipped) is taken relative to the mean centroid; the unwrapped angle (``atan2(y, x)`` with
    y down, so a growing angle is clockwise as the image is shown) from the first to the last bin,
    divided by the time span, in turns per second.
    """
    if ev.size < 2 * min_events:
        return 0.0
    t = ev["t"].astype(np.int64) - int(ev["t"][0])
    b = t // bin_us
    n = int(b[-1]) + 1
    c = np.bincount(b, minlength=n)
    ok = np.flatnonzero(c >= min_events)
    if ok.size < 3:
        return 0.0
    cx = np.bincount(b, ev["x"].astype(np.float64), n)[ok] / c[ok]
    cy = np.bincount(b, ev["y"].astype(np.float64), n)[ok] / c[ok]
    ang = np.unwrap(np.arctan2(cy - cy.mean(), cx - cx.mean()))
    span_s = (ok[-1] - ok[0]) * bin_us * 1e-6
    return float((ang[-1] - ang[0]) / (2 * np.pi) / max(span_s, 1e-9))


def _centroid_track(ev, bin_us):
    t = ev["t"].astype(np.int64) - int(ev["t"][0])
    b = t // bin_us
    n = int(b[-1]) + 1
    c = np.bincount(b, minlength=n).astype(np.float64)
    cx = np.bincount(b, ev["x"].astype(np.float64), n)
    cy = np.bincount(b, ev["y"].astype(np.float64), n)
    return b, n, c, cx, cy


def _opposite_by_gap(ev) -> list[float]:
    """Fraction of opposite polarity between consecutive events at the same pixel, by time gap."""
    pix = ev["y"].astype(np.int64) * 128 + ev["x"].astype(np.int64)
    order = np.lexsort((ev["t"], pix))
    p, t, px = ev["p"][order], ev["t"][order].astype(np.int64), pix[order]
    same = px[1:] == px[:-1]
    dt = (t[1:] - t[:-1])[same]
    opp = (p[1:] != p[:-1])[same]
    out = []
    for lo, hi in ((0, 1_000), (1_000, 10_000), (10_000, 100_000), (100_000, 1 << 62)):
        m = (dt >= lo) & (dt < hi)
        out.append(float(opp[m].mean()) if m.sum() >= 20 else float("nan"))
    return out


def _leading_on(ev, bin_us=40_000) -> float:
    """Fraction of bins where the ON centroid is ahead of the OFF centroid along the motion."""
    b, n, c, cx, cy = _centroid_track(ev, bin_us)
    on = ev["p"].astype(bool)
    con = np.bincount(b[on], minlength=n).astype(float)
    coff = c - con
    xon = np.bincount(b[on], ev["x"][on].astype(float), n)
    yon = np.bincount(b[on], ev["y"][on].astype(float), n)
    ok = (con >= 15) & (coff >= 15)
    with np.errstate(invalid="ignore", divide="ignore"):
        mx, my = cx / c, cy / c
        vx, vy = np.gradient(mx), np.gradient(my)
        dx = xon / con - (cx - xon) / coff
        dy = yon / con - (cy - yon) / coff
    sp = np.hypot(vx, vy)
    ok &= np.isfinite(sp) & (sp > 0.5)
    if ok.sum() < 5:
        return float("nan")
    return float(((dx * vx + dy * vy)[ok] > 0).mean())


def _isolated_rate(ev, dur_s, bin_us=10_000) -> float:
    t = (ev["t"].astype(np.int64) - int(ev["t"][0])) // bin_us
    nb = int(t[-1]) + 1
    grid = np.zeros((nb + 2, 130, 130), np.int32)
    np.add.at(grid, (t + 1, ev["y"].astype(np.int64) + 1, ev["x"].astype(np.int64) + 1), 1)
    tsum = grid[:-2] + grid[1:-1] + grid[2:]  # [nb, 130, 130]: previous + same + next bin
    full = np.zeros((nb, 128, 128), np.int32)
    for dy in range(3):
        for dx in range(3):
            full += tsum[:, dy : dy + 128, dx : dx + 128]
    n_near = full[t, ev["y"].astype(np.int64), ev["x"].astype(np.int64)] - 1
    return float((n_near == 0).sum() / dur_s / (128 * 128))


def _hot_pixels(ev) -> int:
    cnt = np.zeros((130, 130), np.int64)
    np.add.at(cnt, (ev["y"].astype(np.int64) + 1, ev["x"].astype(np.int64) + 1), 1)
    nb = np.stack(
        [
            cnt[1 + dy : 129 + dy, 1 + dx : 129 + dx]
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
            if dy or dx
        ]
    )
    med = np.median(nb, axis=0)
    c = cnt[1:129, 1:129]
    return int(((c >= 50) & (c > 10 * np.maximum(med, 1))).sum())


def clip_stats(ev: np.ndarray, has_polarity: bool = True) -> dict[str, float]:
    """Every statistic of one clip (see the module docstring). ``ev`` sorted by ``t``, 128×128."""
    t = ev["t"].astype(np.int64)
    dur = max((int(t[-1]) - int(t[0])) * 1e-6, 1e-3)
    counts = np.bincount((t - t[0]) // 100_000)
    x, y = ev["x"].astype(np.float64), ev["y"].astype(np.float64)
    x5, x95 = np.percentile(x, [5, 95])
    y5, y95 = np.percentile(y, [5, 95])
    pc = np.sort(np.bincount((ev["y"].astype(np.int64) * 128 + ev["x"]), minlength=128 * 128))[::-1]
    area80 = int(np.searchsorted(np.cumsum(pc), 0.8 * pc.sum()) + 1)
    b, n, c, cx, cy = _centroid_track(ev, 40_000)
    ok = c >= 20
    mx, my = cx[ok] / c[ok], cy[ok] / c[ok]
    speed = np.hypot(np.diff(mx), np.diff(my)) / 0.04 if ok.sum() > 2 else np.array([np.nan])
    # dominant frequency of the centroid track (x and y together), 20 ms bins, 0.3–6 Hz
    b2, n2, c2, cx2, cy2 = _centroid_track(ev, 20_000)
    with np.errstate(invalid="ignore", divide="ignore"):
        tx, ty = cx2 / c2, cy2 / c2
    good = c2 >= 5
    freq = float("nan")
    if good.sum() > 20:
        idx = np.arange(n2)
        tx = np.interp(idx, idx[good], tx[good])
        ty = np.interp(idx, idx[good], ty[good])
        spec = np.abs(np.fft.rfft(tx - tx.mean())) ** 2 + np.abs(np.fft.rfft(ty - ty.mean())) ** 2
        f = np.fft.rfftfreq(n2, 0.02)
        band = (f >= 0.3) & (f <= 6)
        if band.any():
            freq = float(f[band][np.argmax(spec[band])])
    out = {
        "rate": ev.size / dur / 1e3,
        "cv": float(counts.std() / max(counts.mean(), 1e-9)),
        "w": x95 - x5,
        "h": y95 - y5,
        "cx": float(np.median(x)),
        "cy": float(np.median(y)),
        "area80": area80,
        "speed": float(np.nanmedian(speed)),
        "freq": freq,
        "ba": _isolated_rate(ev, dur),
        "hot": _hot_pixels(ev),
        "rot": rotation_turns_per_s(ev),
    }
    if has_polarity:
        o = _opposite_by_gap(ev)
        out.update(
            pon=float(ev["p"].mean()),
            o1=o[0],
            o10=o[1],
            o100=o[2],
            o_long=o[3],
            lead=_leading_on(ev),
        )
    else:
        out.update({k: float("nan") for k in ("pon", "o1", "o10", "o100", "o_long", "lead")})
    return out


ROWS = [
    ("rate", "event rate (k ev/s)", "{:.1f}"),
    ("cv", "rate time profile: CV of 100 ms counts", "{:.2f}"),
    ("w", "moving parts: width, 5–95 % (px)", "{:.0f}"),
    ("h", "moving parts: height, 5–95 % (px)", "{:.0f}"),
    ("cx", "median event x (px)", "{:.0f}"),
    ("cy", "median event y (px)", "{:.0f}"),
    ("area80", "area holding 80 % of events (px²)", "{:.0f}"),
    ("speed", "centroid speed (px/s)", "{:.0f}"),
    ("freq", "dominant motion frequency (Hz)", "{:.2f}"),
    ("pon", "fraction ON", "{:.2f}"),
    ("o1", "same pixel, < 1 ms apart: opposite polarity", "{:.2f}"),
    ("o10", "same pixel, 1–10 ms: opposite", "{:.2f}"),
    ("o100", "same pixel, 10–100 ms: opposite", "{:.2f}"),
    ("o_long", "same pixel, > 100 ms: opposite", "{:.2f}"),
    ("lead", "ON edge leads OFF edge (fraction of bins)", "{:.2f}"),
    ("ba", "background activity (Hz/px, isolated events)", "{:.3f}"),
    ("hot", "hot pixels (count)", "{:.1f}"),
]


def _fmt(vals, fmt) -> str:
    v = np.asarray(vals, float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return "—"
    if v.size == 1:
        return fmt.format(v[0])
    return f"{fmt.format(np.median(v))} ({fmt.format(v.min())}–{fmt.format(v.max())})"


def real_groups(testdata: str = TESTDATA) -> dict[str, list[dict]]:
    from neuromoco.events import read_events

    groups: dict[str, list[dict]] = {}
    lab = os.path.join(testdata, "dvsgesture_csv")
    for f in sorted(glob.glob(os.path.join(lab, "class*.csv"))):
        k = int(os.path.basename(f)[5:].split("_")[0]) - 1  # file class is 1-based
        g = "real labelled: waves" if k in (1, 2) else "real labelled: arm circles"
        groups.setdefault(g, []).append(clip_stats(read_events(f), has_polarity=False))
    for f in sorted(glob.glob(os.path.join(testdata, "unlabeled_dvs128", "*.aedat4"))):
        g = (
            "real unlabelled 06-13 (sparse)"
            if "2024_06_13" in f
            else "real unlabelled 06-20 (dense)"
        )
        groups.setdefault(g, []).append(clip_stats(read_events(f)))
    return groups


def generated_groups(per_class: int, duration_us: int) -> tuple[dict[str, list[dict]], float]:
    from neuromoco.synth import GENERATOR_VERSION, generate_gesture

    groups: dict[str, list[dict]] = {}
    t0 = time.perf_counter()
    for label in range(11):
        for seed in range(per_class):
            ev = generate_gesture(label, 1000 + seed, duration_us)
            g = (
                f"generated v{GENERATOR_VERSION}: waves"
                if label in (1, 2)
                else f"generated v{GENERATOR_VERSION}: arm circles"
                if label in ROT_CLASSES
                else f"generated v{GENERATOR_VERSION}: other classes"
            )
            groups.setdefault(g, []).append(clip_stats(ev))
    return groups, time.perf_counter() - t0


def rotation_table(per_class: int, duration_us: int, testdata: str = TESTDATA) -> str:
    """Measured rotation sense of the real labelled arm circles and of generated ones."""
    from neuromoco.events import read_events
    from neuromoco.synth import CLASS_NAMES, GENERATOR_VERSION, generate_gesture

    lines = [
        "| clip | class | centroid rotation (turns/s, + = clockwise on screen) |",
        "|---|---|---|",
    ]
    for f in sorted(glob.glob(os.path.join(testdata, "dvsgesture_csv", "class*.csv"))):
        k = int(os.path.basename(f)[5:].split("_")[0]) - 1
        if k in ROT_CLASSES:
            r = rotation_turns_per_s(read_events(f))
            lines.append(f"| real `{os.path.basename(f)}` | {CLASS_NAMES[k]} | {r:+.2f} |")
    for k in ROT_CLASSES:
        rs = [
            rotation_turns_per_s(generate_gesture(k, 1000 + s, duration_us))
            for s in range(per_class)
        ]
        lines.append(
            f"| generated v{GENERATOR_VERSION} ×{per_class} | {CLASS_NAMES[k]} | "
            + " / ".join(f"{r:+.2f}" for r in rs)
            + " |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--per-class", type=int, default=2)
    ap.add_argument("--duration-s", type=float, default=3.0)
    ap.add_argument("--testdata", default=TESTDATA)
    a = ap.parse_args(argv)
    dur = int(a.duration_s * 1e6)
    groups = real_groups(a.testdata)
    if not groups:
        raise SystemExit(
            f"no real recordings under {a.testdata} (need dvsgesture_csv/, unlabeled_dvs128/)"
        )
    gen, el = generated_groups(a.per_class, dur)
    groups.update(gen)
    names = list(groups)
    lines = [
        "| measure | " + " | ".join(f"{n} (n={len(groups[n])})" for n in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for key, label, fmt in ROWS:
        lines.append(
            f"| {label} | "
            + " | ".join(_fmt([s[key] for s in groups[n]], fmt) for n in names)
            + " |"
        )
    n_gen = 11 * a.per_class
    lines.append("")
    lines.append(
        f"Median (min–max) over the clips of each group. Generated: {n_gen} clips of "
        f"{a.duration_s:g} s in {el:.1f} s including the measurements."
    )
    lines.append("")
    lines.append(rotation_table(a.per_class, dur, a.testdata))
    text = "\n".join(lines)
    print(text)
    return text


if __name__ == "__main__":
    main()
