"""Every event-file format the project reads or writes: one :class:`Format` record each.

This is the only table of formats. Reading (:mod:`neuromoco.events`), detection
(:mod:`neuromoco.formats.detect`), the writers (:mod:`neuromoco.formats.writer`, ``neuromoco
convert``), the recorder (``neuromoco.streaming.recorder``) and the readers' default sizes and
known cameras all look formats up here. Importing it is light (no numpy work, no reader module):
the reader and writer modules are imported by name, on first use.

A reader module (``neuromoco.formats.<module>``) provides, for the formats it reads:

* ``probe(path, fmt, sensor_size=None, head=None) -> FileInfo``: the header. ``head``
  (:class:`~neuromoco.formats.base.Head`) holds the file's first bytes when already read; a
  format with reading options (``Format.options``) takes them as keyword arguments after these;
* ``iter_chunks(path, info, chunk_events)`` and ``read(path, info)``, optionally
  ``iter_checked`` (see :mod:`neuromoco.formats.base`);
* ``write(path, events, sensor_size)`` for a format that is written whole (npz).

Suffixes are hints: a file's content decides its format (:mod:`neuromoco.formats.detect`). Where
formats share a suffix, the first in :data:`FORMATS` is the guess for a file whose content cannot
say (a zero-byte file): ``.aedat`` → AEDAT 3.1, ``.raw`` → EVT 3.0. Writing to a suffix that
several writable formats share (``.raw``) needs the format named.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from neuromoco.types import EventFormatError, SensorSize

# Prophesee headers name the sensor by its plugin (``plugin_name hal_plugin_gen41``) or, in DAT,
# by the event type; first match wins (gen41 before gen4, gen31 before gen3).
PROPHESEE_CAMERAS: tuple[tuple[str, SensorSize], ...] = (
    ("gen41", (1280, 720)),
    ("gen4", (1280, 720)),
    ("imx636", (1280, 720)),
    ("imx646", (1280, 720)),
    ("gen31", (640, 480)),
    ("gen3", (640, 480)),
    ("imx8", (320, 320)),
    ("genx320", (320, 320)),
    ("gen1", (304, 240)),
    ("atis", (304, 240)),
)


@dataclass(frozen=True)
class Format:
    """What the project knows about one event-file format (every one is readable)."""

    name: str
    """The ``format=`` value (``"aedat4"``)."""
    title: str
    """How messages name it (``"AEDAT 4.0"``)."""
    module: str
    """The reader module, ``neuromoco.formats.<module>``."""
    suffixes: tuple[str, ...]
    """File suffixes (lower case, with the dot), the usual one first."""
    default_sensor: SensorSize
    """(width, height) pixels when the file says nothing (and for a zero-byte file)."""
    cameras: tuple[tuple[str, SensorSize], ...] = ()
    """Known cameras: (lower-case name fragment, (width, height)), first match wins (see
    :func:`neuromoco.formats.sensor_size.camera_size`)."""
    writer: str | None = None
    """``"module:Class"`` of the streaming writer (:class:`~neuromoco.formats.event_writer.
    EventWriter`) in ``neuromoco.formats``; None when the format cannot be streamed."""
    whole_file_writer: bool = False
    """The reader module's ``write(path, events, sensor_size)`` writes it whole (npz: a zip
    member's size precedes its data, so it cannot be streamed)."""
    options: tuple[str, ...] = ()
    """Reading options its ``probe`` accepts as keyword arguments (``read_events(**options)``)."""

    @property
    def stream_writable(self) -> bool:
        """An :func:`~neuromoco.formats.writer.open_writer` (and a recording) can write it."""
        return self.writer is not None

    @property
    def writable(self) -> bool:
        """:func:`~neuromoco.events.write_events` and ``neuromoco convert`` can write it."""
        return self.stream_writable or self.whole_file_writer


FORMATS: tuple[Format, ...] = (
    Format(
        "aedat4", "AEDAT 4.0", "aedat4", (".aedat4",), (128, 128),
        writer="aedat4_writer:Aedat4Writer",
    ),
    Format(
        "aedat3", "AEDAT 3.1", "aedat3", (".aedat", ".aedat3"), (128, 128),
        cameras=(
            ("dvs128", (128, 128)),
            ("davis240", (240, 180)),
            ("davis346", (346, 260)),
            ("davis640", (640, 480)),
            ("dvxplorer", (640, 480)),  # DVXplorer Lite is 320x240: an upper bound
            ("davis128", (128, 128)),
        ),
        writer="aedat3:Aedat3Writer",
    ),
    Format(
        "aedat2", "AEDAT 2.0", "aedat2", (".aedat2", ".aedat"), (128, 128),
        cameras=(  # jAER chip classes (their short name); an unknown DAVIS is 240×180
            ("dvs128", (128, 128)),
            ("tmpdiff128", (128, 128)),
            ("davis240", (240, 180)),
            ("davis346", (346, 260)),
            ("davis640", (640, 480)),
            ("davis128", (128, 128)),
        ),
    ),
    Format("atis_bin", "ATIS .bin", "atis_bin", (".bin",), (240, 180)),
    Format(
        "dat", "Prophesee DAT", "prophesee", (".dat",), (304, 240),
        cameras=PROPHESEE_CAMERAS, writer="prophesee:DatWriter",
    ),
    Format(
        "evt3", "EVT 3.0", "prophesee", (".raw",), (1280, 720),
        cameras=PROPHESEE_CAMERAS, writer="evt3:Evt3Writer",
    ),
    Format(
        "evt2", "EVT 2.0", "prophesee", (".raw",), (640, 480),
        cameras=PROPHESEE_CAMERAS, writer="prophesee:Evt2Writer",
    ),
    Format("npz", "npz", "npz", (".npz",), (128, 128), whole_file_writer=True),
    Format(
        "text", "CSV/TXT text", "text", (".csv", ".txt"), (128, 128),
        options=("columns", "time_unit", "delimiter", "polarity"),
    ),
)  # fmt: skip

