"""Run a trained model on frames with PyTorch or ONNX Runtime: one small API for streaming and the app.

``load_predictor(path)`` accepts a ``.pt`` checkpoint or an ``.onnx`` file exported by
``neuromoco export-onnx`` (its metadata carries the framing spec and class names). A predictor has

* ``window(frames [T, N, 2, H, W]) -> logits [T, N, C]``: neurons start from zero (exact training
  semantics);
* ``init_state(batch) -> state`` and ``step(frame [N, 2, H, W], state) -> (logits [N, C], state)``:
  advance one time bin with explicit membrane state (stepping T frames from ``init_state``
  reproduces ``window``). The state is opaque (torch tensors or numpy arrays).

``output`` says what the ``[.., C]`` outputs are: ``"logits"`` (most models) or ``"spikes"`` (a
model whose output layer spikes, e.g. the bundled ``dvs128-gesture``: values in {0, g} per step;
its decision is a spike count, see ``neuromoco.streaming.session``). It comes from the
architecture (``output_kind``) for a checkpoint and from the ``output`` metadata for an ONNX file
(files exported before it existed are ``"logits"``).

Arrays are float32 numpy in and out. CPU tip for torch: start the process with
``OMP_WAIT_POLICY=PASSIVE`` (OpenMP threads that spin-wait make torch eager 3-5x slower and erratic
when the cores are shared; it must be set before torch starts its thread pool). ONNX Runtime asks for CUDA (and TensorRT when
``onnxruntime-gpu`` provides it) and reports the providers the session really loaded
(``.providers``): a GPU provider that fails to load falls back to CPU.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np

from neuromoco.framing import FramingSpec
from neuromoco.models.onnx_metadata import (
    GRAPH_KEY,
    GRAPHS,
    STEPPABLE_KEY,
    WINDOW_ONLY,
    parse_metadata,
)

BACKENDS = ("auto", "torch", "onnx")
DEVICES = ("auto", "cpu", "cuda")


class PredictorError(ValueError):
    """Bad model file, backend/graph combination or input array (names what and why)."""


class Predictor:
    """Common interface; see the module docstring."""

    framing: FramingSpec
    class_names: list[str]
    backend: str
    device: str
    providers: list[str]
    graph: str
    arch: str
    path: str
    output: str = "logits"

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def input_shape(self) -> tuple[int, int, int]:
        """``(2, H, W)`` of one frame."""
        w, h = self.framing.size
        return (self.framing.channels, h, w)

    def describe(self) -> str:
        prov = f" providers={','.join(self.providers)}" if self.providers else ""
        return (
            f"{self.arch} [{self.graph}] on {self.backend}/{self.device}{prov}; "
            f"T={self.framing.T}, input {self.input_shape}, {self.num_classes} classes"
            f"{' (spike outputs)' if self.output == 'spikes' else ''}; {self.path}"
        )

    def _check_frames(self, x, ndim: int, what: str) -> np.ndarray:
        x = np.asarray(x)
        want = "[T, N, 2, H, W]" if ndim == 5 else "[N, 2, H, W]"
        if x.ndim != ndim or tuple(x.shape[-3:]) != self.input_shape:
            raise PredictorError(
                f"{what}: expected {want} with (2, H, W) = {self.input_shape} (from the model's "
                f"framing spec), got shape {x.shape}"
            )
        return np.ascontiguousarray(x, dtype=np.float32)

    def window(self, frames: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def init_state(self, batch: int = 1):
        raise NotImplementedError

    def step(self, frame: np.ndarray, state) -> tuple[np.ndarray, object]:
        raise NotImplementedError


class TorchPredictor(Predictor):
    def __init__(self, path: Path, device: str, graph: str, threads: int | None):
        import torch

        from neuromoco.models.checkpoint import load_model
        from neuromoco.models.stateful import StatefulStep

        if threads:
            torch.set_num_threads(int(threads))
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        elif device == "cuda" and not torch.cuda.is_available():
            raise PredictorError(f"{path}: device 'cuda' requested but torch sees no CUDA device")
        self._torch = torch
        self.model, ckpt = load_model(path, device=device)
        self._step = None
        if getattr(self.model, "steppable", True):
            self._step = StatefulStep(self.model).eval()
        elif graph == "step":
            raise PredictorError(f"{path}: cannot run in stream mode: {WINDOW_ONLY}")
        self.framing = ckpt.framing
        self.class_names = list(ckpt.class_names)
        self.arch = ckpt.arch
        self.output = getattr(self.model, "output_kind", "logits")
        self.backend, self.device, self.graph, self.path = "torch", device, graph, str(path)
        self.providers = []
        self._frame_shape = self.input_shape

    def describe(self) -> str:
        return super().describe() + f" (torch threads={self._torch.get_num_threads()})"

    def window(self, frames: np.ndarray) -> np.ndarray:
        x = self._check_frames(frames, 5, "window(frames)")
        torch = self._torch
        with torch.inference_mode():
            return self.model(torch.from_numpy(x).to(self.device)).float().cpu().numpy()

    def init_state(self, batch: int = 1):
        if self._step is None:
            raise PredictorError(f"{self.path}: has no step state: {WINDOW_ONLY}")
        return self._step.init_state(int(batch), device=self.device, frame_shape=self._frame_shape)

    def step(self, frame: np.ndarray, state):
        if self._step is None:
            raise PredictorError(f"{self.path}: cannot be stepped: {WINDOW_ONLY}")
        x = self._check_frames(frame, 4, "step(frame)")
        torch = self._torch
        if len(state) != self._step.num_states or state[0].shape[0] != x.shape[0]:
            raise PredictorError(
                f"step(): state is for batch {state[0].shape[0] if state else '?'} with "
                f"{len(state)} tensors; frame batch {x.shape[0]} needs init_state({x.shape[0]})"
            )
        with torch.inference_mode():
            logits, *new = self._step(torch.from_numpy(x).to(self.device), *state)
        return logits.float().cpu().numpy(), new


class OnnxPredictor(Predictor):
    def __init__(self, path: Path, device: str, graph: str, threads: int | None):
        import onnxruntime as ort

        available = ort.get_available_providers()
        if device == "cpu":
            wanted = ["CPUExecutionProvider"]
        else:
            gpu = [
                p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p in available
            ]
            if device == "cuda" and not gpu:
                raise PredictorError(
                    f"{path}: device 'cuda' requested but this onnxruntime has no CUDA provider "
                    f"(available: {available}); install the onnxruntime-gpu extra"
                )
            wanted = gpu + ["CPUExecutionProvider"]
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = int(threads)
        opts.inter_op_num_threads = 1
        # No spin-waiting: on a shared CPU (framing, UI, other processes) spinning threads steal
        # the cores the rest of the pipeline needs and make latency erratic.
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3  # GPU providers that fail to load are reported via .providers
        try:
            self.session = ort.InferenceSession(str(path), sess_options=opts, providers=wanted)
        except Exception as e:
            if device != "auto" or wanted == ["CPUExecutionProvider"]:
                raise PredictorError(
                    f"{path}: ONNX Runtime cannot load the model ({type(e).__name__}: {e})"
                ) from None
            # A GPU provider that is listed but cannot start (no driver/GPU): fall back to CPU.
            try:
                self.session = ort.InferenceSession(
                    str(path), sess_options=opts, providers=["CPUExecutionProvider"]
                )
            except Exception as e2:
                raise PredictorError(
                    f"{path}: ONNX Runtime cannot load the model ({type(e2).__name__}: {e2})"
                ) from None
        self.providers = list(self.session.get_providers())
        real = "cuda" if any(p != "CPUExecutionProvider" for p in self.providers) else "cpu"
        if device == "cuda" and real != "cuda":
            raise PredictorError(
                f"{path}: CUDA provider did not load (session providers: {self.providers})"
            )
        self.backend, self.device, self.graph, self.path = "onnx", real, graph, str(path)
        # the metadata is read through onnxruntime: this path imports neither torch nor onnx
        props = self.session.get_modelmeta().custom_metadata_map
        meta = parse_metadata(props, path)
        self.file_graph = meta[GRAPH_KEY]
        if graph == "step" and not meta.get(STEPPABLE_KEY, True):
            raise PredictorError(f"{path}: cannot run in stream mode: {WINDOW_ONLY}")
        if graph == "step" and self.file_graph != "step":
            raise PredictorError(
                f"{path}: a 'window' ONNX graph cannot be stepped; export it with "
                "`neuromoco export-onnx CKPT OUT.onnx --graph step`"
            )
        self.framing = FramingSpec.from_dict(meta["framing"])
        self.class_names = [str(c) for c in meta["class_names"]]
        self.arch = str(meta.get("arch", "?"))
        self.output = str(meta.get("output", "logits"))
        if self.output not in ("logits", "spikes"):
            raise PredictorError(
                f"{path}: metadata output={self.output!r}; expected 'logits' or 'spikes'"
            )
        self._state_shapes = [tuple(s) for s in meta.get("state_shapes", [])]
        self._in = [i.name for i in self.session.get_inputs()]
        self._out = [o.name for o in self.session.get_outputs()]

    def window(self, frames: np.ndarray) -> np.ndarray:
        x = self._check_frames(frames, 5, "window(frames)")
        if self.file_graph == "window":
            if x.shape[0] != self.framing.T:
                raise PredictorError(
                    f"window(frames): this ONNX window graph takes T={self.framing.T} frames, got {x.shape[0]}"
                )
            return self.session.run(None, {"frames": x})[0]
        state = self.init_state(x.shape[1])
        out = []
        for t in range(x.shape[0]):
            logits, state = self.step(x[t], state)
            out.append(logits)
        return np.stack(out)

    def init_state(self, batch: int = 1):
        if self.file_graph != "step":
            raise PredictorError(f"{self.path}: a 'window' ONNX graph has no step state")
        return [np.zeros((int(batch), *s), dtype=np.float32) for s in self._state_shapes]

    def step(self, frame: np.ndarray, state):
        if self.file_graph != "step":
            raise PredictorError(
                f"{self.path}: a 'window' ONNX graph cannot be stepped; export with --graph step"
            )
        x = self._check_frames(frame, 4, "step(frame)")
        if len(state) != len(self._state_shapes) or state[0].shape[0] != x.shape[0]:
            raise PredictorError(
                f"step(): state does not match (expected {len(self._state_shapes)} arrays for "
                f"batch {x.shape[0]}); use init_state({x.shape[0]})"
            )
        feeds = {"frame": x}
        feeds.update(zip(self._in[1:], state, strict=True))
        out = self.session.run(None, feeds)
        return out[0], out[1:]


def load_predictor(
    path: str | Path,
    backend: str = "auto",
    device: str = "auto",
    graph: str = "window",
    threads: int | None = None,
    cache_dir: str | Path | None = None,
) -> Predictor:
    """Load a checkpoint (``.pt``) or exported ``.onnx`` model for inference.

    Args:
        path: ``.pt`` checkpoint or ``.onnx`` file.
        backend: ``"torch"`` (checkpoints only), ``"onnx"`` (a checkpoint is exported first, into
            ``cache_dir`` or a temporary folder), or ``"auto"`` (by file type).
        device: ``"cpu"``, ``"cuda"`` (error if unavailable) or ``"auto"`` (CUDA when it really loads).
        graph: ``"window"`` or ``"step"``: what the caller will mostly use. A ``.pt`` exported for
            ONNX uses a graph of this kind; a window ``.onnx`` cannot step.
        threads: intra-op CPU threads (torch: ``torch.set_num_threads``, process-wide); None keeps
            the library default.
    """
    path = Path(path)
    if backend not in BACKENDS:
        raise PredictorError(f"backend must be one of {BACKENDS}, got {backend!r}")
    if device not in DEVICES:
        raise PredictorError(f"device must be one of {DEVICES}, got {device!r}")
    if graph not in GRAPHS:
        raise PredictorError(f"graph must be one of {GRAPHS}, got {graph!r}")
    if not path.is_file():
        raise PredictorError(f"{path}: no such model file")
    is_onnx = path.suffix.lower() == ".onnx"
    if backend == "auto":
        backend = "onnx" if is_onnx else "torch"
    if backend == "torch":
        if is_onnx:
            raise PredictorError(
                f"{path}: the torch backend needs a .pt checkpoint, not an .onnx file"
            )
        return TorchPredictor(path, device, graph, threads)
    if not is_onnx:
        from neuromoco.models.onnx_export import export_onnx

        folder = Path(cache_dir) if cache_dir else Path(tempfile.mkdtemp(prefix="neuromoco-onnx-"))
        folder.mkdir(parents=True, exist_ok=True)
        st = path.stat()
        out = folder / f"{path.stem}-{graph}-{st.st_size}-{int(st.st_mtime)}.onnx"
        if not out.exists():
            export_onnx(path, out, graph=graph)
        path = out
    return OnnxPredictor(path, device, graph, threads)
