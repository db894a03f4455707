"""Bad input at scale: mutated real recordings of every format through every reading path.

``python -m bench fuzz [--n 10000] [--workers 2] [--timeout 30] [--seed 0] [--json OUT]``
(``--quick``: 300 inputs).

Inputs: the event files of ../shared/testdata (AEDAT 4.0, AEDAT 2.0, EVT 2.0, EVT 3.0, DAT,
ATIS .bin, the DVS Gesture CSV files) plus AEDAT 3.1 and npz files converted from a real
recording (testdata has none), taken in turn per format. Mutations (seeded, reproducible from
``(file, mutation, seed)``):

* ``truncate``: cut anywhere; ``truncate-head``: cut in the first 2 KiB (the header);
* ``flip``: 1–16 bytes XORed anywhere; ``garble-head``: 8 random bytes in the first 512;
* ``splice``: a block (64 B – 8 KiB) of the file copied to another place (packets/records
  duplicated or cut mid-way); ``splice-cross``: a block of another file of the format inserted.

Every mutant goes through three paths: ``read_recording`` (whole), ``iter_events`` in chunks
(1000, 7919 or 65536 events, from the seed) and the streaming ``FileSource`` (iterated as the
engine's source thread does, ``speed=0``). Outcomes per input:

* ``decoded``: the three agree (chunked and source events, stable-sorted by t, equal the whole
  read), and the events are valid (sorted, inside the sensor, polarity 0/1);
* ``EventFormatError``: every path raised it (the source: a ``SourceError`` caused by one);
* failures: ``mismatch`` (paths differ: e.g. one decodes without error where another raises,
  or different events), ``invalid`` (a decode with events outside the sensor, unsorted…),
  ``other exception`` (any other type), ``unnamed error`` (an ``EventFormatError`` whose message
  does not name the file), ``stderr`` (text written to fd 2 during a decode, e.g. a Rust panic
  message; fd 2 is redirected around each call so the text is captured, not shown), ``crash``
  (the worker process died: segfault, abort), ``hang`` (over ``--timeout`` seconds: the worker is
  killed and replaced).

Each worker is a separate process taking inputs one by one, so a crash or a hang costs one input.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import select
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TESTDATA = REPO.parent / "shared" / "testdata"

KINDS = ("truncate", "truncate-head", "flip", "garble-head", "splice", "splice-cross")
CHUNKS = (1000, 7919, 65536)
FAILURES = ("mismatch", "invalid", "other exception", "unnamed error", "crash", "hang")


def corpus(work: Path) -> dict[str, list[Path]]:
    """Files per format: testdata's, plus AEDAT 3.1 and npz made from a real recording."""
    groups = {
        "aedat4": sorted((TESTDATA / "aedat4").glob("*.aedat4"))
        + sorted((TESTDATA / "unlabeled_dvs128").glob("*.aedat4"))[:4],
        "aedat2": sorted((TESTDATA / "aedat2").glob("*.aedat")),
        "evt2": [TESTDATA / "prophesee" / "evt2_sample.raw"],
        "evt3": [TESTDATA / "prophesee" / "evt3_sample.raw"],
        "dat": sorted((TESTDATA / "prophesee").glob("*.dat")),
        "atis_bin": sorted((TESTDATA / "atis_bin").glob("*.bin")),
        "csv": sorted(
            p for p in (TESTDATA / "dvsgesture_csv").glob("*.csv") if p.name != "labels.csv"
        ),
    }
    groups = {k: [p for p in v if p.exists()] for k, v in groups.items()}
    real = TESTDATA / "aedat4" / "dvSave-2024_06_13_16_16_25.aedat4"
    if real.exists():
        from neuromoco.events import read_recording, write_events

        rec = read_recording(real)
        made = {"aedat3": work / "converted.aedat", "npz": work / "converted.npz"}
        for fmt, p in made.items():
            if not p.exists():
                write_events(p, rec.events, rec.sensor_size, format=fmt)
            groups[fmt] = [p]
    return {k: v for k, v in groups.items() if v}


def mutate(data: bytes, kind: str, seed: int, other: bytes) -> bytes:
    import numpy as np

    rng = np.random.default_rng(seed)
    n = len(data)
    if n == 0:
        return data
    if kind == "truncate":
        return data[: int(rng.integers(0, n))]
    if kind == "truncate-head":
        return data[: int(rng.integers(0, min(n, 2048)))]
    if kind == "flip":
        b = bytearray(data)
        for pos in rng.integers(0, n, size=int(rng.integers(1, 17))):
            b[pos] ^= int(rng.integers(1, 256))
        return bytes(b)
    if kind == "garble-head":
        b = bytearray(data)
        for pos in rng.integers(0, min(n, 512), size=8):
            b[pos] = int(rng.integers(0, 256))
        return bytes(b)
    src = data if kind == "splice" else (other or data)
    size = int(rng.integers(64, 8193))
    a = int(rng.integers(0, max(1, len(src) - size)))
    block = src[a : a + size]
    at = int(rng.integers(0, n))
    if rng.random() < 0.5:  # insert
        return data[:at] + block + data[at:]
    return data[:at] + block + data[at + len(block) :]  # overwrite


