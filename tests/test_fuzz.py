"""Fuzz the readers: random truncations and byte flips of every real recording in testdata.

Every read runs in-process: the readers used here (this project's AEDAT 4.0 packet reader, with
`lz4` and, for Zstandard files, `aedat`; the `evt3` package for EVT 3.0; this project's numpy
decoders for the rest) neither hang nor crash on corrupt input (``python -m bench fuzz`` runs
10,000 such inputs in worker processes); dv-processing is never used to read. A mutated
file must either read as a valid recording (sorted, in range) or raise EventFormatError: any
other exception fails the test. Seeded; a few seconds in total.
"""

from __future__ import annotations

import numpy as np
import pytest

from neuromoco.events import EventFormatError, iter_events, read_recording

FILES = [
    "aedat4/dvSave-2024_06_13_16_16_25.aedat4",
    "aedat4/dvSave-2024_06_20_16_13_00.aedat4",
    "aedat4/dvxplorer_sample.aedat4",
    "aedat4/davis346_sample.aedat4",
    "aedat2/alex_walking_again.aedat",
    "aedat2/IMU_translBoxes.aedat",
    "aedat2/sample_aedat_header.aedat",
    "prophesee/evt2_sample.raw",
    "prophesee/evt3_sample.raw",
    "prophesee/NCARS_obj_004397_td.dat",
    "atis_bin/sample_nmnist.bin",
    "atis_bin/faces_easy_0001.bin",
]
N_MUTANTS = 40


def _mutants(data: bytes, rng: np.random.Generator):
    n = len(data)
    for i in range(N_MUTANTS):
        kind = i % 4
        if kind == 0:  # truncation anywhere
            yield "truncate", data[: int(rng.integers(0, n))]
        elif kind == 1:  # truncation inside the first 2 KiB (headers)
            yield "truncate-head", data[: int(rng.integers(0, min(n, 2048)))]
        elif kind == 2:  # byte flips anywhere
            b = bytearray(data)
            for pos in rng.integers(0, n, size=int(rng.integers(1, 16))):
                b[pos] ^= int(rng.integers(1, 256))
            yield "flip", bytes(b)
        else:  # garbage in the header region
            b = bytearray(data)
            k = min(n, 512)
            for pos in rng.integers(0, k, size=8):
                b[pos] = int(rng.integers(0, 256))
            yield "garble-head", bytes(b)


def _check_valid(rec) -> None:
    ev = rec.events
    w, h = rec.sensor_size
    assert w > 0 and h > 0
    if ev.size:
        assert np.all(np.diff(ev["t"]) >= 0)
        assert int(ev["x"].max()) < w and int(ev["y"].max()) < h
        assert int(ev["p"].max()) <= 1


def _read_mutant(path, what: str, outcomes: dict):
    """``read_recording`` of a mutant: a valid recording, or None after an ``EventFormatError``
    that names the file (counted in ``outcomes``)."""
    try:
        rec = read_recording(path)
    except EventFormatError as e:
        assert str(path) in str(e), f"{what}: error does not name the file: {e}"
        outcomes["error"] += 1
        return None
    _check_valid(rec)
    outcomes["ok"] += 1
    return rec


@pytest.mark.parametrize("rel", FILES)
def test_fuzz_reader(rel, testdata, tmp_path):
    src = testdata / rel
    data = src.read_bytes()
    rng = np.random.default_rng(1000 + FILES.index(rel))
    outcomes = {"ok": 0, "error": 0}
    for i, (kind, blob) in enumerate(_mutants(data, rng)):
        path = tmp_path / f"m{i}{src.suffix}"
        path.write_bytes(blob)
        _read_mutant(path, kind, outcomes)
        # the chunked path must be just as safe
        try:
            with iter_events(path, chunk_events=50_000) as chunks:
                for ev in chunks:
                    assert ev.size <= 50_000
        except EventFormatError:
            pass
    assert sum(outcomes.values()) == N_MUTANTS


def _text_sources(testdata) -> dict[str, bytes]:
    """Two text event files: the head of a shared DVS128 Gesture CSV (header, µs, no polarity)
    and an Event Camera Dataset style events.txt (t in s with 9 decimals, x y p)."""
    csv_lines = (testdata / "dvsgesture_csv/class3_user02_led.csv").read_bytes().split(b"\n")
    rng = np.random.default_rng(7)
    t = np.cumsum(rng.integers(0, 500, 3000))
    txt = "".join(
        f"{a // 10**6}.{a % 10**6:06d}{b % 1000:03d} {b % 240} {c % 180} {b & 1}\n"
        for a, b, c in zip(
            t.tolist(), rng.integers(0, 10**6, 3000).tolist(), t.tolist(), strict=True
        )
    )
    return {"csv": b"\n".join(csv_lines[:3000]) + b"\n", "txt": txt.encode()}


def _text_mutants(data: bytes, rng: np.random.Generator):
    """Edits a text file meets in the wild: a letter in a number, a lost or doubled delimiter,
    a minus sign, a blank or comment line, a joined line, a huge number, a stray quote."""
    edits = [
        lambda s, i: s[:i] + b"x" + s[i + 1 :],
        lambda s, i: s[:i] + s[i + 1 :],
        lambda s, i: s[:i] + s[i : i + 1] * 2 + s[i + 1 :],
        lambda s, i: s[:i] + b"-" + s[i:],
        lambda s, i: s[:i] + b"\n\n# note\n" + s[i:],
        lambda s, i: s[:i] + s[i:].replace(b"\n", b",", 1),
        lambda s, i: s[:i] + b"99999999999999999999" + s[i:],
        lambda s, i: s[:i] + b'"' + s[i:],
    ]
    for _ in range(N_MUTANTS):
        b = data
        for _k in range(int(rng.integers(1, 4))):
            b = edits[int(rng.integers(0, len(edits)))](b, int(rng.integers(0, len(b))))
        yield "text-edit", b
    yield from _mutants(data, rng)


@pytest.mark.parametrize("kind", ["csv", "txt"])
def test_fuzz_text_reader(kind, testdata, tmp_path):
    data = _text_sources(testdata)[kind]
    rng = np.random.default_rng(2000 + len(kind))
    outcomes = {"ok": 0, "error": 0}
    for i, (what, blob) in enumerate(_text_mutants(data, rng)):
        path = tmp_path / f"m{i}.{kind}"
        path.write_bytes(blob)
        rec = _read_mutant(path, what, outcomes)
        if rec is None:
            continue
        # a readable mutant reads the same in chunks (the file's events happen to be in order
        # or not: compare as multisets of events)
        with iter_events(path, chunk_events=997) as chunks:
            parts = [ev for ev in chunks]
        got = np.concatenate(parts) if parts else rec.events[:0]
        assert np.array_equal(np.sort(got), np.sort(rec.events)), what
    assert sum(outcomes.values()) == 2 * N_MUTANTS
    assert outcomes["ok"] and outcomes["error"]  # the mutations reach both outcomes
