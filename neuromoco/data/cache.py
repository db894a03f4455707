"""On-disk cache of per-sample frames (or cut events), safe to interrupt and never stale.

Layout::

    <cache_dir>/<dataset name>/frames-<spec hash>/<sample hash>.npy    [T, 2, H, W] counts
    <cache_dir>/<dataset name>/events/<sample hash>.npy                 the sample's events

* ``spec hash``: SHA-256 of the framing fields that change the counts (``T``, ``split_by``,
  ``size``, ``denoise_us`` when set) and :data:`CACHE_VERSION`. ``normalize`` is applied when loading, and window fields
  do not affect whole-clip frames, so changing them reuses the cache.
* ``sample hash``: SHA-256 of the source's identity — for files ``(absolute path, size, mtime in
  ns)``, for generated samples the generator version and arguments — plus the sample's
  ``[t_start, t_end)`` cut and the sensor size. Rewriting or touching a source file changes its
  hash, so a stale file is never read (it stays on disk, unused; delete the folder to reclaim it).
* Frames are stored as event counts in the smallest exact dtype (uint8, uint16, else float32).
* Every file is written with :func:`neuromoco.atomic.atomic_path` (a temporary file beside its
  final name holding the writer's pid, fsynced and renamed with ``os.replace``): an interrupted
  build leaves only complete files (plus temporary files that the next build removes with
  :func:`neuromoco.atomic.remove_stale_temps`) and resumes where it stopped. A file that fails to
  load is rebuilt.
* :meth:`SampleCache.build` fills the missing files with a tqdm progress bar, in worker processes
  (``spawn``; default ``min(2, os.cpu_count())``); samples of one source file (a DVS128 Gesture
  recording holds ~11) are built by one task so each recording is decoded once.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
from collections import defaultdict
from pathlib import Path

import numpy as np

from neuromoco.atomic import atomic_path, remove_stale_temps
from neuromoco.data.samples import SampleSource, cut_events
from neuromoco.events import EVENT_DTYPE
from neuromoco.framing import FramingSpec, apply_normalize, to_frames

CACHE_VERSION = 1
SMALL_BUILD = 32
"""Fewer missing samples than this are built in-process even when ``workers`` is given."""
KINDS = ("frames", "events")


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def spec_key(spec: FramingSpec) -> dict:
    """The framing fields whole-clip frames depend on."""
    key = {"T": spec.T, "split_by": spec.split_by, "size": list(spec.size), "v": CACHE_VERSION}
    if spec.denoise_us is not None:  # only when set: caches made before the field stay valid
        key["denoise_us"] = int(spec.denoise_us)
    return key


def spec_hash(spec: FramingSpec) -> str:
    return _sha(spec_key(spec))[:16]


def sample_hash(source: SampleSource, index: int) -> str:
    """Hash of what sample ``index``'s events depend on (source identity + cut + sensor size)."""
    ref = source.samples[index]
    ident = source.source_identity(ref.source)
    return _sha([list(ident), ref.t_start, ref.t_end, list(source.sensor_size), CACHE_VERSION])[:24]


def clip_frames(
    events: np.ndarray, spec: FramingSpec, sensor_size, t_start=None, t_end=None
) -> np.ndarray:
    """Whole-clip counts ``[T, 2, H, W]`` float32 (no normalisation) of one sample's events.

    ``split_by="time"`` bins span the sample's ``[t_start, t_end)`` (µs) when the dataset gives it
    (DVS128 Gesture csv bounds), else first event … last event + 1.
    """
    if spec.split_by == "time" and events.size == 0 and (t_start is None or t_end is None):
        w, h = spec.size
        return np.zeros((spec.T, 2, h, w), dtype=np.float32)
    return to_frames(
        events,
        spec.T,
        sensor_size,
        split_by=spec.split_by,
        size=spec.size,
        t_start=t_start if spec.split_by == "time" else None,
        t_end=t_end if spec.split_by == "time" else None,
        denoise_us=spec.denoise_us,
    )