# ------------------------------------------------------------------------------- the worker


class _Fd2:
    """Redirect fd 2 (where Rust/C libraries print) to a file around a call; keep the text."""

    def __init__(self, path: Path):
        self.path = path
        self.text = ""

    def __enter__(self):
        sys.stderr.flush()
        self._saved = os.dup(2)
        self._f = open(self.path, "w+b")  # noqa: SIM115
        os.dup2(self._f.fileno(), 2)
        return self

    def __exit__(self, *exc):
        sys.stderr.flush()
        os.dup2(self._saved, 2)
        os.close(self._saved)
        self._f.seek(0)
        self.text = self._f.read(4000).decode(errors="replace")
        self._f.close()
        return False


def _canon(ev):
    import numpy as np

    return ev[np.argsort(ev["t"], kind="stable")] if ev.size > 1 else ev


def _check_valid(ev, size) -> str | None:
    import numpy as np

    w, h = size
    if not (w > 0 and h > 0):
        return f"sensor size {size}"
    if ev.size:
        if np.any(np.diff(ev["t"]) < 0):
            return "unsorted"
        if int(ev["x"].max()) >= w or int(ev["y"].max()) >= h:
            return f"coordinates outside {w}x{h}"
        if int(ev["p"].max()) > 1:
            return "polarity > 1"
    return None


def _run_paths(path: Path, chunk: int, scratch: Path) -> dict:
    """Decode ``path`` three ways; each result is ("ok", events, size) or ("err", type, msg)."""
    import numpy as np

    from neuromoco.events import EventFormatError, iter_events, read_recording
    from neuromoco.streaming.file_source import FileSource

    out, stderr = {}, {}

    def guard(name, fn):
        cap = _Fd2(scratch / f"fd2_{name}")
        try:
            with cap:
                res = fn()
            out[name] = ("ok", *res)
        except EventFormatError as e:
            out[name] = ("err", "EventFormatError", str(e))
        except Exception as e:
            cause = e.__cause__
            if type(e).__name__ == "SourceError" and isinstance(cause, EventFormatError):
                out[name] = ("err", "EventFormatError", str(e))
            else:
                out[name] = ("err", type(e).__name__, str(e)[:300])
        if cap.text.strip():
            stderr[name] = cap.text.strip().splitlines()[0][:200]

    def whole():
        rec = read_recording(path)
        return rec.events, rec.sensor_size

    def chunked():
        with iter_events(path, chunk_events=chunk) as it:
            parts = list(it)
            size = it.sensor_size
        ev = np.concatenate(parts) if parts else np.empty(0, whole_dtype())
        return ev, size

    def source():
        src = FileSource(path, speed=0, chunk_events=chunk)
        parts = [c for c in src if c.size]
        st = src.status
        if st.startswith("error"):
            raise RuntimeError(f"source status {st} without an exception")
        ev = np.concatenate(parts) if parts else np.empty(0, whole_dtype())
        return ev, src.sensor_size

    guard("whole", whole)
    guard("chunked", chunked)
    guard("source", source)
    return {"paths": out, "stderr": stderr}


def whole_dtype():
    from neuromoco.events import EVENT_DTYPE

    return EVENT_DTYPE


def classify(path: Path, res: dict) -> tuple[str, str]:
    """(outcome, detail) of one input from the three paths' results."""
    import numpy as np

    p = res["paths"]
    others = [(k, v) for k, v in p.items() if v[0] == "err" and v[1] != "EventFormatError"]
    if others:
        k, v = others[0]
        return "other exception", f"{k}: {v[1]}: {v[2]}"
    errs = [k for k, v in p.items() if v[0] == "err"]
    for k in errs:
        if str(path) not in p[k][2] and path.name not in p[k][2]:
            return "unnamed error", f"{k}: {p[k][2][:200]}"
    if len(errs) == 3:
        return "EventFormatError", ""
    if errs:
        ok = [k for k in p if k not in errs]
        n = {k: p[k][1].shape[0] for k in ok}
        return "mismatch", f"{'/'.join(errs)} raised, {'/'.join(ok)} decoded {n} events"
    _, ev, size = p["whole"]
    bad = _check_valid(ev, size)
    if bad:
        return "invalid", f"whole: {bad}"
    for k in ("chunked", "source"):
        _, e2, s2 = p[k]
        if tuple(s2) != tuple(size):
            return "mismatch", f"{k}: sensor size {s2} vs whole {size}"
        if e2.shape != ev.shape or not np.array_equal(_canon(e2), ev):
            return "mismatch", f"{k}: {e2.shape[0]} events vs whole {ev.shape[0]} (or different)"
    return "decoded", ""


