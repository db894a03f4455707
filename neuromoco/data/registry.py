"""``build_dataset(name, root, split, framing, ...)``: the one entry point the training recipes call.

Names (:data:`DATASETS`): ``"dvs128_gesture"``, ``"cifar10_dvs"``, ``"ncaltech101"``,
``"procedural"``. New datasets register a ``SampleSource`` factory with :func:`register_dataset`.
:func:`build_mixed` builds the paper's unlabelled pretraining mixture.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence

from neuromoco.data.samples import PAPER_SIZE, PAPER_T, SampleSource
from neuromoco.data.splits import TRAIN_FRACTION
from neuromoco.framing import FramingSpec
from neuromoco.synth import GESTURE_DURATION_US

DATASETS: dict[str, Callable[..., SampleSource]] = {}


def register_dataset(name: str):
    """Decorator: register ``fn(root, split, **options) -> SampleSource`` under ``name``."""

    def deco(fn):
        if name in DATASETS:
            raise ValueError(f"dataset {name!r} is already registered")
        DATASETS[name] = fn
        return fn

    return deco


@register_dataset("dvs128_gesture")
def _dvs128(root, split, layout: str = "auto"):
    from neuromoco.data.dvs128_gesture import DVS128Gesture

    return DVS128Gesture(_need_root("dvs128_gesture", root), split, layout=layout)


@register_dataset("cifar10_dvs")
def _cifar(
    root,
    split,
    train_fraction: float = TRAIN_FRACTION,
    seed: int | None = None,
    convention: str = "spikingjelly",
):
    from neuromoco.data.cifar10_dvs import CIFAR10DVS

    return CIFAR10DVS(_need_root("cifar10_dvs", root), split, train_fraction, seed, convention)


@register_dataset("ncaltech101")
def _ncaltech(
    root,
    split,
    train_fraction: float = TRAIN_FRACTION,
    seed: int | None = None,
    include_background: bool = False,
):
    from neuromoco.data.ncaltech101 import NCaltech101

    return NCaltech101(
        _need_root("ncaltech101", root), split, train_fraction, seed, include_background
    )


@register_dataset("procedural")
def _procedural(
    root,
    split,
    per_class: int = 20,
    seed: int = 0,
    duration_us: int = GESTURE_DURATION_US,
    test_fraction: float = 0.2,
):
    from neuromoco.data.procedural import ProceduralGestures, procedural_from_directory

    if not root:  # None, or "" from a recipe (TOML has no None): the in-memory set
        return ProceduralGestures(split, per_class, seed, duration_us, test_fraction)
    return procedural_from_directory(root, split)


@register_dataset("unlabeled_folder")
def _unlabeled_folder(
    root, split, segment_us: int = 1_500_000, test_fraction: float = 0.0, sensor_size=None
):
    from neuromoco.data.unlabeled_folder import UnlabeledFolder

    return UnlabeledFolder(
        _need_root("unlabeled_folder", root), split, segment_us, test_fraction, sensor_size
    )


def _need_root(name: str, root):
    if root is None:
        from neuromoco.data.errors import DatasetNotFoundError

        raise DatasetNotFoundError(name, None, "no dataset folder given (root=None)")
    return root


def build_source(name: str, root, split: str = "train", **options) -> SampleSource:
    """The :class:`SampleSource` (labelled sample list, no torch) of dataset ``name``."""
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {sorted(DATASETS)}")
    fn = DATASETS[name]
    allowed = set(list(inspect.signature(fn).parameters)[2:])
    unknown = set(options) - allowed
    if unknown:
        raise ValueError(
            f"dataset {name!r} takes no option(s) {sorted(unknown)}; its options: {sorted(allowed)}"
        )
    return fn(root, split, **options)


def default_framing(source: SampleSource, T: int = PAPER_T, size=PAPER_SIZE) -> FramingSpec:
    """The paper's framing (T = 16 frames split by event count, 128×128) for ``source``."""
    return FramingSpec(
        T=T, split_by="number", size=tuple(size), sensor_size=tuple(source.sensor_size)
    )


def build_dataset(
    name: str,
    root=None,
    split: str = "train",
    framing: FramingSpec | None = None,
    sampling: str = "clip",
    cache_dir=None,
    transform: Callable | None = None,
    window_seed: int | None = None,
    build_cache: bool = True,
    workers: int | None = None,
    progress: bool = True,
    mode: str | None = None,
    **options,
):
    """A :class:`~neuromoco.data.frames_dataset.FramesDataset` of dataset ``name``.

    Args:
        name: one of :data:`DATASETS`.
        root: the dataset folder (its official layout; see each module), or ``None`` for the
            in-memory procedural set.
        split: ``"train"``, ``"test"`` or ``"all"``.
        framing: the model's framing spec; default :func:`default_framing` (T=16, 128×128).
        sampling: ``"clip"`` (whole samples) or ``"window"`` (random ``framing.window_us``
            windows).
        cache_dir: on-disk frame cache folder (None = no cache).
        transform: tensor transform (e.g. ``neuromoco.augment.make_policy("neuromoco")``).
        window_seed: makes ``sampling="window"`` draws a function of (seed, epoch, index).
        build_cache: with ``cache_dir``, fill the cache now (progress bar, ``workers`` processes).
        options: dataset options — ``train_fraction``/``seed`` (per-class split) for CIFAR10-DVS
            and N-Caltech101, ``include_background`` (N-Caltech101), ``layout`` (DVS128 Gesture),
            ``per_class``/``seed``/``duration_us``/``test_fraction`` (in-memory procedural).
        mode: deprecated name of ``sampling`` (``DeprecationWarning``).
    """
    from neuromoco.data.frames_dataset import FramesDataset, resolve_sampling

    sampling = resolve_sampling(sampling, mode, "build_dataset")

    source = build_source(name, root, split, **options)
    if framing is None:
        framing = default_framing(source)
    ds = FramesDataset(
        source,
        framing,
        sampling=sampling,
        cache_dir=cache_dir,
        transform=transform,
        seed=window_seed,
    )
    if cache_dir is not None and build_cache:
        ds.build_cache(workers=workers, progress=progress)
    return ds


def build_mixed(
    parts: Sequence[tuple[str, object] | dict],
    split: str = "train",
    framing: FramingSpec | None = None,
    size=PAPER_SIZE,
    transform: Callable | None = None,
    **kwargs,
):
    """The unlabelled pretraining mixture: ``parts`` = ``[(name, root), ...]`` or dicts with
    ``name``, ``root`` and per-dataset options; every part is framed with ``framing`` resized to
    ``size`` (its sensor size is its own). ``kwargs`` go to :func:`build_dataset` for every part."""
    from neuromoco.data.mixed import MixedUnlabeled

    datasets = []
    for p in parts:
        if isinstance(p, dict):
            p = dict(p)
            name, root = p.pop("name"), p.pop("root", None)
            opts = p
        else:
            name, root = p
            opts = {}
        src_framing = framing
        if src_framing is not None:
            import dataclasses

            src_framing = dataclasses.replace(src_framing, size=tuple(size))
        datasets.append(build_dataset(name, root, split, src_framing, **kwargs, **opts))
    return MixedUnlabeled(datasets, size=size, transform=transform)
