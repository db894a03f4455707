"""glibc malloc tuning, in one place: the thresholds only go up.

Two parts of the project want glibc's allocator to keep memory instead of handing it back:

* the event readers (``neuromoco.formats``): their decoders make a few hundred kB of numpy
  temporaries per block of events; with glibc's default, adaptive thresholds the heap top is
  returned to the kernel after most blocks and faulted in again, zero-filled, for the next —
  about 30 % of an EVT 2.0 read (docs/benchmarks.md, "Event-file I/O vs faery"). They ask for
  :data:`READER_BYTES` (32 MiB, where glibc's own adaptation ends on 64-bit);
* the streaming app's inference loop: per-step tensors are allocated and freed at every bin;
  raising the mmap and trim thresholds to :data:`STREAMING_MMAP_BYTES` / :data:`STREAMING_TRIM_BYTES`
  (the effect of ``MALLOC_MMAP_THRESHOLD_=268435456 MALLOC_TRIM_THRESHOLD_=1073741824``) cut a
  small network's step latency from ~30 to ~18 ms on the project machine (FACTS.md).

There used to be one ``tune_malloc`` for each, with different thresholds, and the last caller
won: a file opened after the app had tuned the allocator lowered its thresholds again. Here a
threshold is only ever raised, so the two requests compose in any order. Linux/glibc only
(elsewhere a no-op); ``NEUROMOCO_MALLOC=default``, or the user's own ``MALLOC_MMAP_THRESHOLD_`` /
``MALLOC_TRIM_THRESHOLD_``, leave the allocator alone.
"""

from __future__ import annotations

import os

READER_BYTES = 32 << 20
STREAMING_MMAP_BYTES = 256 << 20
STREAMING_TRIM_BYTES = 1 << 30

_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # <malloc.h>
_mallopt = None  # resolved once: False when unavailable or declined
_current = {_M_MMAP_THRESHOLD: 0, _M_TRIM_THRESHOLD: 0}


def _resolve():
    global _mallopt
    if _mallopt is None:
        _mallopt = False
        declined = os.environ.get("NEUROMOCO_MALLOC", "") == "default" or any(
            k in os.environ for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_")
        )
        if not declined and os.name == "posix":
            try:
                import ctypes

                fn = ctypes.CDLL(None).mallopt
                fn.argtypes = [ctypes.c_int, ctypes.c_int]
                _mallopt = fn
            except (OSError, AttributeError):  # musl and others have no mallopt
                pass
    return _mallopt


def tune_malloc(mmap_threshold: int = READER_BYTES, trim_threshold: int = READER_BYTES) -> bool:
    """Raise glibc's ``M_MMAP_THRESHOLD`` and ``M_TRIM_THRESHOLD`` to at least these (bytes);
    a threshold already set higher in this process stays. Returns whether both are now at least
    what was asked (False where the allocator is left alone)."""
    fn = _resolve()
    if not fn:
        return False
    ok = True
    for param, value in ((_M_MMAP_THRESHOLD, mmap_threshold), (_M_TRIM_THRESHOLD, trim_threshold)):
        if _current[param] >= int(value):
            continue
        if fn(param, int(value)) == 1:
            _current[param] = int(value)
        else:
            ok = False
    return ok


def tune_malloc_for_streaming() -> bool:
    """:func:`tune_malloc` with the streaming app's thresholds (256 MiB mmap, 1 GiB trim)."""
    return tune_malloc(STREAMING_MMAP_BYTES, STREAMING_TRIM_BYTES)


def thresholds() -> tuple[int, int]:
    """``(mmap, trim)`` thresholds this module has set (0: left at glibc's default)."""
    return _current[_M_MMAP_THRESHOLD], _current[_M_TRIM_THRESHOLD]
