"""Teach a model gestures of your own from a handful of examples: frozen encoder features, a new
linear read-out, the same model files as every other model.

The method (``neuromoco teach``, docs/results.md "Teach your own gestures"):

1. **Examples.** A CSV with ``path,label`` and optionally ``t0_us,t1_us`` (one stretch of a
   longer recording). Any format the readers read, with their polarity policy.
2. **Views.** Each example is cut into the base model's windows (its ``FramingSpec``: window,
   bins, size, denoise), one every ``stride_us``, and every window is also seen ``augment``
   more times through the gesture-safe augmentation (the paper's geometric policy without the
   horizontal flip, which would turn one gesture into another, plus forgotten polarity).
3. **Features.** The base model's encoder, frozen, in eval mode: the per-step embeddings
   averaged over the window's T steps (``[D]`` per view). The model's read-out is linear and
   per step, so a linear head on the averaged embedding is exactly the per-step head averaged.
   By default (``direction``) the encoder also reads every window backwards and the features are
   ``[f̄, b·‖f̄‖·d̂]``, ``d = f̄(x) − f̄(x backwards)``, ``b`` the window's balance (``[2D]``;
   ``neuromoco.models.direction``): the part of the embedding that tells a motion from its
   reverse, which the average alone drowns (a circle's direction: docs/results.md, "Teach your
   own gestures"). No label, any encoder.
4. **Head.** One row per class, ``logits = W·f + b``:

   * a new class starts as its nearest-mean row (``w = μ``, ``b = −½‖μ‖²``) and is then fitted by
     softmax regression (L2, class-balanced) against every class;
   * the base model's rows stay **exactly** as they were, unless the CSV has examples of that
     class (then they are fitted too, kept near the original by the L2 term): the base classes
     are not forgotten. Their "other side" comes from procedural gestures of the base classes
     (``neuromoco.synth``, when the base speaks the DVS128 Gesture classes), so a new class is
     fitted against them and not only against the other new classes;
   * ``only``: the classes are just the CSV's labels, all rows fitted from the examples.

5. **Model.** The base encoder with the new head: a ``.pt`` checkpoint and an ONNX graph with
   the framing and the class names in their metadata (every command and the app take it as
   they take a bundled model), and a small card (``.json``). With direction features it is a
   ``direction_classifier`` and a ``window`` graph (window mode only: it needs whole windows);
   without, the base architecture and a stateful ``step`` graph (window and stream mode).
"""

from __future__ import annotations

import csv
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

COLUMNS = ("path", "label", "t0_us", "t1_us")


class TeachError(ValueError):
    """A bad input to ``teach``: names the file (and line) and the reason."""


@dataclass(frozen=True)
class Example:
    """One line of the examples CSV: a recording (or a stretch ``[t0_us, t1_us)`` of it, µs on
    the recording's own clock) and the class it shows."""

    path: Path
    label: str
    t0_us: int | None = None
    t1_us: int | None = None
    line: int = 0


def read_examples(csv_path: str | Path) -> list[Example]:
    """Parse the examples CSV; every problem is a :class:`TeachError` naming the file and line."""
    csv_path = Path(csv_path)
    if not csv_path.is_file():
        raise TeachError(f"{csv_path}: no such examples file")
    try:
        text = csv_path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TeachError(f"{csv_path}: cannot read the examples file ({e})") from None
    reader = csv.DictReader(text.splitlines())
    cols = [c.strip() for c in (reader.fieldnames or [])]
    unknown = [c for c in cols if c not in COLUMNS]
    if unknown:
        raise TeachError(
            f"{csv_path}: unknown column(s) {', '.join(unknown)}; the columns are "
            f"path,label and optionally t0_us,t1_us"
        )
    if "path" not in cols or "label" not in cols:
        raise TeachError(f"{csv_path}: needs a header with columns path,label (got {cols})")
    if ("t0_us" in cols) != ("t1_us" in cols):
        raise TeachError(f"{csv_path}: t0_us and t1_us go together")
    reader.fieldnames = cols
    out = []
    for row in reader:
        line = reader.line_num
        rel = (row.get("path") or "").strip()
        label = (row.get("label") or "").strip()
        if not rel and not label:
            continue
        if not rel or not label:
            raise TeachError(f"{csv_path}:{line}: empty path or label")
        path = Path(rel) if Path(rel).is_absolute() else csv_path.parent / rel
        if not path.is_file():
            raise TeachError(f"{csv_path}:{line}: recording {path} not found")
        t0 = t1 = None
        if "t0_us" in cols:
            try:
                t0, t1 = int(row["t0_us"]), int(row["t1_us"])
            except (TypeError, ValueError):
                raise TeachError(
                    f"{csv_path}:{line}: t0_us and t1_us must be whole µs "
                    f"(got {row.get('t0_us')!r}, {row.get('t1_us')!r})"
                ) from None
            if t1 <= t0:
                raise TeachError(f"{csv_path}:{line}: empty stretch: t1_us {t1} ≤ t0_us {t0}")
        out.append(Example(path, label, t0, t1, line))
    if not out:
        raise TeachError(f"{csv_path}: no examples listed")
    return out