def compact(frames: np.ndarray) -> np.ndarray:
    """Counts in the smallest dtype that holds them exactly (uint8 / uint16 / float32)."""
    m = float(frames.max()) if frames.size else 0.0
    if m <= np.iinfo(np.uint8).max:
        return frames.astype(np.uint8)
    if m <= np.iinfo(np.uint16).max:
        return frames.astype(np.uint16)
    return frames.astype(np.float32)


def atomic_save(path: Path, arr: np.ndarray) -> None:
    """Write ``arr`` as ``.npy`` to ``path`` atomically (see :mod:`neuromoco.atomic`)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.save(f, arr, allow_pickle=False)


class SampleCache:
    """Per-sample cache of one :class:`SampleSource` (see the module docstring).

    Args:
        root: cache directory (created on demand).
        source: the samples.
        spec: framing spec (``kind="frames"``); ignored for ``kind="events"``.
        kind: ``"frames"`` (whole-clip counts) or ``"events"`` (the cut events, for sub-windows).
    """

    def __init__(self, root, source: SampleSource, spec: FramingSpec | None, kind: str = "frames"):
        if kind not in KINDS:
            raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
        if kind == "frames" and spec is None:
            raise ValueError("a frames cache needs a FramingSpec")
        self.root = Path(root).expanduser()
        self.source = source
        self.spec = spec
        self.kind = kind
        sub = f"frames-{spec_hash(spec)}" if kind == "frames" else "events"
        self.dir = self.root / source.name / sub

    def path(self, index: int) -> Path:
        return self.dir / f"{sample_hash(self.source, index)}.npy"

    def _expected_shape(self):
        w, h = self.spec.size
        return (self.spec.T, 2, h, w)

    def load(self, index: int) -> np.ndarray | None:
        """The cached array of sample ``index``, or None if absent (or unreadable: then removed)."""
        p = self.path(index)
        try:
            arr = np.load(p, allow_pickle=False)
        except FileNotFoundError:
            return None
        except (OSError, ValueError, EOFError):
            p.unlink(missing_ok=True)  # never happens with atomic writes, but never trust it
            return None
        ok = (
            arr.shape == self._expected_shape()
            if self.kind == "frames"
            else arr.dtype == EVENT_DTYPE
        )
        if not ok:
            p.unlink(missing_ok=True)
            return None
        return arr

    def compute(self, index: int, events: np.ndarray | None = None) -> np.ndarray:
        """Compute (without storing) the array of sample ``index`` (frames: compact counts)."""
        ref = self.source.samples[index]
        if events is None:
            events = self.source.events(index)
        if self.kind == "events":
            return np.ascontiguousarray(events)
        fr = clip_frames(events, self.spec, self.source.sensor_size, ref.t_start, ref.t_end)
        return compact(fr)

    def get(self, index: int) -> np.ndarray:
        """Load sample ``index`` from the cache, computing and storing it first if needed."""
        arr = self.load(index)
        if arr is None:
            arr = self.compute(index)
            self.dir.mkdir(parents=True, exist_ok=True)
            atomic_save(self.path(index), arr)
        return arr

    def frames(self, index: int) -> np.ndarray:
        """Float32 ``[T, 2, H, W]`` frames of sample ``index`` with the spec's normalisation."""
        arr = self.get(index).astype(np.float32)
        return apply_normalize(arr, self.spec.normalize)

    def missing(self) -> list[int]:
        """Indices whose cache file does not exist (existence only; loads verify contents)."""
        have = {p.name for p in self.dir.glob("*.npy")} if self.dir.is_dir() else set()
        return [i for i in range(len(self.source)) if self.path(i).name not in have]

    def build(self, workers: int | None = None, progress: bool = True) -> int:
        """Create every missing file; returns how many samples were processed.

        ``workers``: processes (default ``min(2, os.cpu_count())``; 0 or 1 = this process; fewer
        than :data:`SMALL_BUILD` missing samples are always built in this process).
        Safe to interrupt (Ctrl-C, kill): rerunning resumes with the files still missing.
        """
        from tqdm.auto import tqdm

        self.dir.mkdir(parents=True, exist_ok=True)
        remove_stale_temps(self.dir)
        todo = self.missing()
        if not todo:
            return 0
        if workers is None:
            workers = min(2, os.cpu_count() or 1)
        if len(todo) < SMALL_BUILD:
            workers = 0  # starting spawn workers (~0.5 s each) costs more than a few samples
        groups: dict[str, list[tuple[int, str]]] = defaultdict(list)
        for i in todo:
            groups[self.source.samples[i].source].append((i, str(self.path(i))))
        tasks = list(groups.items())
        desc = f"caching {self.source.name} {self.source.split} {self.kind}"
        bar = tqdm(total=len(todo), desc=desc, unit="sample", disable=not progress)
        done = 0
        try:
            pending = tasks
            if workers > 1 and len(tasks) > 1:
                pending = self._build_in_pool(tasks, workers, bar)
                done = len(todo) - sum(len(items) for _, items in pending)
            if pending:
                _init_worker(self.source, self.spec, self.kind)
                try:
                    for t in pending:
                        k = _build_group(t)
                        done += k
                        bar.update(k)
                finally:
                    _init_worker(None, None, None)
        finally:
            bar.close()
        return done

    def _build_in_pool(self, tasks, workers: int, bar) -> list:
        """Run ``tasks`` in ``spawn`` worker processes; returns the tasks left undone.

        ``concurrent.futures`` notices a worker that dies (killed, out of memory, or a script
        without an ``if __name__ == "__main__":`` guard, which ``spawn`` re-imports) and raises
        ``BrokenProcessPool`` instead of hanging like ``multiprocessing.Pool``; the remaining
        tasks are then built in this process, with a warning. Worker errors that are the data's
        fault (a corrupt recording) are re-raised as they are.
        """
        import warnings
        from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
        from concurrent.futures.process import BrokenProcessPool

        ctx = multiprocessing.get_context("spawn")
        left = {t[0]: t for t in tasks}
        try:
            with ProcessPoolExecutor(
                workers,
                mp_context=ctx,
                initializer=_init_worker,
                initargs=(self.source, self.spec, self.kind),
            ) as ex:
                # a bounded number of tasks in flight keeps the progress bar honest
                it = iter(tasks)
                running = {}
                for t in it:
                    running[ex.submit(_build_group, t)] = t
                    if len(running) >= 4 * workers:
                        break
                while running:
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for f in finished:
                        t = running.pop(f)
                        k = f.result()
                        left.pop(t[0], None)
                        bar.update(k)
                        nxt = next(it, None)
                        if nxt is not None:
                            running[ex.submit(_build_group, nxt)] = nxt
        except BrokenProcessPool as e:
            warnings.warn(
                f"cache worker processes failed ({e}); building the remaining "
                f"{sum(len(t[1]) for t in left.values())} samples in this process. If you run a "
                'script, put its code under `if __name__ == "__main__":` (spawned workers '
                "re-import it), or pass workers=0.",
                RuntimeWarning,
                stacklevel=3,
            )
        return list(left.values())


# worker-process state: the source is sent once per worker, not once per task
_W: dict = {}


def _init_worker(source, spec, kind) -> None:
    _W.clear()
    if source is not None:
        _W.update(source=source, spec=spec, kind=kind)


def _build_group(task) -> int:
    src_name, items = task
    source: SampleSource = _W["source"]
    spec, kind = _W["spec"], _W["kind"]
    all_events = source.read_source(src_name)
    if all_events.dtype != EVENT_DTYPE:
        all_events = all_events.astype(EVENT_DTYPE)
    for index, path in items:
        p = Path(path)
        if p.exists():  # another process (DDP rank, earlier run) made it meanwhile
            continue
        ref = source.samples[index]
        ev = cut_events(all_events, ref.t_start, ref.t_end)
        if kind == "events":
            arr = np.ascontiguousarray(ev)
        else:
            arr = compact(clip_frames(ev, spec, source.sensor_size, ref.t_start, ref.t_end))
        atomic_save(p, arr)
    return len(items)
