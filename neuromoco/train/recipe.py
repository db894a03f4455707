"""Training recipes: TOML files (parsed with :mod:`tomllib`) over typed defaults, plus ``--set``.

A recipe is a nested table. Every key has a default in :data:`DEFAULTS` (its type is the type the
value must have); a recipe file and ``--set section.key=value`` overrides may only change known
keys, except inside free-form tables (``model.kwargs``, ``data.options``). Values of ``--set``
are parsed as TOML (``--set optim.lr=0.01``, ``--set data.size=[64,64]``,
``--set model.arch=lif_convnet4`` — a bare word is taken as a string). Errors name the file, the
key and the reason (:class:`RecipeError`, a ``ValueError``).

Sections (see ``recipes/*.toml`` for complete examples):

* ``[run]``: task (pretrain|finetune), seed, epochs, max_steps (0 = no cap; stops early but keeps
  the schedule of the full run), device (auto|cpu|cuda), amp (CUDA only), num_workers,
  log_every (steps), eval_every (epochs), ckpt_every_steps (0 = per epoch only), progress.
* ``[data]``: name (a dataset or ``mixed``), datasets (for ``mixed``), root ("" = none: the
  in-memory procedural set), cache_dir (on-disk frame cache, "" = none), split, val_split,
  T, size ``[W, H]``, split_by, sampling (``clip``: T frames over each whole sample, the paper;
  ``window``: a random ``window_us``/``window_events`` sub-window per sample and epoch, what a
  streaming model sees — the window is stored in the checkpoint's framing spec, 0 = none),
  window_us, window_events, label_fraction (finetune: the fraction of labelled training
  samples kept per class), augment (policy name, see :mod:`neuromoco.augment`), options (passed to
  ``build_dataset``), subset (0 = all; else the first n samples, for quick runs).
* ``[model]``: arch (registry name), kwargs (table of builder arguments).
* ``[moco]`` (pretrain): dim, hidden_dim (0 = backbone width), queue_size, momentum,
  momentum_schedule, tau, shuffle_bn, loss (mix_infonce|mbc|mac|infonce), alpha, beta.
* ``[loss]`` (finetune): name (mbc|mac|mix|tet|tcl|stcl), alpha, beta, tet_lambda, tcl_lambda,
  stcl_lambda, tau, supervised, proj_dim.
* ``[optim]``: name (sgd|adamw), lr, momentum, weight_decay, batch_size (global, split over ranks),
  grad_clip (0 = off).
* ``[schedule]``: name (constant|multistep|cosine), milestones (epochs), gamma, warmup_epochs,
  min_lr.
* ``[finetune]``: pretrained (path of a ``neuromoco pretrain`` checkpoint, "" = from scratch),
  freeze_backbone (linear probe).

Renamed keys (:data:`RENAMED`) are still read, with a ``FutureWarning`` naming the new key:
``data.mode`` is now ``data.sampling`` (``mode`` means window|stream, how a model runs on a live
stream). Old run folders keep working: every run writes its ``recipe.toml`` (and stores it in
its checkpoints), so a rename must not make those files unreadable.
"""

from __future__ import annotations

import copy
import difflib
import tomllib
import warnings
from pathlib import Path
from typing import Any

DEFAULTS: dict[str, dict[str, Any]] = {
    "run": {
        "task": "finetune",
        "seed": 0,
        "epochs": 100,
        "max_steps": 0,
        "device": "auto",
        "amp": True,
        "num_workers": 0,
        "log_every": 10,
        "eval_every": 1,
        "ckpt_every_steps": 0,
        "progress": True,
    },
    "data": {
        "name": "procedural",
        "datasets": [],
        "root": "",
        "cache_dir": "",
        "split": "train",
        "val_split": "test",
        "T": 16,
        "size": [128, 128],
        "split_by": "number",
        "sampling": "clip",
        "window_us": 0,
        "window_events": 0,
        "denoise_us": 0,
        "label_fraction": 1.0,
        "augment": "neuromoco",
        "options": {},
        "subset": 0,
    },
    "model": {"arch": "lif_convnet4", "kwargs": {}},
    "moco": {
        "dim": 128,
        "hidden_dim": 0,
        "queue_size": 4096,
        "momentum": 0.999,
        "momentum_schedule": "constant",
        "tau": 0.07,
        "shuffle_bn": True,
        "loss": "mix_infonce",
        "alpha": 0.5,
        "beta": 0.5,
    },
    "loss": {
        "name": "mac",
        "alpha": 0.5,
        "beta": 0.5,
        "tet_lambda": 1e-3,
        "tcl_lambda": 0.5,
        "stcl_lambda": 5.0,
        "tau": 0.07,
        "supervised": True,
        "proj_dim": 128,
    },
    "optim": {
        "name": "sgd",
        "lr": 0.03,
        "momentum": 0.9,
        "weight_decay": 1e-4,
        "batch_size": 32,
        "grad_clip": 0.0,
    },
    "schedule": {
        "name": "constant",
        "milestones": [],
        "gamma": 0.1,
        "warmup_epochs": 0,
        "min_lr": 0.0,
    },
    "finetune": {"pretrained": "", "freeze_backbone": False},
}

