"""neuromoco.synth in layers (params, kinematics, render, gesture, stream): the split changed no
sample, the package import stays light, and generating gestures loads no dataset code.

The hashes were computed from the single-file neuromoco/synth.py (generator v3) just before the
split. They pin bit-identical events, so they depend on numpy's float32 maths too: a numpy whose
SIMD sin/exp round differently may need new pins (a generator change bumps GENERATOR_VERSION).
"""

from __future__ import annotations

import hashlib
import subprocess
import sys

from neuromoco.data.procedural import ProceduralGestures
from neuromoco.synth import GENERATOR_VERSION, GestureStream, generate_gesture


def _sha(*arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(a.tobytes())
    return h.hexdigest()


def test_known_samples_are_bit_identical():
    assert GENERATOR_VERSION == 3
    every_class = [generate_gesture(label, 3, 200_000) for label in range(11)]
    assert [e.size for e in every_class] == [
        3367, 2482, 2592, 16094, 5098, 9016, 9455, 2813, 3237, 4538, 7946,
    ]  # fmt: skip
    assert _sha(*every_class) == "f4ea3932b9f2cac8083259caa87a9cb96b40c3a3b96c2a64fbd745dcf84275c8"
    full = generate_gesture(4, 1)  # a whole 1.5 s arm circle
    assert full.size == 71781
    assert _sha(full) == "83481e10c50798f004a0e46ef4f2258b0df468c835cf9e68fb558e387051b105"


def test_known_stream_is_bit_identical():
    it = iter(GestureStream(5, duration_us=100_000, gap_us=30_000))
    segs = [next(it) for _ in range(3)]
    assert [s.label for s in segs] == [4, 1, 10]
    assert _sha(*(s.events for s in segs)) == (
        "18971597acc66d3e6560ab1f20f26d96561ee7612d46e38e773bedb442dab3d9"
    )


def test_bundled_and_recipe_sets_are_unchanged():
    """The in-memory sets the bundled demo (per_class 30) and the CPU recipes (18) train on: same
    samples (per-sample seeds) in the same split as before the dataset writer joined the scheme."""
    pins = {
        ("train", 30): (264, "81c23db1c560e62642589338347b2c55e05b5879c0b610c9c17c5a5df3a88afc"),
        ("test", 30): (66, "769dfa450eb765452c5c5f86314f79cd4e7bf8fc1769618e8d710b8b72472903"),
        ("train", 18): (165, "7a76c1bfbce8bf392b6c4a1a94f8c63a27021c69233f018505571d26f564bfcc"),
    }
    for (split, per_class), (n, sha) in pins.items():
        src = ProceduralGestures(split, per_class=per_class, seed=0, test_fraction=0.2)
        sources = "\n".join(s.source for s in src.samples).encode()
        assert (len(src.samples), hashlib.sha256(sources).hexdigest()) == (n, sha)


def _fresh(code: str) -> str:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_package_import_is_light():
    # the names are imported from their layer on first use
    loaded = _fresh(
        "import sys, neuromoco.synth\n"
        "print(sorted(m for m in sys.modules if m.startswith('neuromoco') or m == 'numpy'))"
    )
    assert loaded == "['neuromoco', 'neuromoco.lazy', 'neuromoco.synth']"


def test_generating_loads_no_dataset_code():
    loaded = _fresh(
        "import sys\n"
        "from neuromoco.synth import GestureStream\n"
        "next(iter(GestureStream(0, duration_us=20_000, gap_us=5_000)))\n"
        "print(sorted(m for m in sys.modules if m.startswith('neuromoco.')))"
    )
    assert "neuromoco.synth.stream" in loaded and "neuromoco.data" not in loaded, loaded
