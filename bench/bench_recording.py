"""Recording and streaming convert: throughput on one core, memory, time to stop.

``python -m bench recording [--quick] [--events N] [--convert-events N] [--no-convert]``

Input: the dense real DVS128 recording (../shared/testdata/aedat4/dvSave-2024_06_20_16_13_00
.aedat4, 150 k events in 6 s) repeated back to back in time (each copy shifted by its duration),
so the writers see real event statistics (compression ratios) at any length.

Each measurement runs in its own subprocess pinned to one CPU (``sched_setaffinity``): "on one
core" means the source side (``add``), the writer thread and the encoder share that core.

* **writer alone**: ``open_writer`` per format, 64 k-event chunks, ``close()`` (fsync) included;
  dv-processing's AEDAT 4.0 writer (per-event push_back, the previous recorder's peer) on 1 M.
* **recorder end to end**: ``Recorder.add`` in 4096-event chunks (what a file source yields)
  then ``close()`` (drain + index + fsync + rename); throughput = events / (first add → close
  returned); "stop" = the time ``close()`` took; "add" = the source thread's cost per event.
* **memory**: peak RSS of a recorder subprocess at two lengths, minus the RSS before the
  recorder was created (imports and the 150 k-event base done): bounded means equal.
* **convert**: ``neuromoco convert`` (a subprocess) of a generated AEDAT 4.0 file to AEDAT 3.1
  at two sizes (default 10 M and 100 M events), peak RSS vs file size. The big files go to
  /tmp and are deleted afterwards (about 8 bytes an event each, input and output).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DENSE = REPO.parent / "shared" / "testdata" / "aedat4" / "dvSave-2024_06_20_16_13_00.aedat4"
SUFFIX = {"aedat4": ".aedat4", "aedat3": ".aedat", "evt2": ".raw", "evt3": ".raw", "dat": ".dat"}

# run in a subprocess: prints one JSON object
_COMMON = textwrap.dedent(
    f"""
    import json, os, resource, sys, time
    import numpy as np
    os.sched_setaffinity(0, {{min(os.sched_getaffinity(0))}})
    from neuromoco.events import read_recording
    base = read_recording({str(DENSE)!r}).events
    base["t"] -= base["t"][0]  # from 0: every format holds the times (the recorder would rebase)
    span = int(base["t"][-1] - base["t"][0]) + 1

    def chunks(n, size):
        # the real events repeated back to back, cut in `size`-event chunks (never all in memory)
        done, k = 0, 0
        while done < n:
            rep = base.copy()
            rep["t"] += k * span
            k += 1
            for i in range(0, rep.shape[0], size):
                c = rep[i : i + size][: n - done]
                if not c.size:
                    break
                done += c.shape[0]
                yield c
                if done >= n:
                    break

    def rss_mb():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmRSS"):
                    return int(line.split()[1]) / 1024

    def peak_mb():
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    """
)

_WRITER = _COMMON + textwrap.dedent(
    """
    from neuromoco.formats.writer import open_writer
    out, fmt, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    opts = {"compression": "none"} if fmt == "aedat4-none" else {}
    fmt = fmt.split("-")[0]
    parts = list(chunks(n, 65536))  # generated before the clock starts
    t0 = time.perf_counter()
    with open_writer(out, (128, 128), format=fmt, **opts) as w:
        for c in parts:
            w.write(c)
    dt = time.perf_counter() - t0
    print(json.dumps({"n": n, "s": dt, "bytes": os.path.getsize(out)}))
    """
)

_DV = _COMMON + textwrap.dedent(
    """
    import dv_processing as dv
    out, n = sys.argv[1], int(sys.argv[2])
    parts = list(chunks(n, 65536))
    t0 = time.perf_counter()
    cfg = dv.io.MonoCameraWriter.EventOnlyConfig("bench", (128, 128))
    w = dv.io.MonoCameraWriter(out, cfg)
    for c in parts:
        store = dv.EventStore()
        for t, x, y, p in zip(c["t"].tolist(), c["x"].tolist(), c["y"].tolist(), c["p"].tolist()):
            store.push_back(t, x, y, bool(p))
        w.writeEvents(store)
    del w
    dt = time.perf_counter() - t0
    print(json.dumps({"n": n, "s": dt, "bytes": os.path.getsize(out)}))
    """
)

_RECORDER = _COMMON + textwrap.dedent(
    """
    from neuromoco.streaming.recorder import Recorder
    out, fmt, n, rate = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
    gen = chunks(n, 4096)
    first = next(gen)
    rss0 = rss_mb()
    rec = Recorder(out, (128, 128), fmt if fmt.startswith("evt") else None)
    t_add = 0.0
    t0 = time.perf_counter()
    a = time.perf_counter()
    rec.add(first)
    t_add += time.perf_counter() - a
    max_backlog = 0
    done = first.shape[0]
    for c in gen:
        if rate:  # a camera: events arrive at `rate` ev/s
            lag = t0 + done / rate - time.perf_counter()
            if lag > 0:
                time.sleep(lag)
        a = time.perf_counter()
        rec.add(c)
        t_add += time.perf_counter() - a
        done += c.shape[0]
        max_backlog = max(max_backlog, rec.stats().backlog_bytes)
    t1 = time.perf_counter()
    path = rec.close()
    t2 = time.perf_counter()
    s = rec.stats()
    assert path is not None and s.events_written == n == s.events_in and not s.events_dropped
    print(json.dumps({"n": n, "s": t2 - t0, "add_s": t_add, "stop_s": t2 - t1,
                      "rss0": rss0, "peak": peak_mb(), "backlog_mb": max_backlog / 2**20,
                      "bytes": os.path.getsize(out)}))
    """
)

_GENERATE = _COMMON + textwrap.dedent(
    """
    from neuromoco.formats.writer import open_writer
    out, n = sys.argv[1], int(sys.argv[2])
    with open_writer(out, (128, 128)) as w:
        for c in chunks(n, 1 << 20):
            w.write(c)
    print(json.dumps({"n": w.events_written, "bytes": os.path.getsize(out)}))
    """
)


def _run(code: str, *args, timeout: float = 3600) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    r = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        timeout=timeout,
    )
    if r.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed ({r.returncode}): {r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def _convert_peak(src: Path, dst: Path) -> tuple[float, float]:
    """Seconds and peak RSS (MB) of ``neuromoco convert src dst`` in its own process."""
    code = textwrap.dedent(
        """
        import resource, subprocess, sys, time, json
        t0 = time.perf_counter()
        r = subprocess.run([sys.executable, "-m", "neuromoco.cli", "convert", sys.argv[1],
                            sys.argv[2]], capture_output=True, text=True)
        dt = time.perf_counter() - t0
        if r.returncode:
            sys.exit(r.stderr)
        peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        print(json.dumps({"s": dt, "peak": peak}))
        """
    )
    d = _run(code, src, dst)
    return d["s"], d["peak"]


def _df(path: str) -> str:
    u = shutil.disk_usage(path)
    return f"{u.free / 2**30:.0f} GiB free of {u.total / 2**30:.0f} GiB"


def _throughput(d: Path, n: int, quick: bool, lines: list[str]) -> None:
    for fmt in ("aedat4", "aedat3", "evt2", "evt3", "dat"):
        w = _run(_WRITER, d / f"w{SUFFIX[fmt]}", fmt, n)
        (d / f"w{SUFFIX[fmt]}").unlink()
        r = _run(_RECORDER, d / f"r{SUFFIX[fmt]}", fmt, n, 0)
        (d / f"r{SUFFIX[fmt]}").unlink()
        lines.append(
            f"| {fmt} | {n / w['s'] / 1e6:.1f} | {n / r['s'] / 1e6:.1f} "
            f"| {r['stop_s'] * 1e3:.0f} | {r['add_s'] / n * 1e9:.0f} "
            f"| {r['backlog_mb']:.0f} | {w['bytes'] / n:.2f} |"
        )
        print(lines[-1], file=sys.stderr, flush=True)
    w = _run(_WRITER, d / "w.aedat4", "aedat4-none", n)
    (d / "w.aedat4").unlink()
    lines.append(
        f"| aedat4, no LZ4 (`compression='none'`) | {n / w['s'] / 1e6:.1f} | – | – | – | – "
        f"| {w['bytes'] / n:.2f} |"
    )
    nd = 1_000_000 if not quick else 200_000
    try:
        dv = _run(_DV, d / "dv.aedat4", nd)
        lines += [
            "",
            f"Peer: dv-processing's MonoCameraWriter (EventStore push_back per event) on "
            f"{nd / 1e6:g} M events: {nd / dv['s'] / 1e6:.2f} M ev/s.",
        ]
    except Exception as e:  # dv-processing absent or broken: say so
        lines += ["", f"Peer: dv-processing writer not measured ({e})."]


def _memory(d: Path, quick: bool, rate: float, lines: list[str]) -> None:
    # two lengths: the same peak means bounded
    lines += [
        "",
        "### Recording: memory and time to stop (AEDAT 4.0, recorder end to end, one CPU)",
        "",
        f"Events arrive at {rate / 1e6:g} M ev/s (a busy camera) in 4096-event chunks.",
        "",
        "| events | peak RSS (MB) | RSS before the recorder (MB) | growth (MB) "
        "| max backlog (MiB) | stop (ms) |",
        "|---|---|---|---|---|---|",
    ]
    sizes = (2_000_000, 8_000_000) if quick else (10_000_000, 40_000_000)
    for m in sizes:
        r = _run(_RECORDER, d / "mem.aedat4", "aedat4", m, rate)
        (d / "mem.aedat4").unlink()
        lines.append(
            f"| {m / 1e6:g} M | {r['peak']:.0f} | {r['rss0']:.0f} "
            f"| {r['peak'] - r['rss0']:.0f} | {r['backlog_mb']:.0f} | {r['stop_s'] * 1e3:.0f} |"
        )
        print(lines[-1], file=sys.stderr, flush=True)


def main(quick: bool = False, argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(prog="python -m bench recording", description=__doc__)
    ap.add_argument("--events", type=int, help="events per write run (default 20 M; quick 3 M)")
    ap.add_argument(
        "--convert-events",
        type=int,
        help="events of the big convert file (default 100 M; quick 10 M)",
    )
    ap.add_argument("--no-convert", action="store_true", help="skip the convert runs")
    ap.add_argument(
        "--only",
        choices=("throughput", "memory", "convert"),
        help="run one part only",
    )
    ap.add_argument(
        "--rate", type=float, default=2e6, help="input rate of the memory runs (ev/s, default 2 M)"
    )
    ap.add_argument("--tmp", default=tempfile.gettempdir(), help="folder for the big files")
    args = ap.parse_args(argv or [])
    if not DENSE.exists():
        return f"(bench recording skipped: {DENSE} is absent)"
    n = args.events or (3_000_000 if quick else 20_000_000)
    part = args.only
    lines = (
        []
        if part not in (None, "throughput")
        else [
            "### Recording: write throughput on one core (real DVS128 events repeated)",
            "",
            f"{n / 1e6:g} M events; subprocess pinned to one CPU; M ev/s, higher is better "
            "(target ≥ 20).",
            "",
            "| format | writer alone (M ev/s) | recorder end to end (M ev/s) | stop (ms) "
            "| add() cost (ns/ev) | max backlog (MiB) | bytes/event |",
            "|---|---|---|---|---|---|---|",
        ]
    )
    with tempfile.TemporaryDirectory(dir=args.tmp) as d:
        d = Path(d)
        if part in (None, "throughput"):
            _throughput(d, n, quick, lines)
        if part in (None, "memory"):
            _memory(d, quick, args.rate, lines)

    if part in (None, "convert") and not args.no_convert:
        big_n = args.convert_events or (10_000_000 if quick else 100_000_000)
        lines += [
            "",
            "### Convert: bounded memory (`neuromoco convert IN.aedat4 OUT.aedat`, AEDAT 4.0 → "
            "AEDAT 3.1)",
            "",
            f"Files generated in {args.tmp} ({_df(args.tmp)} before), deleted afterwards.",
            "",
            "| events | input (MB) | output (MB) | time (s) | M ev/s | peak RSS (MB) |",
            "|---|---|---|---|---|---|",
        ]
        with tempfile.TemporaryDirectory(dir=args.tmp) as d:
            d = Path(d)
            for m in sorted({big_n // 10, big_n}):
                src, dst = d / "big.aedat4", d / "big.aedat"
                g = _run(_GENERATE, src, m)
                s, peak = _convert_peak(src, dst)
                lines.append(
                    f"| {m / 1e6:g} M | {g['bytes'] / 1e6:.0f} | {dst.stat().st_size / 1e6:.0f} "
                    f"| {s:.1f} | {m / s / 1e6:.1f} | {peak:.0f} |"
                )
                print(lines[-1], file=sys.stderr, flush=True)
                src.unlink()
                dst.unlink()
        lines.append(f"\n{args.tmp} after: {_df(args.tmp)}.")
    return "\n".join(lines)


if __name__ == "__main__":
    print(main("--quick" in sys.argv, [a for a in sys.argv[1:] if a != "--quick"]))