def worker() -> int:
    """Read tasks (JSON lines) on stdin, answer one JSON line each on stdout."""
    scratch = Path(tempfile.mkdtemp(prefix="neuromoco_fuzz_"))
    cache: dict[str, bytes] = {}
    out = sys.stdout
    try:
        for line in sys.stdin:
            task = json.loads(line)
            src = task["file"]
            data = cache.get(src) or cache.setdefault(src, Path(src).read_bytes())
            other = task.get("other")
            other_b = (
                (cache.get(other) or cache.setdefault(other, Path(other).read_bytes()))
                if other
                else b""
            )
            mutant = mutate(data, task["kind"], task["seed"], other_b)
            # same name as the original (suffix, and the CSV reader's hints), in a fresh folder
            d = scratch / str(task["id"])
            d.mkdir()
            path = d / Path(src).name
            path.write_bytes(mutant)
            t0 = time.perf_counter()
            res = _run_paths(path, task["chunk"], d)
            outcome, detail = classify(path, res)
            err_text = "; ".join(f"{k}: {v}" for k, v in res["stderr"].items())
            for f in d.iterdir():
                f.unlink()
            d.rmdir()
            out.write(json.dumps({"id": task["id"], "outcome": outcome, "detail": detail,
                                  "stderr": err_text, "s": time.perf_counter() - t0}) + "\n")  # fmt: skip
            out.flush()
    finally:
        import shutil

        shutil.rmtree(scratch, ignore_errors=True)
    return 0


# ------------------------------------------------------------------------------- the driver


