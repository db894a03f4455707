"""Event-file I/O against faery in one run: read (whole, chunked), write and convert per format.

``python -m bench io [--quick] [--formats aedat4,...]`` (``--formats``: only those formats'
read/write table). Files: the real recordings of ../shared/testdata and ~15 M-event versions of
them (``--quick``: ~3 M), generated in a temporary folder: the real events repeated back to back
in time (each copy shifted by the recording's duration), written the way a camera writes them:
EVT 2.0 / EVT 3.0 by faery's encoder (vectorised EVT 3.0 like a Prophesee camera), AEDAT 4.0 in
packets of the real file's median size (a few hundred events, as DV writes them), DAT by our
writer. AEDAT 4.0 once more as faery writes it (packets of 4096 events, LZ4 frames of linked
64 KiB blocks with block and content checksums): another layout a reader meets.

Measured (wall time, best of ``repeats``, ours and faery run alternately so that both see the same
load on a shared machine; the files are in the page cache; M events/s, higher is better;
"ratio" = ours / faery):

* read whole: ``read_events`` (sorted, range-checked) vs faery's stream concatenated;
* read chunked: ``iter_events(chunk_events=1 M)`` vs iterating ``faery.events_stream_from_file``
  (its packets: no re-cut, no checks); for the big AEDAT 4.0 files also in one thread, wall and
  CPU time (the reader decompresses big files in two worker threads; faery uses one);
* write: ``open_writer`` (1 M-event chunks, close() includes the fsync) vs faery's encoder
  (``faery.events_stream_from_array(...).to_file``); dv-processing's AEDAT 4.0 writer (the
  previous one, per-event push_back) on 1 M events for reference;
* convert EVT 2.0 → AEDAT 4.0: ``neuromoco convert`` vs faery's streaming ``to_file``, each in a
  subprocess, with its peak resident memory;
* the per-file cost of a small file (the 4,407-event DAT), step by step, and DAT files of
  growing size: where that fixed cost stops mattering.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from bench.timing import WALL, best_cpu
from bench.timing import best_wall as _best
from neuromoco.events import EVENT_DTYPE, iter_events, read_events, read_recording
from neuromoco.formats.writer import open_writer

TESTDATA = Path(__file__).resolve().parents[2] / "shared" / "testdata"
REAL = {
    "aedat4": "aedat4/dvSave-2024_06_20_16_13_00.aedat4",
    "evt2": "prophesee/evt2_sample.raw",
    "evt3": "prophesee/evt3_sample.raw",
    "dat": "prophesee/NCARS_obj_004397_td.dat",
}
SUFFIX = {"aedat4": ".aedat4", "evt2": ".raw", "evt3": ".raw", "dat": ".dat"}


def _faery_events(ev: np.ndarray) -> np.ndarray:
    import faery

    out = np.empty(ev.shape[0], dtype=faery.EVENTS_DTYPE)
    out["t"], out["x"], out["y"], out["on"] = ev["t"], ev["x"], ev["y"], ev["p"].astype(bool)
    return out


def _tiled(ev: np.ndarray, n: int) -> np.ndarray:
    reps = max(1, -(-n // ev.shape[0]))
    span = int(ev["t"][-1] - ev["t"][0]) + 1
    out = np.empty(reps * ev.shape[0], dtype=EVENT_DTYPE)
    for r in range(reps):
        part = out[r * ev.shape[0] : (r + 1) * ev.shape[0]]
        part[:] = ev
        part["t"] += r * span
    return out


def _median_packet(path: Path) -> int:
    import aedat

    sizes = [len(p["events"]) for p in aedat.Decoder(str(path)) if "events" in p]
    return int(np.median(sizes))


def make_big(fmt: str, src: Path, dst: Path, n: int) -> int:
    """The ~n-event version of ``src`` in ``dst``; returns its event count."""
    import faery

    rec = read_recording(src)
    ev = _tiled(rec.events, n)
    if fmt in ("evt2", "evt3"):
        fe = _faery_events(ev)
        with faery.evt.Encoder(str(dst), fmt, False, rec.sensor_size, True) as enc:
            for i in range(0, fe.shape[0], 1 << 20):
                enc.write({"events": fe[i : i + (1 << 20)]})
    else:
        opts = {"packet_events": _median_packet(src)} if fmt == "aedat4" else {}
        with open_writer(dst, rec.sensor_size, format=fmt, **opts) as w:
            for i in range(0, ev.shape[0], 1 << 20):
                w.write(ev[i : i + (1 << 20)])
    return ev.shape[0]


def make_faery_aedat4(src: Path, dst: Path, n: int) -> int:
    """The ~n-event version of ``src`` as faery writes AEDAT 4.0; returns its event count."""
    rec = read_recording(src)
    ev = _tiled(rec.events, n)
    _faery_write(dst, "aedat4", _faery_events(ev), rec.sensor_size)
    return ev.shape[0]


def _faery_whole(path: Path, fmt: str) -> np.ndarray:
    import faery

    if (
        fmt == "dat"
    ):  # faery's high-level reader refuses N-CARS "2d" files; the low level reads them
        with faery.dat.Decoder(str(path), (304, 240), None) as dec:
            return np.concatenate(list(dec))
    return np.concatenate(list(faery.events_stream_from_file(str(path))))


def _faery_chunked(path: Path, fmt: str) -> None:
    import faery

    if fmt == "dat":
        with faery.dat.Decoder(str(path), (304, 240), None) as dec:
            for _ in dec:
                pass
        return
    for _ in faery.events_stream_from_file(str(path)):
        pass


def _faery_write(path: Path, fmt: str, ev_faery: np.ndarray, size) -> None:
    import faery

    stream = faery.events_stream_from_array(ev_faery, dimensions=size)
    kw = {"version": fmt} if fmt in ("evt2", "evt3") else {}
    stream.to_file(str(path), zero_t0=False, **kw)


_MEASURED = (
    "import sys, time; t0 = time.perf_counter(); code = sys.argv[1]; sys.argv = sys.argv[1:]; "
    "exec(code); hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0]; "
    "print(time.perf_counter() - t0, hwm.split()[1], file=sys.stderr)"
)


def _run_measured(code: str, *args: str) -> tuple[float, float]:
    """Wall seconds and peak resident MB of ``code`` run in a fresh interpreter: the child's
    VmHWM (ru_maxrss would include the forked parent's memory: Linux keeps it across exec)."""
    proc = subprocess.run(
        [sys.executable, "-c", _MEASURED, code, *args], capture_output=True, text=True
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{code} {args} failed: {proc.stderr[-2000:]}")
    wall, rss_kb = proc.stderr.strip().splitlines()[-1].split()
    return float(wall), int(rss_kb) / 1024


def _best_pair(ours, theirs, repeats: int) -> tuple[float, float]:
    """Best wall times of two functions run alternately (ours, theirs, ours, ...): on a shared
    machine both then see the same background load, which a block of runs each would not."""
    a = b = float("inf")
    for _ in range(repeats):
        a = min(a, _best(ours, 1))
        b = min(b, _best(theirs, 1))
    return a, b


def bench_aedat4_threads(path: Path, repeats: int) -> dict:
    """Chunked reads (1 M events) of a big AEDAT 4.0 file with the reader's two worker threads
    (its default for big files) and in one thread (``NEUROMOCO_READ_THREADS=0``), against faery
    (one thread): best wall time and best CPU time (``time.process_time``: all threads of the
    process) of ``repeats`` passes, the three run alternately. Returns seconds."""
    import os

    from neuromoco.formats.aedat4 import THREADS_ENV

    def ours(threads: bool):
        saved = os.environ.pop(THREADS_ENV, None)
        if not threads:
            os.environ[THREADS_ENV] = "0"
        try:
            for _ in iter_events(path, chunk_events=1_000_000):
                pass
        finally:
            os.environ.pop(THREADS_ENV, None)
            if saved is not None:
                os.environ[THREADS_ENV] = saved

    runs = {
        "threads": lambda: ours(True),
        "one": lambda: ours(False),
        "faery": lambda: _faery_chunked(path, "aedat4"),
    }
    best = {k: [float("inf"), float("inf")] for k in runs}
    for _ in range(repeats):
        for k, f in runs.items():
            c = best_cpu(f, 1)
            best[k] = [min(best[k][0], WALL[f]), min(best[k][1], c)]
    return best


def _threads_table(rows: list) -> str:
    lines = [
        "",
        "AEDAT 4.0 chunked reads, the reader's two worker threads vs one thread vs faery (one "
        "thread): M events/s by wall time / by CPU time (all threads), ratio = ours / faery:",
        "",
        "| file | events | threads wall | CPU | one thread wall | CPU | faery wall | CPU | "
        "threads / faery wall | CPU | one thread / faery wall | CPU |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for label, n, b in rows:
        (tw, tc), (ow, oc), (fw, fc) = b["threads"], b["one"], b["faery"]
        lines.append(
            f"| {label} | {n:,} | {n / tw / 1e6:.1f} | {n / tc / 1e6:.1f} | {n / ow / 1e6:.1f} "
            f"| {n / oc / 1e6:.1f} | {n / fw / 1e6:.1f} | {n / fc / 1e6:.1f} | {fw / tw:.2f} "
            f"| {fc / tc:.2f} | {fw / ow:.2f} | {fc / oc:.2f} |"
        )
    return "\n".join(lines)


def bench_format(fmt: str, path: Path, repeats: int, write_dir: Path) -> dict:
    rec = read_recording(path)
    n = rec.events.shape[0]
    r = {"n": n}
    ours, theirs = _best_pair(lambda: read_events(path), lambda: _faery_whole(path, fmt), repeats)
    r["read"], r["read_faery"] = n / ours, n / theirs

    def chunked():
        for _ in iter_events(path, chunk_events=1_000_000):
            pass

    ours, theirs = _best_pair(chunked, lambda: _faery_chunked(path, fmt), repeats)
    r["iter"], r["iter_faery"] = n / ours, n / theirs

    ev = rec.events
    out = write_dir / f"w{SUFFIX[fmt]}"

    def ours_write():
        out.unlink(missing_ok=True)
        with open_writer(out, rec.sensor_size, format=fmt) as w:
            for i in range(0, n, 1 << 20):
                w.write(ev[i : i + (1 << 20)])

    fe = _faery_events(ev)
    fout = write_dir / f"f{SUFFIX[fmt]}"

    def faery_write():
        fout.unlink(missing_ok=True)
        _faery_write(fout, fmt, fe, rec.sensor_size)

    ours, theirs = _best_pair(ours_write, faery_write, repeats)
    r["write"], r["write_faery"] = n / ours, n / theirs
    return r


def bench_small_file(path: Path, fmt: str, repeats: int = 2000) -> list[tuple[str, float]]:
    """Per-file cost (µs, best of ``repeats``) of a small file, step by step: what a data set of
    thousands of such files (N-CARS: ~4 k events each) pays per file. The steps are timed one by
    one (in a loop of the whole read they overlap in the CPU cache, so they need not add up)."""
    from neuromoco.events import open_file, stat_file
    from neuromoco.formats.base import read_head
    from neuromoco.formats.detect import detect

    p, size = stat_file(path)
    head = read_head(p, size)
    opened = open_file(p, format=fmt)
    mod = opened.module

    def decode():
        for _ in opened.checked_chunks(1 << 20):
            pass

    def chunked():
        for _ in iter_events(path, chunk_events=1_000_000):
            pass

    steps = [
        ("stat + the first 64 KiB read", lambda: read_head(*stat_file(path))),
        ("format detection (from those bytes)", lambda: detect(p, head.data)),
        ("header probe (from those bytes)", lambda: mod.probe(p, fmt, None, head)),
        ("decoding + order/range checks", decode),
    ]
    out = [(name, _best(fn, repeats) * 1e6) for name, fn in steps]
    ours_c, faery_c = _best_pair(chunked, lambda: _faery_chunked(path, fmt), repeats)
    ours_w, faery_w = _best_pair(
        lambda: read_events(path), lambda: _faery_whole(path, fmt), repeats
    )
    out += [
        ("**chunked read, in all** (`iter_events`)", ours_c * 1e6),
        ("faery, chunked (its packets)", faery_c * 1e6),
        ("**whole read, in all** (`read_events`)", ours_w * 1e6),
        ("faery, whole (its packets concatenated)", faery_w * 1e6),
    ]
    return out


def bench_sizes(
    fmt: str, sizes: tuple[int, ...], work: Path, repeats: int
) -> list[tuple[int, float, float, float, float]]:
    """Where the fixed cost per file stops mattering: µs per file, ours and faery, chunked and
    whole, for files of ``sizes`` events (the real recording repeated; the first size is the
    real file itself when it matches). Rows: (events, chunked, faery chunked, whole, faery
    whole)."""
    src = TESTDATA / REAL[fmt]
    rows = []
    for n in sizes:
        path = src if n == read_recording(src).events.shape[0] else work / f"n{n}{SUFFIX[fmt]}"
        if path != src:
            make_big(fmt, src, path, n)

        def chunked(path=path):
            for _ in iter_events(path, chunk_events=1_000_000):
                pass

        a, b = _best_pair(chunked, lambda path=path: _faery_chunked(path, fmt), repeats)
        c, d = _best_pair(
            lambda path=path: read_events(path), lambda path=path: _faery_whole(path, fmt), repeats
        )
        rows.append((n, a * 1e6, b * 1e6, c * 1e6, d * 1e6))
    return rows


def bench_dv_write(n: int, write_dir: Path) -> float:
    """dv-processing's MonoCameraWriter with a push_back loop (the previous AEDAT 4.0 writer)."""
    import dv_processing as dv

    rng = np.random.default_rng(0)
    t = np.cumsum(rng.integers(0, 3, n)).tolist()
    x = rng.integers(0, 128, n).tolist()
    y = rng.integers(0, 128, n).tolist()
    p = rng.integers(0, 2, n).astype(bool).tolist()
    out = write_dir / "dv.aedat4"

    def run():
        out.unlink(missing_ok=True)
        w = dv.io.MonoCameraWriter(
            str(out), dv.io.MonoCameraWriter.EventOnlyConfig("x", (128, 128))
        )
        for i in range(0, n, 1 << 16):
            store = dv.EventStore()
            for j in range(i, min(n, i + (1 << 16))):
                store.push_back(t[j], x[j], y[j], p[j])
            w.writeEvents(store)
        del w

    return n / _best(run, 1)


FAERY_CONVERT = (
    "import faery; faery.events_stream_from_file(sys.argv[1]).to_file(sys.argv[2], zero_t0=False)"
)
OURS_CONVERT = "from neuromoco.cli import main; main(['convert', sys.argv[1], sys.argv[2]])"


def _table(rows: list, repeats: int, n_big: int) -> str:
    """The read/write table (markdown) of ``bench_format`` rows (format, file label, figures)."""
    out = [
        "### Event-file I/O vs faery (issue J): `python -m bench io`",
        "",
        f"M events/s, wall time, best of {repeats} (real files: {repeats * 3}), page-cached files; "
        "ratio = ours / faery (> 1: faster). Big files: the real recording repeated to "
        f"~{n_big / 1e6:g} M events (see bench/bench_io.py).",
        "",
        "| format | file | events | read | faery | ratio | chunked | faery | ratio | write | "
        "faery | ratio |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for fmt, label, r in rows:
        out.append(
            f"| {fmt} | {label} | {r['n']:,} | {r['read'] / 1e6:.1f} | {r['read_faery'] / 1e6:.1f} "
            f"| {r['read'] / r['read_faery']:.2f} | {r['iter'] / 1e6:.1f} | "
            f"{r['iter_faery'] / 1e6:.1f} | {r['iter'] / r['iter_faery']:.2f} | "
            f"{r['write'] / 1e6:.1f} | {r['write_faery'] / 1e6:.1f} | "
            f"{r['write'] / r['write_faery']:.2f} |"
        )
    return "\n".join(out)


def main(quick: bool = False, argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(prog="python -m bench io")
    ap.add_argument(
        "--formats",
        help=f"comma-separated, of {','.join(REAL)}: only their read/write table (default: "
        "every format, then convert, the per-file cost and the DAT sizes)",
    )
    args = ap.parse_args(argv or [])
    formats = args.formats.split(",") if args.formats else list(REAL)
    unknown = [f for f in formats if f not in REAL]
    if unknown:
        ap.error(f"--formats: unknown {', '.join(unknown)}; known: {', '.join(REAL)}")
    n_big = 3_000_000 if quick else 15_000_000
    repeats = 2 if quick else 3
    rows = []
    threads: list = []  # bench_aedat4_threads of the big AEDAT 4.0 files
    with tempfile.TemporaryDirectory(prefix="bench_io_") as d:
        d = Path(d)
        for fmt in formats:
            src = TESTDATA / REAL[fmt]
            if not src.exists():
                raise FileNotFoundError(f"{src}: the benchmark needs ../shared/testdata")
            big = d / f"big_{fmt}{SUFFIX[fmt]}"
            make_big(fmt, src, big, n_big)
            files = [("real", src, repeats * 3), ("big", big, repeats)]
            if fmt == "aedat4":
                files.append(("big, faery's", d / "big_faery.aedat4", repeats))
                make_faery_aedat4(src, files[-1][1], n_big)
            for label, path, reps in files:
                r = bench_format(fmt, path, reps, d)
                rows.append((fmt, label, r))
                print(f"  io {fmt} {label}: {r}", file=sys.stderr, flush=True)
                if fmt == "aedat4" and path != src:
                    threads.append((label, r["n"], bench_aedat4_threads(path, reps + 2)))
                if path != src:
                    path.unlink()
        if args.formats:
            tables = [_table(rows, repeats, n_big)] + [_threads_table(threads)] * bool(threads)
            return "\n".join(tables) + "\n"
        # convert EVT 2.0 -> AEDAT 4.0, 15 M events, each tool in its own process
        src = d / "conv_src.raw"
        n_conv = make_big("evt2", TESTDATA / REAL["evt2"], src, n_big)
        ours = _run_measured(OURS_CONVERT, str(src), str(d / "o.aedat4"))
        theirs = _run_measured(FAERY_CONVERT, str(src), str(d / "f.aedat4"))
        assert read_events(d / "o.aedat4").shape[0] == n_conv
        baseline = _run_measured("import neuromoco.events, neuromoco.formats.writer, faery")
        small = bench_small_file(TESTDATA / REAL["dat"], "dat", 300 if quick else 2000)
        sizes = bench_sizes(
            "dat", (4407, 10_000, 20_000, 40_000, 80_000, 160_000), d, 40 if quick else 200
        )
        dv_w = bench_dv_write(1_000_000 if not quick else 200_000, d)

    out = [_table(rows, repeats, n_big)]
    if threads:
        out.append(_threads_table(threads))
    base_mb = baseline[1]
    out += [
        "",
        f"Convert EVT 2.0 → AEDAT 4.0, {n_conv / 1e6:.1f} M events, separate processes "
        f"(peak RSS; a process that only imports the readers/writers and faery: {base_mb:.0f} MB; "
        f"the {n_conv / 1e6:.0f} M events decoded would be {n_conv * 13 / 2**20:.0f} MB):",
        "",
        "| tool | seconds | M events/s | peak RSS MB |",
        "|---|---:|---:|---:|",
        f"| `neuromoco convert` | {ours[0]:.2f} | {n_conv / ours[0] / 1e6:.1f} | {ours[1]:.0f} |",
        f"| faery `to_file` (streaming) | {theirs[0]:.2f} | {n_conv / theirs[0] / 1e6:.1f} | "
        f"{theirs[1]:.0f} |",
        "",
        f"dv-processing `MonoCameraWriter` + per-event `push_back` (the previous AEDAT 4.0 "
        f"writer): {dv_w / 1e6:.2f} M events/s.",
        "",
        "Per-file cost of the real DAT file (4,407 events), step by step (µs, best of each; "
        "the steps timed alone):",
        "",
        "| step | µs |",
        "|---|---:|",
    ]
    out += [f"| {name} | {us:.1f} |" for name, us in small]
    out += [
        "",
        "DAT files of growing size (the real recording repeated), µs per file:",
        "",
        "| events | chunked | faery | ratio | whole | faery | ratio |",
        "|---:|---:|---:|---:|---:|---:|---:|",
    ]
    out += [
        f"| {n:,} | {a:.0f} | {b:.0f} | {b / a:.2f} | {c:.0f} | {e:.0f} | {e / c:.2f} |"
        for n, a, b, c, e in sizes
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(main(quick="--quick" in sys.argv, argv=[a for a in sys.argv[1:] if a != "--quick"]))
