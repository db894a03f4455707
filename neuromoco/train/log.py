"""Run logs: ``<phase>.csv`` per phase (``train.csv``, ``val.csv``) and TensorBoard event files
under ``tb/`` when tensorboard is installed.

Only the main process writes. Each CSV starts with ``step, epoch`` and then the metric names of the
first row of that phase (every later row of a phase carries the same metrics). Rows are appended;
a resumed run first drops rows logged after the resume step (they are re-done), so the logs of an
interrupted and resumed run equal those of an uninterrupted one.
"""

from __future__ import annotations

import csv
from pathlib import Path

from neuromoco.atomic import atomic_path


class RunLogger:
    """Append metrics to ``out_dir/<phase>.csv`` and to TensorBoard under ``out_dir/tb``."""

    def __init__(self, out_dir: str | Path, enabled: bool = True, tensorboard: bool = True):
        self.dir = Path(out_dir)
        self.enabled = enabled
        self.tb = None
        if enabled and tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tb = SummaryWriter(str(self.dir / "tb"))
            except Exception:  # tensorboard not installed: CSV only
                self.tb = None

    def truncate_after(self, step: int) -> None:
        """Drop rows with ``step`` greater than ``step`` in every phase file (used on resume)."""
        if not self.enabled:
            return
        for path in self.dir.glob("*.csv"):
            with open(path, newline="") as f:
                reader = csv.DictReader(f)
                cols = reader.fieldnames or []
                rows = [r for r in reader if int(float(r["step"])) <= step]
            with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=cols)
                w.writeheader()
                w.writerows(rows)

    def log(self, step: int, epoch: int, phase: str, **metrics: float) -> None:
        if not self.enabled:
            return
        path = self.dir / f"{phase}.csv"
        row = {"step": step, "epoch": epoch, **{k: f"{float(v):.6g}" for k, v in metrics.items()}}
        new = not path.exists()
        if not new:
            with open(path, newline="") as f:
                cols = next(csv.reader(f), None) or list(row)
        else:
            cols = list(row)
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(path, "a", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            if new:
                w.writeheader()
            w.writerow(row)
        if self.tb is not None:
            for k, v in metrics.items():
                self.tb.add_scalar(f"{phase}/{k}", float(v), step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
