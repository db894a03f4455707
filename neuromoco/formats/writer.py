"""Streaming event writers: append sorted chunks to a file with bounded memory.

::

    from neuromoco.formats.writer import open_writer

    with open_writer("rec.aedat4", sensor_size=(128, 128)) as w:
        for chunk in source:  # EVENT_DTYPE arrays, sorted by t (µs), in time order
            w.write(chunk)
            w.flush()  # optional: everything so far is on disk and readable, even after a crash
    print(w.events_written)

* ``write(events)`` appends a chunk (``EVENT_DTYPE``, or any structured array with fields t, x, y,
  p; sorted by ``t``, the first ``t`` not older than the previous chunk's last one; coordinates
  inside ``sensor_size``). Memory stays bounded (one packet of events buffered, see
  ``packet_events``) whatever the total length.
* ``flush()``: when it returns, every event written so far is in the file, fsynced, and the file
  is readable up to there by ``neuromoco info`` and the format's other readers (AEDAT 4.0:
  dv-processing and the ``aedat`` package) even if the process is then killed.
* ``close()`` finalises the file (AEDAT 4.0: writes the packet index and points the header at
  it); the context manager closes on exit, also when the block raised (the events written up to
  then form a valid file). ``events_written`` counts the events accepted so far.

Formats (``registry.STREAM_WRITABLE``): ``aedat4`` (LZ4-compressed packets), ``aedat3``,
``evt2``, ``evt3``, ``dat``, from the suffix unless ``format`` names one. ``npz`` cannot be
streamed (a zip member's size is written before its data): :func:`open_writer` refuses it. The file is written in place (a recorder wants the data at
``path`` after every flush); whole-file writers (:func:`neuromoco.events.write_events`,
``neuromoco convert``) write to a temporary file and rename it when complete.
"""

from __future__ import annotations

from pathlib import Path

from neuromoco.formats import registry
from neuromoco.formats.event_writer import EventWriter
from neuromoco.types import SensorSize

__all__ = ["EventWriter", "open_writer"]


def open_writer(
    path: str | Path,
    sensor_size: SensorSize,
    format: str | None = None,
    overwrite: bool = False,
    **options,
) -> EventWriter:
    """Open a streaming writer for ``path`` (see the module docstring).

    ``sensor_size``: (width, height) pixels. ``format``: one of
    :data:`neuromoco.formats.registry.STREAM_WRITABLE`, or ``None`` for the suffix's
    (:func:`neuromoco.formats.registry.output_format`: ``.aedat4``, ``.aedat``/``.aedat3``,
    ``.dat``; ``.raw`` needs ``format="evt2"``/``"evt3"``). ``overwrite``: replace an existing
    file (else ``FileExistsError``). ``options`` go to the format's writer (AEDAT 4.0:
    ``compression="lz4"|"none"``, ``packet_events``, ``camera``; AEDAT 3.1: ``camera``).
    """
    cls = registry.writer_class(registry.output_format(path, format, stream=True, action="stream"))
    if Path(path).exists() and not overwrite:
        raise FileExistsError(f"{path}: exists (pass overwrite=True to replace it)")
    return cls(path, sensor_size, overwrite=overwrite, **options)