def example_events(ex: Example, sensor_size=None) -> tuple[np.ndarray, tuple[int, int]]:
    """The events of an example (its stretch, when it has one) and the sensor size."""
    from neuromoco.events import read_recording

    try:
        rec = read_recording(ex.path, sensor_size=sensor_size)
    except (OSError, ValueError) as e:
        msg = str(e) if str(ex.path) in str(e) else f"{ex.path}: {e}"
        raise TeachError(f"line {ex.line}: cannot read {msg}") from None
    ev = rec.events
    if ex.t0_us is not None:
        a, b = np.searchsorted(ev["t"], [ex.t0_us, ex.t1_us], side="left")
        ev = ev[int(a) : int(b)]
    if ev.shape[0] == 0:
        what = "" if ex.t0_us is None else f" in [{ex.t0_us}, {ex.t1_us}) µs"
        raise TeachError(f"line {ex.line}: {ex.path}: no events{what}")
    return ev, (int(rec.sensor_size[0]), int(rec.sensor_size[1]))


def windows(events: np.ndarray, sensor_size, framing, stride_us: int) -> np.ndarray:
    """The base framing's windows over ``events`` (``[N, T, 2, H, W]`` float32), one every
    ``stride_us`` from the first full window to the last; a stretch shorter than one window gives
    one window ending at its last event (the time before it as empty bins, as the engine does)."""
    if framing.window_us is None:
        raise TeachError("teach needs a base model framed in windows of time (window_us)")
    w = int(framing.window_us)
    t0, t1 = int(events["t"][0]), int(events["t"][-1]) + 1
    ends = list(range(t0 + w, t1 + 1, int(stride_us))) or [t1]
    from neuromoco.framing import to_frames

    if framing.denoise_us:
        # the stretch denoised from its first event on, as a stream that starts with it
        from neuromoco.denoise import denoise

        events = denoise(events, framing.denoise_us, sensor_size)[0]
    out = []
    for e in ends:
        fr = to_frames(
            events, framing.T, sensor_size, framing.split_by, framing.size, e - w, e,
            framing.normalize,
        )  # fmt: skip
        out.append(fr)
    return np.stack(out).astype(np.float32)


def features(model, frames, generator=None, augment: int = 0, batch: int = 64):
    """Window-averaged embeddings ``[N·(1+augment), D]`` (a torch tensor) of frames
    ``[N, T, 2, H, W]``: the frozen encoder's per-step embeddings averaged over the T steps, for
    the frames and ``augment`` gesture-safe augmented views of them."""
    import torch

    from neuromoco.augment import Compose, DVSAugment, RandomPolarity

    aug = Compose((DVSAugment(flip_p=0.0), RandomPolarity(0.5)))
    x = torch.from_numpy(frames)
    views = [x] + [aug(x, generator=generator) for _ in range(int(augment))]
    x = torch.cat(views)
    feats = []
    with torch.no_grad():
        for i in range(0, x.shape[0], batch):
            f = model.forward_features(x[i : i + batch].transpose(0, 1).contiguous())
            feats.append(f.mean(0))
    return torch.cat(feats)


