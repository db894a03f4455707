"""Polarity for events whose source has none: the policies a text file without a polarity
column is read with (``read_events(..., polarity=...)``, ``--polarity``), as an event transform.

* ``"hash"`` (default): ``p`` is the top bit of the splitmix64 finaliser of
  ``uint64(t) XOR (x + 65536·y + 1) · 0x9E3779B97F4A7C15`` (t in µs, x and y in pixels,
  arithmetic mod 2^64), see :func:`hash_polarity`. It is deterministic and depends on the event
  alone, so whole reads, chunked reads, the app and evaluation all get the same events; about half
  of the events are ON, with no spatial or temporal pattern, the way ON/OFF are balanced in real
  DVS recordings of moving hands (measured in docs/text_events.md, which also gives the accuracy
  of each policy with a two-channel model trained on real data).
* ``"on"``: every event ON (p = 1); ``"off"``: every event OFF (p = 0).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy is imported where events are worked on: the CLI's --polarity
    import numpy as np  # choices import this module, and `neuromoco --help` stays light

POLARITY_POLICIES: tuple[str, ...] = ("hash", "on", "off")
DEFAULT_POLARITY = "hash"


def hash_polarity(t: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The ``"hash"`` polarity (uint8 0/1) of events (t µs, x, y pixels): a function of each
    event alone (splitmix64 finaliser of ``uint64(t) ^ (x + 65536·y + 1)·0x9E3779B97F4A7C15``,
    top bit), so any chunking of a file gives the same polarities."""
    import numpy as np

    with np.errstate(over="ignore"):
        z = np.asarray(t, dtype=np.int64).view(np.uint64) ^ (
            (
                np.asarray(x, dtype=np.uint64)
                + (np.asarray(y, dtype=np.uint64) << np.uint64(16))
                + np.uint64(1)
            )
            * np.uint64(0x9E3779B97F4A7C15)
        )
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(63)).astype(np.uint8)


def assign_polarity(policy: str, t: np.ndarray, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Polarity (uint8 0/1) for events read from a file without a polarity column."""
    if policy == "hash":
        return hash_polarity(t, x, y)
    if policy in ("on", "off"):
        import numpy as np

        return np.full(np.shape(t), 1 if policy == "on" else 0, dtype=np.uint8)
    raise ValueError(f"unknown polarity policy {policy!r}; known: {', '.join(POLARITY_POLICIES)}")
