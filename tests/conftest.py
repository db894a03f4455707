"""Shared test fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

REPO = Path(__file__).resolve().parents[1]
SHARED_TESTDATA = REPO.parent / "shared" / "testdata"


def shared_file(rel: str) -> Path:
    """Path of a real recording under ../shared/testdata, or skip the test with the reason."""
    p = SHARED_TESTDATA / rel
    if not p.exists():
        pytest.skip(f"real recording {p} not available (../shared/testdata is absent)")
    return p


@pytest.fixture
def testdata() -> Path:
    """The ../shared/testdata folder of real recordings (skips when absent)."""
    if not SHARED_TESTDATA.is_dir():
        pytest.skip(
            f"{SHARED_TESTDATA} is absent: real-recording tests need ../shared beside the repo"
        )
    return SHARED_TESTDATA


def qt_wait(qapp, cond, timeout: float = 15.0) -> bool:
    """Process Qt events until ``cond()`` holds or ``timeout`` seconds pass; returns ``cond()``."""
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        qapp.processEvents()
        if cond():
            return True
        time.sleep(0.01)
    return cond()


def fresh_modules(code: str, prefix: str = "neuromoco.") -> list[str]:
    """The modules whose names start with ``prefix`` that a fresh interpreter has loaded after
    running ``code`` (the import-cost and layering tests: what one import pulls in)."""
    import subprocess
    import sys

    script = f"{code}\nimport sys\nprint(repr(sorted(m for m in sys.modules if m.startswith({prefix!r}))))"
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    return eval(out.stdout.strip().splitlines()[-1])  # a list of str literals we printed