def base_class_views(model, framing, class_names, n_per_class: int, seed: int, generator):
    """Features and labels of procedural gestures of the base classes (DVS128 Gesture names), or
    None when the base speaks other classes."""
    import torch

    from neuromoco.gesture_classes import DVS128_GESTURE_CLASSES
    from neuromoco.synth import SENSOR_SIZE, generate_gesture

    if list(class_names) != list(DVS128_GESTURE_CLASSES) or n_per_class <= 0:
        return None
    xs, ys = [], []
    dur = max(int(framing.window_us) + 200_000, 1_500_000)
    for k in range(len(class_names)):
        for j in range(n_per_class):
            ev = generate_gesture(k, seed=10_000 + 97 * seed + j, duration_us=dur)
            fr = windows(ev, SENSOR_SIZE, framing, stride_us=max(1, dur // 3))
            f = features(model, fr, generator)
            xs.append(f)
            ys += [k] * f.shape[0]
    return torch.cat(xs), torch.tensor(ys)


def fit_head(
    X, y, n_classes: int, W0, b0, trainable, l2: float = 1e-3, steps: int = 300, seed: int = 0
):
    """Class-balanced softmax regression of ``logits = X·Wᵀ + b`` over ``n_classes``. Rows not in
    ``trainable`` stay at ``W0``/``b0``; trainable rows start there and are pulled back to it by
    ``l2``. Returns ``(W, b)``."""
    import torch

    torch.manual_seed(seed)
    W0 = W0.detach().clone().float()
    b0 = b0.detach().clone().float()
    mask = torch.zeros(n_classes, 1)
    mask[list(trainable)] = 1.0
    dW = torch.zeros_like(W0, requires_grad=True)
    db = torch.zeros_like(b0, requires_grad=True)
    counts = torch.bincount(y, minlength=n_classes).float().clamp(min=1)
    weight = (1.0 / counts)[y]
    weight = weight / weight.sum()
    scale = X.norm(dim=1).mean().clamp(min=1e-6)
    opt = torch.optim.LBFGS([dW, db], lr=0.5, max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        W = W0 + dW * mask
        b = b0 + db * mask[:, 0]
        logits = X @ W.T + b
        loss = (torch.nn.functional.cross_entropy(logits, y, reduction="none") * weight).sum()
        loss = loss + l2 * ((dW * mask) ** 2).sum() * scale**2 + l2 * ((db * mask[:, 0]) ** 2).sum()
        loss.backward()
        return loss

    opt.step(closure)
    with torch.no_grad():
        return (W0 + dW * mask).clone(), (b0 + db * mask[:, 0]).clone()


def load_base(base: str | Path):
    """``(model, checkpoint, name)`` of the model to teach: a bundled or user model's name, or a
    ``.pt``/``.onnx`` file (its ``.pt`` beside it: the encoder's weights). Its encoder must end
    in a linear read-out (or none: an encoder); :class:`TeachError` naming ``--base`` if not."""
    import torch

    from neuromoco.models.bundled import resolve_model
    from neuromoco.models.checkpoint import load_model

    path, base_name = resolve_model(str(base), prefer="pt")
    path = Path(path)
    if path.suffix.lower() == ".onnx":
        pt = path.with_suffix(".pt")
        if not pt.is_file():
            raise TeachError(
                f"--base {base}: teaching needs the model's encoder: a .pt checkpoint beside "
                f"{path.name} (none found)"
            )
        path = pt
    if not path.is_file():
        raise TeachError(f"--base {base}: no such model file")
    model, ck = load_model(path)
    if getattr(model, "output_kind", "logits") != "logits" or not isinstance(
        getattr(model, "head", None), torch.nn.Linear | torch.nn.Identity
    ):
        raise TeachError(
            f"--base {base_name}: teaching needs a model with a linear read-out (gesture-demo, "
            f"neuromoco-ssl or your own checkpoint); this one decides by output spikes"
        )
    return model, ck, base_name


def teach(
    examples_csv: str | Path,
    out: str | Path,
    base: str | Path = "gesture-demo",
    only: bool = False,
    force: bool = False,
    seed: int = 0,
    stride_us: int = 100_000,
    augment: int = 4,
    base_clips: int = 2,
    progress: bool = True,
    on_progress=None,
    direction: bool = True,
) -> dict:
    """Teach ``base`` the gestures of ``examples_csv`` and write ``out`` (``.onnx``), its
    ``.pt`` and its card (``.json``) atomically. Returns the card. See the module docstring.
    ``on_progress(done, total)`` (e.g. a GUI's progress bar) is called after every example and
    once more when the model is written (``done == total``).

    ``direction``: read every window forwards and backwards too (``neuromoco.models.direction``:
    the features that tell a motion from its reverse, e.g. a circle's direction). The model then
    runs in window mode only; ``False`` keeps a model that can also be stepped (stream mode). A
    base that already has direction features keeps them."""
    import torch

    from neuromoco.atomic import atomic_paths
    from neuromoco.models.checkpoint import load_checkpoint, save_checkpoint
    from neuromoco.models.onnx_export import export_onnx

    t_start = time.perf_counter()
    out = Path(out)
    if out.suffix.lower() != ".onnx":
        raise TeachError(f"--out {out}: the model file must end in .onnx (a .pt is written beside)")
    files = [out, out.with_suffix(".pt"), out.with_suffix(".json")]
    if not force:
        there = [str(f) for f in files if f.exists()]
        if there:
            raise TeachError(f"--out {out}: {', '.join(there)} exists; pass --force to replace it")
    examples = read_examples(examples_csv)
    labels = list(dict.fromkeys(e.label for e in examples))
    if only and len(labels) < 2:
        raise TeachError(
            f"{examples_csv}: --only needs at least two classes to tell apart (got {labels})"
        )
    model, ck, base_name = load_base(base)
    framing = ck.framing
    base_head = model.head
    if direction and model.steppable:
        from neuromoco.models.direction import with_direction

        model = with_direction(model).eval()
    base_names = [] if only else list(ck.class_names)
    names = base_names + [c for c in labels if c not in base_names]
    g = torch.Generator().manual_seed(int(seed))
    torch.manual_seed(int(seed))

    # -- features of the examples' views
    from tqdm import tqdm

    xs, ys = [], []
    bar = tqdm(examples, desc="teach: examples", unit="example", disable=not progress)
    sensor = tuple(framing.sensor_size) if framing.sensor_size else None
    total = len(examples) + 1
    for i, ex in enumerate(bar):
        ev, size = example_events(ex, sensor)
        fr = windows(ev, size, framing, stride_us)
        f = features(model, fr, g, augment)
        xs.append(f)
        ys += [names.index(ex.label)] * f.shape[0]
        if on_progress is not None:
            on_progress(i + 1, total)
    X, y = torch.cat(xs), torch.tensor(ys)

    # -- the head
    D, C = model.num_features, len(names)
    new = [k for k in range(C) if names[k] not in base_names]
    W0 = torch.zeros(C, D)
    b0 = torch.zeros(C)
    for k in new:  # nearest-mean start: argmax of μ·f − ½‖μ‖² = the nearest class mean
        mu = X[y == k].mean(0)
        W0[k], b0[k] = mu, -0.5 * (mu @ mu)
    trainable = set(new)
    if base_names:
        # (a base read-out over the encoder's features alone: zeros on the direction block)
        d0 = base_head.weight.shape[1]
        W0[: len(base_names), :d0] = base_head.weight.detach()
        b0[: len(base_names)] = base_head.bias.detach()
        trainable |= {names.index(c) for c in labels if c in base_names}
        if progress:
            print("teach: base-class views from procedural gestures", flush=True)
        extra = base_class_views(model, framing, base_names, base_clips, seed, g)
        if extra is not None:
            X, y = torch.cat([X, extra[0]]), torch.cat([y, extra[1]])
    W, b = fit_head(X, y, C, W0, b0, trainable, seed=int(seed))

    # -- the model: base architecture, new head
    model.reset_classifier(C)
    with torch.no_grad():
        model.head.weight.copy_(W)
        model.head.bias.copy_(b)
    seconds = round(time.perf_counter() - t_start, 1)
    card = {
        "base": base_name,
        "only": bool(only),
        "classes": names,
        "new_classes": [names[k] for k in new],
        "examples": [
            {"path": str(e.path), "label": e.label, "t0_us": e.t0_us, "t1_us": e.t1_us}
            for e in examples
        ],
        "views": int(X.shape[0]),
        "seed": int(seed),
        "stride_us": int(stride_us),
        "augment": int(augment),
        "seconds_to_fit": seconds,
        "framing": framing.to_dict(),
        "arch": model.arch,
        "direction": not model.steppable,
        "modes": ["window", "stream"] if model.steppable else ["window"],
    }
    kwargs = dict(model.model_kwargs)  # num_classes = C since reset_classifier
    with atomic_paths(files, suffixes=[".onnx", ".pt", ".json"], mkdir=True) as (onx, ptf, js):
        save_checkpoint(
            ptf, model, arch=model.arch, model_kwargs=kwargs, class_names=names, framing=framing,
            meta={"taught": {k: v for k, v in card.items() if k != "examples"}},
        )  # fmt: skip
        graph = "step" if model.steppable else "window"
        export_onnx(load_checkpoint(ptf), onx, graph=graph)
        card["seconds"] = round(time.perf_counter() - t_start, 1)
        js.write_text(json.dumps(card, indent=2) + "\n")
    if on_progress is not None:
        on_progress(total, total)
    return card
