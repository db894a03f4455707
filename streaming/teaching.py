"""Teaching from examples recorded off a stream (the app's Teach panel): the examples are written
as AEDAT 4.0 files with a CSV into the user's models folder, and ``neuromoco.train.teach`` makes
the model there (``NAME.onnx``, ``.pt``, ``.json``), which ``--model NAME`` then finds."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# the app checks a model name before it records (it talks to streaming only): the same function
from neuromoco.models.user_models import check_name


def teach_examples(
    examples: list[tuple[str, np.ndarray, tuple[int, int]]],
    name: str,
    base: str = "gesture-demo",
    on_progress=None,
) -> tuple[dict, Path]:
    """Teach ``base`` the ``(label, events, sensor_size)`` examples; returns ``(card, path)`` of
    user model ``name`` (replaced if it exists: the panel's Train means "this model, now")."""
    from neuromoco.events import write_events
    from neuromoco.models.user_models import user_model_path, user_models_dir
    from neuromoco.train.teach import teach

    check_name(name)  # before any example file is written
    if not examples:
        raise ValueError("no examples to teach from")
    folder = user_models_dir() / f"{name}.examples"
    folder.mkdir(parents=True, exist_ok=True)
    rows = ["path,label"]
    for i, (label, ev, size) in enumerate(examples):
        f = folder / f"{i:03d}.aedat4"
        write_events(f, ev, size)
        rows.append(f"{f.name},{label}")
    csv = folder / "examples.csv"
    csv.write_text("\n".join(rows) + "\n")
    out = user_model_path(name)
    card = teach(csv, out, base=base, force=True, progress=False, on_progress=on_progress)
    return card, out