BY_NAME: dict[str, Format] = {f.name: f for f in FORMATS}
NAMES: tuple[str, ...] = tuple(BY_NAME)
"""Every format name (``format=`` values), in :data:`FORMATS` order."""
WRITABLE: tuple[str, ...] = tuple(f.name for f in FORMATS if f.writable)
STREAM_WRITABLE: tuple[str, ...] = tuple(f.name for f in FORMATS if f.stream_writable)


def suffixes_of(names) -> list[str]:
    """The file suffixes of the formats ``names``, sorted (e.g. of :data:`STREAM_WRITABLE`)."""
    return sorted({s for n in names for s in BY_NAME[n].suffixes})


def get(name: str, path=None) -> Format:
    """The record of format ``name``; :class:`EventFormatError` (naming ``path``) if unknown."""
    try:
        return BY_NAME[name]
    except (KeyError, TypeError):
        raise EventFormatError(
            path, f"unknown event format {name!r}; known: {', '.join(NAMES)}"
        ) from None


def suffix_formats(suffix: str) -> tuple[Format, ...]:
    """The formats that use ``suffix`` (any case, with the dot), in :data:`FORMATS` order."""
    s = suffix.lower()
    return tuple(f for f in FORMATS if s in f.suffixes)


def suffix_hint(suffix: str) -> str | None:
    """The format a file of ``suffix`` most likely is when its content cannot tell (a zero-byte
    file, a headerless format): the first one using that suffix, or None."""
    return _HINTS.get(suffix.lower())


_HINTS: dict[str, str] = {}  # suffix -> first format using it (detection asks once per file)
for _f in FORMATS:
    for _s in _f.suffixes:
        _HINTS.setdefault(_s, _f.name)
del _f, _s

_LOADED: dict[str, ModuleType] = {}


def reader_module(name: str, path=None) -> ModuleType:
    """The reader module of format ``name`` (imported on first use)."""
    mod = _LOADED.get(name)
    if mod is None:
        mod = _LOADED[name] = importlib.import_module(f"neuromoco.formats.{get(name, path).module}")
    return mod


def writer_class(name: str) -> type:
    """The streaming writer class of format ``name`` (which must be stream-writable)."""
    module, _, cls = BY_NAME[name].writer.partition(":")
    return getattr(importlib.import_module(f"neuromoco.formats.{module}"), cls)


def output_format(
    path: str | Path,
    format: str | None = None,
    *,
    stream: bool = False,
    action: str = "write",
    option: str = "format=",
    match_suffix: bool = False,
) -> str:
    """The format a file written to ``path`` gets, or ``ValueError`` naming the path and why.

    The one rule for every writer (``write_events``, ``open_writer``, ``neuromoco convert``, the
    recorder): ``format`` when given (it must be writable, and stream-writable when ``stream``);
    else the writable format of ``path``'s suffix (``.aedat4``, ``.aedat``/``.aedat3`` → aedat3,
    ``.dat``, ``.npz``); ``.raw`` needs the format named (EVT 2.0 or 3.0), and a suffix no
    writable format uses is refused (no silent default: the file would be misnamed).

    ``action`` (``"write"``, ``"stream"``, ``"record"``) and ``option`` (how the caller's user
    passes the format: ``format=``, ``--format``, ``--record-format``) only word the errors.
    ``match_suffix``: a given ``format`` must also use ``path``'s suffix (a recording keeps its
    final name; whole-file writers write a temporary name and may name any format).
    """
    p = Path(path)
    suffix = p.suffix.lower()
    allowed = STREAM_WRITABLE if stream else WRITABLE
    if format is not None:
        fmt = str(format).lower()
        if fmt not in WRITABLE:  # (a writable, unstreamable one is refused below)
            kind = "streaming formats" if stream else "writable"
            raise ValueError(
                f"{p}: cannot {action} format {format!r}; {kind}: {', '.join(allowed)}"
            )
        if match_suffix and suffix not in BY_NAME[fmt].suffixes:
            raise ValueError(
                f"{p}: a {fmt} file needs the suffix {' or '.join(BY_NAME[fmt].suffixes)}"
            )
    else:
        found = [f for f in suffix_formats(suffix) if f.writable]
        if not found:
            suffixes = suffixes_of(allowed)
            raise ValueError(
                f"{p}: cannot {action} to {p.suffix or 'a file without suffix'!r}: cannot tell "
                f"the format from that suffix; use {', '.join(suffixes)}, or pass {option}"
            )
        if len(found) > 1:
            titles = " or ".join(sorted(f.title for f in found))
            names = "|".join(sorted(f.name for f in found))
            sep = "" if option.endswith("=") else " "
            raise ValueError(f"{p}: a {suffix} recording is {titles}: pass {option}{sep}{names}")
        fmt = found[0].name
    if stream and not BY_NAME[fmt].stream_writable:
        raise ValueError(
            f"{p}: {fmt} cannot be written as a stream (a zip member's size precedes its data); "
            f"use write_events() for {fmt}, or a streaming format: {', '.join(STREAM_WRITABLE)}"
        )
    return fmt