class _Worker:
    def __init__(self):
        env = dict(os.environ, PYTHONPATH=str(REPO), PYTHONFAULTHANDLER="")
        self.p = subprocess.Popen(
            [sys.executable, "-m", "bench.bench_fuzz", "--worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=REPO,
            text=True,
            bufsize=1,
        )
        self.task = None
        self.t0 = 0.0

    def send(self, task: dict) -> None:
        self.task, self.t0 = task, time.monotonic()
        self.p.stdin.write(json.dumps(task) + "\n")
        self.p.stdin.flush()

    def kill(self) -> None:
        try:
            self.p.kill()
        except OSError:
            pass
        self.p.wait()


def run(n: int, workers: int, timeout: float, seed: int, log=sys.stderr) -> list[dict]:
    work = Path(tempfile.mkdtemp(prefix="neuromoco_fuzz_corpus_"))
    files = corpus(work)
    fmts = sorted(files)
    tasks = []
    pick = random.Random(seed)  # chunk sizes independent of format, file and mutation
    for i in range(n):
        fmt = fmts[i % len(fmts)]
        k = i // len(fmts)
        group = files[fmt]
        kind = KINDS[k % len(KINDS)]  # each mutation in turn, then the next file
        f = group[(k // len(KINDS)) % len(group)]
        other = (
            group[(k + 1) % len(group)] if len(group) > 1 else files[fmts[(i + 1) % len(fmts)]][0]
        )
        tasks.append({"id": i, "format": fmt, "file": str(f), "kind": kind,
                      "seed": seed * 1_000_003 + i, "chunk": pick.choice(CHUNKS),
                      "other": str(other) if kind == "splice-cross" else None})  # fmt: skip
    pending = list(reversed(tasks))
    results: list[dict] = []
    pool = [_Worker() for _ in range(workers)]
    t_start = time.monotonic()
    try:
        while pending or any(w.task for w in pool):
            for w in pool:
                if w.task is None and pending:
                    w.send(pending.pop())
            busy = {w.p.stdout.fileno(): w for w in pool if w.task is not None}
            ready, _, _ = select.select(list(busy), [], [], 0.2)
            for fd in ready:
                w = busy[fd]
                line = w.p.stdout.readline()
                task = w.task
                if line:
                    r = json.loads(line)
                else:  # the worker died on this input
                    rc = w.p.wait()
                    r = {"outcome": "crash", "detail": f"worker exit status {rc}", "s": 0.0}
                    pool[pool.index(w)] = _Worker()
                w.task = None
                results.append({**task, **r})
            now = time.monotonic()
            for i, w in enumerate(pool):
                if w.task is not None and now - w.t0 > timeout:
                    results.append({**w.task, "outcome": "hang", "detail": f"> {timeout:g} s",
                                    "s": now - w.t0})  # fmt: skip
                    w.kill()
                    pool[i] = _Worker()
            if len(results) % 500 == 0 and results:
                el = time.monotonic() - t_start
                print(f"fuzz: {len(results)}/{n} in {el:.0f} s", file=log, flush=True)
    finally:
        for w in pool:
            w.kill()
        import shutil

        shutil.rmtree(work, ignore_errors=True)
    return results


def report(results: list[dict], wall_s: float, workers: int, argv_line: str) -> str:
    outcomes = ["decoded", "EventFormatError", *FAILURES]
    per = defaultdict(Counter)
    noisy = Counter()
    for r in results:
        per[r["format"]][r["outcome"]] += 1
        noisy[r["format"]] += bool(r.get("stderr"))
    fails = [r for r in results if r["outcome"] in FAILURES]
    loud = [r for r in results if r.get("stderr")]
    n_bad = len({r["id"] for r in fails + loud})
    lines = [
        "### Fuzz: mutated real recordings through read_recording, iter_events and FileSource",
        "",
        f"`{argv_line}`: {len(results)} inputs in {wall_s:.0f} s with {workers} workers "
        f"({len(results) / wall_s:.1f} inputs/s); inputs failing a goal: {n_bad} "
        f"({len(fails)} by outcome, {len(loud)} with text on stderr).",
        "",
        "| format | inputs | " + " | ".join(outcomes) + " | text on stderr |",
        "|---|---|" + "---|" * (len(outcomes) + 1),
    ]
    total = Counter()
    for fmt in sorted(per):
        c = per[fmt]
        total.update(c)
        lines.append(
            f"| {fmt} | {sum(c.values())} | "
            + " | ".join(str(c[o]) for o in outcomes)
            + f" | {noisy[fmt]} |"
        )
    lines.append(
        f"| **all** | {sum(total.values())} | "
        + " | ".join(str(total[o]) for o in outcomes)
        + f" | {sum(noisy.values())} |"
    )
    if fails or loud:
        lines += [
            "",
            "Failures (format, outcome or stderr text × count (mutations); e.g. file, mutation, "
            "seed, chunk: detail), grouped:",
            "",
        ]
        groups = defaultdict(list)
        for r in fails:
            groups[(r["format"], r["outcome"], _detail_key(r["detail"]))].append((r, r["detail"]))
        for r in loud:
            groups[(r["format"], "stderr", _detail_key(r["stderr"]))].append((r, r["stderr"]))
        for (fmt, outcome, _), rs in sorted(groups.items(), key=lambda kv: -len(kv[1])):
            r, detail = rs[0]
            kinds = Counter(x["kind"] for x, _ in rs)
            also = Counter(x["outcome"] for x, _ in rs) if outcome == "stderr" else None
            lines.append(
                f"* {fmt} · {outcome} × {len(rs)} ({', '.join(f'{k} {v}' for k, v in kinds.items())})"
                + (f", outcomes {dict(also)}" if also else "")
                + f"; e.g. {Path(r['file']).name} {r['kind']} seed {r['seed']} chunk {r['chunk']}: "
                f"{detail[:220]}"
            )
    return "\n".join(lines)


def _detail_key(detail: str) -> str:
    """Group failure details: digits and paths removed."""
    import re

    d = re.sub(r"/\S+", "PATH", detail)
    return re.sub(r"\d+", "N", d)[:80]


def main(quick: bool = False, argv: list[str] | None = None) -> str:
    ap = argparse.ArgumentParser(prog="python -m bench fuzz", description=__doc__)
    ap.add_argument("--n", type=int, help="inputs (default 10000; --quick 300)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    ap.add_argument("--timeout", type=float, default=30.0, help="seconds per input (default 30)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json", help="write every input's result to this file")
    a = ap.parse_args(argv or [])
    if not TESTDATA.is_dir():
        return f"(bench fuzz skipped: {TESTDATA} is absent)"
    n = a.n or (300 if quick else 10_000)
    t0 = time.monotonic()
    results = run(n, a.workers, a.timeout, a.seed)
    wall = time.monotonic() - t0
    if a.json:
        Path(a.json).write_text(json.dumps(results))
    line = f"python -m bench fuzz --n {n} --workers {a.workers} --timeout {a.timeout:g} --seed {a.seed}"
    return report(results, wall, a.workers, line)


if __name__ == "__main__":
    if "--worker" in sys.argv:
        sys.exit(worker())
    print(main("--quick" in sys.argv, [a for a in sys.argv[1:] if a != "--quick"]))
