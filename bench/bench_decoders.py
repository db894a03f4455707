"""Event decoder speed: own AEDAT 2.0 / AEDAT 3.1 / ATIS .bin decoders, and AEDAT 4.0 readers.

Files are written in each format from the same synthetic events (10 M, 128×128, ~2 M events/s
for ~5 s, so the ATIS file needs no overflow records, like real N-MNIST/N-Caltech101 samples;
AEDAT 3.1 in 8192-event packets). Measured, best of ``repeats`` (the file is in the page cache):

* ``decoder``: the format module's ``read`` (file bytes -> event array, in file order);
* ``read_events``: the public call (adds the stable-sort check and the sensor-range check);
* ``iter_events``: chunked reading, 1 M-event chunks.

Peers in the same run: spikingjelly's ``load_ATIS_bin`` (vectorised numpy) and
``load_aedat_v3`` (a per-event struct loop, timed on a 200 k-event file); for AEDAT 4.0, the
``aedat`` package (what ``read_events`` uses, robust on corrupt files) vs dv-processing's
``MonoCameraRecording`` (faster but hangs/crashes on corrupt files), on one LZ4 file written by
``write_events`` (the streaming writer of neuromoco.formats.writer; bench_io compares it with
faery's and dv-processing's writers).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np

from bench.timing import WALL
from bench.timing import best_cpu as _best
from neuromoco.events import iter_events, make_events, read_events, write_events
from neuromoco.formats import aedat2, aedat3, aedat4, atis_bin


def synthetic_events(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.cumsum(rng.integers(0, 2, n)).astype(np.int64)  # ~2 M events/s
    return make_events(t, rng.integers(0, 128, n), rng.integers(0, 128, n), rng.integers(0, 2, n))


def write_aedat2_dvs128(path: Path, ev: np.ndarray) -> None:
    """jAER DVS128 records for ``ev`` (inverse of the reader's mapping)."""
    rec = np.empty(ev.shape[0], dtype=aedat2.RECORD)
    rec["t"] = ev["t"]
    rec["a"] = (
        ((127 - ev["x"].astype(np.uint32)) << 1)
        | ((127 - ev["y"].astype(np.uint32)) << 8)
        | (1 - ev["p"].astype(np.uint32))
    )
    head = b"#!AER-DAT2.0\r\n# AEChip: ch.unizh.ini.jaer.chip.retina.DVS128\r\n"
    path.write_bytes(head + rec.tobytes())


def _dv_read(path: Path) -> int:
    import dv_processing as dv

    rec = dv.io.MonoCameraRecording(str(path))
    n = 0
    while rec.isRunning():
        b = rec.getNextEventBatch()
        if b is not None:
            n += b.timestamps().shape[0]
    return n


def main(quick: bool = False) -> str:
    n = 1_000_000 if quick else 10_000_000
    n4 = 500_000 if quick else 4_000_000
    repeats = 3 if quick else 5
    ev = synthetic_events(n)
    rows = []
    with tempfile.TemporaryDirectory() as d:
        d = Path(d)
        files = {
            "AEDAT 3.1 (DVS128 Gesture)": (aedat3, d / "a3.aedat"),
            "AEDAT 2.0 (jAER DVS128)": (aedat2, d / "a2.aedat"),
            "ATIS .bin (N-MNIST/N-Caltech101)": (atis_bin, d / "x.bin"),
        }
        write_events(files["AEDAT 3.1 (DVS128 Gesture)"][1], ev, (128, 128), format="aedat3")
        write_aedat2_dvs128(files["AEDAT 2.0 (jAER DVS128)"][1], ev)
        files["ATIS .bin (N-MNIST/N-Caltech101)"][1].write_bytes(atis_bin.encode(ev).tobytes())
        for name, (mod, path) in files.items():
            info = mod.probe(path, sensor_size=(128, 128))
            got = mod.read(path, info)
            assert np.array_equal(got, ev), name
            dec = lambda mod=mod, path=path, info=info: mod.read(path, info)  # noqa: E731
            t_dec = _best(dec, repeats)
            wall_dec = WALL[dec]
            t_read = _best(lambda path=path: read_events(path, sensor_size=(128, 128)), repeats)

            def chunked(path=path):
                for _ in iter_events(path, chunk_events=1_000_000, sensor_size=(128, 128)):
                    pass

            t_iter = _best(chunked, repeats)
            rows.append(
                (name, n / t_dec / 1e6, n / wall_dec / 1e6, n / t_read / 1e6, n / t_iter / 1e6)
            )

        # peers: spikingjelly's decoders
        from tests.peers import spikingjelly_utils

        sj = spikingjelly_utils()
        bin_path = files["ATIS .bin (N-MNIST/N-Caltech101)"][1]
        t_sj_bin = _best(lambda: sj.load_ATIS_bin(str(bin_path)), repeats)
        small = d / "small.aedat"
        n_small = 200_000
        write_events(small, ev[:n_small], (128, 128), format="aedat3")
        t_sj_v3 = _best(lambda: sj.load_aedat_v3(str(small)), 1)
        info_small = aedat3.probe(small)
        t_own_small = _best(lambda: aedat3.read(small, info_small), repeats)

        # AEDAT 4.0: aedat (ours) vs dv-processing, same LZ4 file written by dv-processing
        a4 = d / "x.aedat4"
        t0 = time.process_time()
        write_events(a4, ev[:n4], (128, 128), format="aedat4")
        t_w4 = time.process_time() - t0
        info4 = aedat4.probe(a4)
        assert aedat4.read(a4, info4).shape[0] == n4 == _dv_read(a4)
        t_aedat = _best(lambda: aedat4.read(a4, info4), repeats)
        t_dv = _best(lambda: _dv_read(a4), repeats)

    out = [
        "### Event decoders (issue A): `python -m bench decoders`",
        "",
        f"{n / 1e6:g} M synthetic events, 128×128, page-cached file; best of {repeats}; "
        "M events/s from process CPU time (the machine is shared; one wall-clock column for "
        "reference); higher is better. `read_events` adds the sortedness and sensor-range "
        "checks to the decoder.",
        "",
        "| format | own decoder | own decoder (wall) | `read_events` | `iter_events` (1 M chunks) |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, a, aw, b, c in rows:
        out.append(f"| {name} | {a:.0f} | {aw:.0f} | {b:.0f} | {c:.0f} |")
    out += [
        "",
        "| peer, same run | M events/s | own / peer |",
        "|---|---:|---:|",
        f"| spikingjelly `load_ATIS_bin` (numpy) | {n / t_sj_bin / 1e6:.0f} | "
        f"{t_sj_bin * rows[2][1] / n * 1e6:.1f}× |",
        f"| spikingjelly `load_aedat_v3` (struct loop, {n_small // 1000} k events) | "
        f"{n_small / t_sj_v3 / 1e6:.2f} | {t_sj_v3 / t_own_small:.0f}× |",
        f"| AEDAT 4.0 LZ4, {n4 / 1e6:g} M events: `aedat` (used by `read_events`) | "
        f"{n4 / t_aedat / 1e6:.0f} | — |",
        f"| AEDAT 4.0 LZ4: dv-processing `MonoCameraRecording` (not used: unsafe on corrupt "
        f"files) | {n4 / t_dv / 1e6:.0f} | aedat is {t_dv / t_aedat:.2f}× dv-processing |",
        f"| AEDAT 4.0 writing (`write_events`: the streaming writer, LZ4) | "
        f"{n4 / t_w4 / 1e6:.1f} | — |",
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(main())