FREE_TABLES = {("model", "kwargs"), ("data", "options")}

RENAMED: dict[str, str] = {"data.mode": "data.sampling"}
"""Old recipe key → its new name (read with a ``FutureWarning``)."""

CHOICES: dict[tuple[str, str], tuple[str, ...]] = {
    ("run", "task"): ("pretrain", "finetune"),
    ("run", "device"): ("auto", "cpu", "cuda"),
    ("data", "split_by"): ("number", "time"),
    ("data", "sampling"): ("clip", "window"),
    ("moco", "momentum_schedule"): ("constant", "cosine"),
    ("moco", "loss"): ("mix_infonce", "mbc", "mac", "infonce"),
    ("loss", "name"): ("mbc", "mac", "mix", "tet", "tcl", "stcl"),
    ("optim", "name"): ("sgd", "adamw"),
    ("schedule", "name"): ("constant", "multistep", "cosine"),
}


class RecipeError(ValueError):
    """A recipe that cannot be used: names the file or ``--set`` argument, the key and the reason."""


def _type_name(v: Any) -> str:
    return {bool: "a boolean", int: "an integer", float: "a number", str: "a string"}.get(
        type(v), "a list" if isinstance(v, list) else "a table"
    )


def _coerce(value: Any, default: Any, key: str, where: str) -> Any:
    """Check ``value`` against the type of ``default``; ints are accepted for floats."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif isinstance(default, float):
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        value = float(value) if ok else value
    elif isinstance(default, str):
        ok = isinstance(value, str)
    elif isinstance(default, list):
        ok = isinstance(value, list)
    else:
        ok = isinstance(value, dict)
    if not ok:
        raise RecipeError(
            f"{where}: {key} must be {_type_name(default)}, got {value!r} ({type(value).__name__})"
        )
    return value


def _unknown(key: str, known: list[str], where: str) -> RecipeError:
    close = difflib.get_close_matches(key.split(".")[-1], known, n=1, cutoff=0.5)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return RecipeError(f"{where}: unknown key {key!r}{hint} (known: {', '.join(sorted(known))})")


def _renamed(dotted: str, where: str) -> str:
    new = RENAMED.get(dotted)
    if new is None:
        return dotted
    warnings.warn(
        f"{where}: recipe key {dotted} is deprecated, use {new} (same values)",
        FutureWarning,
        stacklevel=4,
    )
    return new


def _set(cfg: dict, dotted: str, value: Any, where: str) -> None:
    dotted = _renamed(dotted, where)
    parts = dotted.split(".")
    if len(parts) < 2 or not all(parts):
        raise RecipeError(f"{where}: key {dotted!r} must be section.key (e.g. optim.lr)")
    section = parts[0]
    if section not in DEFAULTS:
        raise _unknown(section, list(DEFAULTS), where)
    if (section, parts[1]) in FREE_TABLES:
        table = cfg[section][parts[1]]
        if len(parts) == 2:
            table.clear()
            table.update(_coerce(value, {}, dotted, where))
            return
        for p in parts[2:-1]:
            table = table.setdefault(p, {})
        table[parts[-1]] = value
        return
    if len(parts) != 2:
        raise RecipeError(f"{where}: {section}.{parts[1]} is not a table; cannot set {dotted!r}")
    if parts[1] not in DEFAULTS[section]:
        raise _unknown(dotted, list(DEFAULTS[section]), where)
    cfg[section][parts[1]] = _coerce(value, DEFAULTS[section][parts[1]], dotted, where)


def parse_set(arg: str) -> tuple[str, Any]:
    """``"a.b=value"`` → ``("a.b", value)``; the value is a TOML value or a bare string."""
    if "=" not in arg:
        raise RecipeError(f"--set {arg!r}: expected key=value (e.g. --set optim.lr=0.01)")
    key, raw = arg.split("=", 1)
    key, raw = key.strip(), raw.strip()
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word: a string
    return key, value


def validate(cfg: dict, where: str) -> None:
    """Check choices and ranges that a type alone cannot express."""
    for (section, key), allowed in CHOICES.items():
        if cfg[section][key] not in allowed:
            raise RecipeError(
                f"{where}: {section}.{key} must be one of {', '.join(allowed)}; got {cfg[section][key]!r}"
            )
    positive = [
        ("run", "epochs"),
        ("data", "T"),
        ("optim", "batch_size"),
        ("moco", "dim"),
        ("moco", "queue_size"),
        ("loss", "proj_dim"),
    ]
    for section, key in positive:
        if cfg[section][key] <= 0:
            raise RecipeError(f"{where}: {section}.{key} must be > 0, got {cfg[section][key]}")
    nonneg = [
        ("run", "max_steps"),
        ("run", "num_workers"),
        ("run", "ckpt_every_steps"),
        ("data", "subset"),
        ("schedule", "warmup_epochs"),
        ("optim", "weight_decay"),
        ("optim", "grad_clip"),
        ("moco", "hidden_dim"),
    ]
    for section, key in nonneg:
        if cfg[section][key] < 0:
            raise RecipeError(f"{where}: {section}.{key} must be >= 0, got {cfg[section][key]}")
    if not cfg["optim"]["lr"] > 0:
        raise RecipeError(f"{where}: optim.lr must be > 0, got {cfg['optim']['lr']}")
    if not 0.0 <= cfg["moco"]["momentum"] < 1.0:
        raise RecipeError(
            f"{where}: moco.momentum must be in [0, 1), got {cfg['moco']['momentum']}"
        )
    for section in ("moco", "loss"):
        a, b = cfg[section]["alpha"], cfg[section]["beta"]
        if a < 0 or b < 0 or abs(a + b - 1.0) > 1e-6:
            raise RecipeError(
                f"{where}: {section}.alpha + {section}.beta must be 1 (both >= 0), got {a} + {b}"
            )
    if not 0.0 < cfg["data"]["label_fraction"] <= 1.0:
        raise RecipeError(
            f"{where}: data.label_fraction must be in (0, 1], got {cfg['data']['label_fraction']}"
        )
    size = cfg["data"]["size"]
    if len(size) != 2 or not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in size
    ):
        raise RecipeError(
            f"{where}: data.size must be [width, height] positive integers, got {size!r}"
        )
    ms = cfg["schedule"]["milestones"]
    if not all(
        isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in ms
    ) or ms != sorted(ms):
        raise RecipeError(
            f"{where}: schedule.milestones must be increasing positive epochs, got {ms!r}"
        )
    if cfg["moco"]["tau"] <= 0 or cfg["loss"]["tau"] <= 0:
        raise RecipeError(f"{where}: tau must be > 0")
    if cfg["data"]["name"] == "mixed" and not cfg["data"]["datasets"]:
        raise RecipeError(
            f"{where}: data.name = 'mixed' needs data.datasets (a list of dataset names)"
        )


def load_recipe(path: str | Path | None, overrides: list[str] | tuple[str, ...] = ()) -> dict:
    """Defaults ← recipe file ← ``--set`` overrides, type-checked and validated.

    Args:
        path: a TOML file, or None for the defaults alone.
        overrides: ``"section.key=value"`` strings, applied in order.

    Returns:
        the full nested recipe (every key present), a fresh dict.

    Raises:
        RecipeError: unreadable/invalid TOML, unknown keys, wrong types, values out of range.
    """
    cfg = copy.deepcopy(DEFAULTS)
    if path is not None:
        path = Path(path)
        where = str(path)
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise RecipeError(f"{path}: recipe file not found") from None
        except IsADirectoryError:
            raise RecipeError(f"{path}: is a directory, not a recipe file") from None
        except UnicodeDecodeError:
            raise RecipeError(f"{path}: not a text (UTF-8) TOML file") from None
        except tomllib.TOMLDecodeError as e:
            raise RecipeError(f"{path}: invalid TOML: {e}") from None
        for section, table in data.items():
            if section not in DEFAULTS:
                raise _unknown(section, list(DEFAULTS), where)
            if not isinstance(table, dict):
                raise RecipeError(f"{where}: [{section}] must be a table, got {table!r}")
            for key in table:
                new = RENAMED.get(f"{section}.{key}")
                if new is not None and new.split(".", 1)[1] in table:
                    raise RecipeError(
                        f"{where}: {section}.{key} is the old name of {new}; keep only {new}"
                    )
            for key, value in table.items():
                if (section, key) in FREE_TABLES:
                    _set(cfg, f"{section}.{key}", copy.deepcopy(value), where)
                else:
                    _set(cfg, f"{section}.{key}", value, where)
    for arg in overrides:
        key, value = parse_set(arg)
        _set(cfg, key, value, f"--set {arg}")
    validate(cfg, str(path) if path is not None else "recipe")
    return cfg


def dumps(cfg: dict) -> str:
    """The recipe as TOML text (written next to every run for provenance)."""
    lines: list[str] = []

    def val(v: Any) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
        if isinstance(v, list):
            return "[" + ", ".join(val(x) for x in v) + "]"
        if isinstance(v, dict):
            return "{" + ", ".join(f"{k} = {val(x)}" for k, x in v.items()) + "}"
        return repr(v)

    for section, table in cfg.items():
        lines.append(f"[{section}]")
        lines.extend(f"{k} = {val(v)}" for k, v in table.items())
        lines.append("")
    return "\n".join(lines)
