"""Recognise an event file's format from its content; the suffix is only a hint.

* ``#!AER-DAT4.0`` → aedat4, ``#!AER-DAT3.1`` → aedat3, ``#!AER-DAT2.0`` → aedat2;
* a zip (``PK\\x03\\x04`` / ``PK\\x05\\x06``) → npz;
* ``%`` header lines (Prophesee): ``% evt 2.0`` / ``% evt 3.0`` / ``% format EVT2|EVT3`` → evt2 /
  evt3; ``% Data file containing ...`` or ``% Version`` without an evt line → dat;
* no magic at all: ATIS ``.bin`` (5-byte records, no header) is recognised only by its ``.bin``
  suffix (the format has no magic bytes);
* printable text whose first line is a header or 3..8 numbers → text (CSV / TXT events,
  ``neuromoco.formats.text_layout.looks_like_text``).

A zero-byte file takes its format from the suffix (and reads as zero events): the guess of
:func:`neuromoco.formats.registry.suffix_hint`.
"""

from __future__ import annotations

from pathlib import Path

from neuromoco.formats.base import HEAD_BYTES
from neuromoco.formats.registry import suffix_hint
from neuromoco.types import EventFormatError


def _prophesee(path: Path, head: bytes) -> str:
    lines = []
    pos = 0
    # line by line while they start with '%' (splitting all of ``head`` would also cut the
    # binary data after the header into thousands of pieces)
    while head.startswith(b"%", pos):
        end = head.find(b"\n", pos)
        end = len(head) if end < 0 else end
        lines.append(head[pos + 1 : end].strip().decode("latin-1").lower())
        pos = end + 1
    for line in lines:
        if line.startswith("evt "):
            v = line[4:].strip()
            if v.startswith("2"):
                return "evt2"
            if v.startswith("3"):
                return "evt3"
            raise EventFormatError(path, f"Prophesee RAW with unsupported encoding 'evt {v}'")
        if line.startswith("format "):
            v = line[7:].split(";")[0].strip()
            if v in ("evt2", "evt2.0"):
                return "evt2"
            if v in ("evt3", "evt3.0"):
                return "evt3"
            raise EventFormatError(path, f"Prophesee RAW with unsupported format '{v}'")
    if any(line.startswith(("data file containing", "version")) for line in lines):
        return "dat"
    if suffix_hint(path.suffix) == "dat":
        return "dat"
    raise EventFormatError(
        path, "'%' header without an 'evt' or 'format' line: cannot tell EVT2 from EVT3"
    )


def detect(path: Path, head: bytes | None = None) -> str:
    """The format of ``path``; ``head``: its first 64 KiB (or all of it), when already read."""
    path = path if isinstance(path, Path) else Path(path)
    if head is None:
        with open(path, "rb") as f:
            head = f.read(HEAD_BYTES)
    hint = suffix_hint(path.suffix)  # the registry's guess from the suffix
    if not head:
        if hint is not None:
            return hint
        raise EventFormatError(path, "empty file with an unknown suffix: format unknown")
    if head.startswith(b"#!AER-DAT"):
        version = head[9:12]
        fmt = {b"4.0": "aedat4", b"3.1": "aedat3", b"2.0": "aedat2"}.get(version)
        if fmt is None:
            raise EventFormatError(
                path, f"AEDAT version {version.decode('latin-1')!r} is not supported (2.0/3.1/4.0)"
            )
        return fmt
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "npz"
    if head.startswith(b"%"):
        return _prophesee(path, head)
    if hint == "atis_bin":
        return "atis_bin"
    from neuromoco.formats.text_layout import looks_like_text

    if looks_like_text(head, text_suffix=hint == "text"):
        return "text"
    raise EventFormatError(
        path,
        f"unknown event file format (starts with {head[:16]!r}); readable: AEDAT 2.0/3.1/4.0, "
        "ATIS .bin, Prophesee DAT/EVT2/EVT3, .npz, CSV/TXT text",
    )
