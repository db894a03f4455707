"""Text (CSV/TXT) reader speed: neuromoco.formats.text vs numpy's and Python's own text parsers.

Files: the biggest shared real clip (``dvsgesture_csv/class5_user02_led.csv``: header
``timestamp,x,y``, µs, no polarity) and two synthetic files of ``n`` events (10 M; 1 M with
``--quick``) written here: ``t,x,y,p`` CSV with a header (µs integers) and an Event Camera
Dataset style ``events.txt`` (``t x y p``, t in seconds with 9 decimals). Page-cached files;
best of ``repeats``; M events/s from process CPU time (the machine is shared), one wall column.

* ``read_events(path)``: the public call with nothing given (layout detected, sensor size
  inferred: two passes over the file);
* ``read_events(path, sensor_size=...)``: one pass;
* ``iter_events``: chunked, 1 M-event chunks, sensor size given.

Peers in the same run, on the same bytes: ``np.loadtxt`` (numpy's C parser; int64 for the CSV,
float64 for the seconds file, which cannot hold ns-resolution timestamps exactly beyond
~10^7 s, whereas the reader's decimal arithmetic is exact) and Python's ``csv`` module / ``str.split``
loop (on the first 1 M lines).
"""

from __future__ import annotations

import csv
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.timing import WALL
from bench.timing import best_cpu as _best
from neuromoco.events import iter_events, read_events

REPO = Path(__file__).resolve().parents[1]
CLIP = REPO.parent / "shared" / "testdata" / "dvsgesture_csv" / "class5_user02_led.csv"


def write_synthetic(d: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    """``n`` events (128×128, ~2 M ev/s) as a ``t,x,y,p`` CSV and a ``t x y p`` seconds TXT."""
    rng = np.random.default_rng(seed)
    csv_path, txt_path = d / "synthetic.csv", d / "events.txt"
    t0 = 1_500_000_000
    with open(csv_path, "w") as fc, open(txt_path, "w") as ft:
        fc.write("t,x,y,p\n")
        step = 1_000_000
        for s in range(0, n, step):
            m = min(step, n - s)
            t = (t0 + np.cumsum(rng.integers(0, 2, m))).tolist()
            t0 = t[-1]
            x = rng.integers(0, 128, m).tolist()
            y = rng.integers(0, 128, m).tolist()
            p = rng.integers(0, 2, m).tolist()
            ns = rng.integers(0, 1000, m).tolist()
            fc.write("".join(f"{a},{b},{c},{e}\n" for a, b, c, e in zip(t, x, y, p, strict=True)))
            ft.write(
                "".join(
                    f"{a // 1_000_000}.{a % 1_000_000:06d}{f:03d} {b} {c} {e}\n"
                    for a, b, c, e, f in zip(t, x, y, p, ns, strict=True)
                )
            )
    return csv_path, txt_path


def _csv_module(path: Path, limit: int, delimiter: str = ",") -> int:
    n = 0
    with open(path, newline="") as f:
        r = csv.reader(f, delimiter=delimiter)
        next(r) if delimiter == "," else None
        for row in r:
            int(row[0]) if delimiter == "," else float(row[0])
            int(row[1]), int(row[2])
            n += 1
            if n >= limit:
                break
    return n


def _split_loop(path: Path, limit: int) -> int:
    n = 0
    with open(path) as f:
        for line in f:
            a = line.split()
            float(a[0]), int(a[1]), int(a[2]), int(a[3])
            n += 1
            if n >= limit:
                break
    return n


def main(quick: bool = False) -> str:
    n = 1_000_000 if quick else 10_000_000
    repeats = 2 if quick else 3
    rows = []
    peers = []
    with tempfile.TemporaryDirectory() as d:
        files = []
        if CLIP.exists():
            files.append(("shared clip class5 (`timestamp,x,y`, µs, 271 k)", CLIP, ",", 1, "int"))
        t0 = time.perf_counter()
        csv_path, txt_path = write_synthetic(Path(d), n)
        t_write = time.perf_counter() - t0
        files.append((f"synthetic `t,x,y,p` CSV, µs ({n / 1e6:g} M)", csv_path, ",", 1, "int"))
        files.append(
            (f"synthetic `events.txt`, s with 9 decimals ({n / 1e6:g} M)", txt_path, None, 0, "f")
        )
        for name, path, delim, skip, kind in files:
            ev = read_events(path, sensor_size=(128, 128))
            m = ev.shape[0]
            size_mb = path.stat().st_size / 1e6

            def plain(path=path):
                read_events(path)

            def sized(path=path):
                read_events(path, sensor_size=(128, 128))

            def chunked(path=path):
                for _ in iter_events(path, chunk_events=1_000_000, sensor_size=(128, 128)):
                    pass

            t_plain = _best(plain, repeats)
            t_sized = _best(sized, repeats)
            w_sized = WALL[sized]
            t_iter = _best(chunked, repeats)
            rows.append(
                (
                    name,
                    size_mb,
                    m / t_plain / 1e6,
                    m / t_sized / 1e6,
                    m / w_sized / 1e6,
                    m / t_iter / 1e6,
                )
            )
            dtype = np.int64 if kind == "int" else np.float64
            t_lt = _best(
                lambda path=path, delim=delim, skip=skip, dtype=dtype: np.loadtxt(
                    path, delimiter=delim, skiprows=skip, dtype=dtype
                ),
                1,
            )
            lim = min(m, 1_000_000)
            if kind == "int":
                t_py = _best(lambda path=path, lim=lim: _csv_module(path, lim), 1)
                py_name = "Python `csv` module + int()"
            else:
                t_py = _best(lambda path=path, lim=lim: _split_loop(path, lim), 1)
                py_name = "Python `str.split` + float()/int()"
            peers.append((name, m / t_lt / 1e6, py_name, lim / t_py / 1e6, t_lt / t_sized))

    out = [
        "### Text (CSV/TXT) reader: `python -m bench text`",
        "",
        f"Best of {repeats}; M events/s from process CPU time (one wall-clock column); "
        "page-cached files. `read_events(path)` detects the layout and infers the sensor size "
        f"(a second pass); the others are given `sensor_size`. Writing the synthetic files "
        f"took {t_write:.0f} s.",
        "",
        "| file | MB | `read_events(path)` | `read_events(path, sensor_size)` | same (wall) "
        "| `iter_events` (1 M chunks) |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, mb, a, b, bw, c in rows:
        out.append(f"| {name} | {mb:.0f} | {a:.1f} | {b:.1f} | {bw:.1f} | {c:.1f} |")
    out += [
        "",
        "| file | `np.loadtxt` M ev/s | Python loop | M ev/s | reader / `np.loadtxt` |",
        "|---|---:|---|---:|---:|",
    ]
    for name, lt, py_name, py, ratio in peers:
        out.append(f"| {name} | {lt:.2f} | {py_name} | {py:.2f} | {ratio:.1f}× |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(main())
