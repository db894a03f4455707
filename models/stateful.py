"""Advance a model one frame at a time with explicit membrane state (for streaming and ONNX).

``StatefulStep(model)`` shares the model's parameters and replaces every spikingjelly ``LIFNode``
by ``ExplicitLIF``, which takes its membrane potential from the call's inputs and returns the new
one, with the same float operations as spikingjelly's CPU kernel (``neuromoco.models.neurons``),
and every snnTorch-style ``Leaky`` (``neuromoco.models.leaky``) by ``ExplicitLeaky`` (its own
``Leaky.step``, one membrane tensor of state)::

    logits_t, *v_t = step(frame_t, *v_{t-1})        # frame [N, 2, H, W], logits [N, C]

Stepping ``T`` frames from ``init_state`` (zeros) reproduces ``model(x)[t]`` for every ``t``. State
order is the order of the LIF layers in ``model.named_modules()`` (``state_names``), fixed for a
given architecture; ``state_shapes(batch)`` gives their shapes. Use it in eval mode: BatchNorm
must use its running statistics (in train mode the window forward pools BN statistics over all
``T·N`` frames, which a single step cannot see).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from neuromoco.models.leaky import Leaky
from neuromoco.models.spikingjelly_import import activation_based

_sj = activation_based()
base, neuron = _sj.base, _sj.neuron


class _StateBox:
    """Per-call mailbox shared by the ExplicitLIF layers of one StatefulStep (plain Python, so
    ``torch.export`` traces the tensors through it)."""

    def __init__(self, n: int):
        self.inputs: list[torch.Tensor | None] = [None] * n
        self.outputs: list[torch.Tensor | None] = [None] * n


class _ExplicitState(nn.Module):
    """A neuron layer with its state in the call's mailbox: inputs ``[1, N, ...]`` (one step,
    multi-step layout); subclasses give :meth:`_step` ``(x, state) -> (spike, new state)``."""

    def __init__(self, slot: int, box: _StateBox):
        super().__init__()
        self.slot = slot
        self._box = box

    def _step(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        raise NotImplementedError  # abstract: each neuron type has its own update

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x[0]
        state = self._box.inputs[self.slot]
        if state is None:  # shape discovery pass
            state = torch.zeros_like(x)
        spike, self._box.outputs[self.slot] = self._step(x, state)
        return spike.unsqueeze(0)


class ExplicitLIF(_ExplicitState):
    """spikingjelly's LIF update with explicit state."""

    def __init__(self, node: neuron.LIFNode, slot: int, box: _StateBox):
        super().__init__(slot, box)
        if node.v_reset is None or not node.decay_input:
            raise ValueError("ExplicitLIF supports hard reset with decay_input=True only")
        self.tau = float(node.tau)
        self.v_threshold = float(node.v_threshold)
        self.v_reset = float(node.v_reset)

    def _step(self, x: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        # Same operations, in the same order, as spikingjelly's LIF (CPU kernel).
        h = v + (x - (v - self.v_reset)) / self.tau
        spike = (h >= self.v_threshold).to(x.dtype)
        return spike, spike * self.v_reset + (1.0 - spike) * h

    def extra_repr(self) -> str:
        return f"slot={self.slot}, tau={self.tau}, v_threshold={self.v_threshold}"


class ExplicitLeaky(_ExplicitState):
    """``Leaky.step`` (snnTorch's neuron) with explicit state."""

    def __init__(self, node: Leaky, slot: int, box: _StateBox):
        super().__init__(slot, box)
        self.node = node  # shares beta/threshold/graded_spikes_factor with the model

    def _step(self, x: torch.Tensor, mem: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.node.step(x, mem)

    def extra_repr(self) -> str:
        return f"slot={self.slot}"


class StatefulStep(nn.Module):
    """Single-step view of an ``SNNClassifier``: ``forward(frame, *states) -> (logits, *new_states)``.

    Args:
        model: a registered model (its parameters are shared, not copied).

    Attributes:
        state_names: module path of the LIF layer behind each state, in state order.
        num_states: number of state tensors.
    """

    def __init__(self, model: nn.Module):
        super().__init__()
        if not getattr(model, "steppable", True):
            from neuromoco.models.onnx_metadata import WINDOW_ONLY

            arch = getattr(model, "arch", type(model).__name__)
            raise ValueError(f"{arch} cannot be stepped: {WINDOW_ONLY}")
        lifs = [
            (n, m) for n, m in model.named_modules() if isinstance(m, base.MemoryModule | Leaky)
        ]
        others = [n for n, m in lifs if type(m) not in (neuron.LIFNode, Leaky)]
        if others:
            raise ValueError(
                f"StatefulStep supports LIFNode and Leaky only; found other stateful layers: {others}"
            )
        self.state_names = [n for n, _ in lifs]
        self.num_states = len(lifs)
        self._box = _StateBox(self.num_states)
        # Deep copy that shares parameters and buffers with `model`, then swap the neurons.
        memo = {id(t): t for t in list(model.parameters()) + list(model.buffers())}
        net = copy.deepcopy(model, memo)
        for slot, name in enumerate(self.state_names):
            parent_name, _, attr = name.rpartition(".")
            parent = net.get_submodule(parent_name) if parent_name else net
            node = getattr(parent, attr)
            explicit = ExplicitLeaky if isinstance(node, Leaky) else ExplicitLIF
            setattr(parent, attr, explicit(node, slot, self._box))
        self.net = net
        self._shapes: dict[tuple, list[tuple[int, ...]]] = {}

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """``(C_in, H, W)`` expected per frame (from the model's ``img_size``)."""
        from neuromoco.models.classifier import as_hw

        h, w = as_hw(self.net.model_kwargs.get("img_size", 128))
        return (self.net.in_channels, h, w)

    def _run(self, frame: torch.Tensor, states) -> tuple[torch.Tensor, list[torch.Tensor]]:
        box = self._box
        box.inputs = list(states) if states is not None else [None] * self.num_states
        box.outputs = [None] * self.num_states
        try:
            logits = self.net(frame.unsqueeze(0))[0]
            return logits, list(box.outputs)
        finally:
            box.inputs = [None] * self.num_states
            box.outputs = [None] * self.num_states

    def forward(self, frame: torch.Tensor, *states: torch.Tensor):
        """One time step: ``frame [N, C_in, H, W]`` and the states → ``(logits [N, C], *new_states)``
        (for a model with ``output_kind == "spikes"`` the first output holds its output spikes)."""
        if len(states) != self.num_states:
            raise ValueError(
                f"StatefulStep expects {self.num_states} state tensors, got {len(states)}"
            )
        logits, new = self._run(frame, states)
        return (logits, *new)

    def state_shapes(
        self, batch: int = 1, frame_shape: tuple[int, int, int] | None = None
    ) -> list[tuple[int, ...]]:
        """Shapes of the state tensors for ``batch`` samples (discovered once with a zero frame)."""
        fs = tuple(frame_shape or self.frame_shape)
        if fs not in self._shapes:
            p = next(self.net.parameters())
            with torch.no_grad():
                _, outs = self._run(torch.zeros((1, *fs), dtype=p.dtype, device=p.device), None)
            self._shapes[fs] = [tuple(o.shape[1:]) for o in outs]
        return [(int(batch), *s) for s in self._shapes[fs]]

    def init_state(self, batch: int = 1, device=None, frame_shape=None) -> list[torch.Tensor]:
        """Zero membrane potentials (the state at the start of a window)."""
        p = next(self.net.parameters())
        device = p.device if device is None else device
        return [
            torch.zeros(s, dtype=p.dtype, device=device)
            for s in self.state_shapes(batch, frame_shape)
        ]
