"""snnTorch's ``Leaky`` neuron, re-implemented operation for operation (no snntorch at run time).

Read from snntorch 1.0.0's source (``snntorch/_neurons/leaky.py`` and ``neurons.py``), for the
settings NeuroBench's DVS128 Gesture model uses (``reset_delay=True``, no inhibition, no state
quantisation). One time step, from the membrane ``U[t-1]`` of the previous step (zero at the
start of a trial) and the input current ``I[t]``::

    R[t]   = ((U[t-1] − θ) > 0)                       # reset signal from the PREVIOUS membrane
    subtract: U[t] = (clamp(β, 0, 1)·U[t-1] + I[t]) − R[t]·θ
    zero:     U[t] =  clamp(β, 0, 1)·((1 − R[t])·U[t-1]) + I[t]
    none:     U[t] =  clamp(β, 0, 1)·U[t-1] + I[t]
    S[t]   = ((U[t] − θ) > 0) · g                     # strict '>': U == θ does not spike

with per-layer constants ``β`` (``beta``, clamped to [0, 1] on every step, as snnTorch does),
``θ`` (``threshold``, not clamped) and ``g`` (``graded_spikes_factor``). The reset of a spike is
therefore applied one step later (snnTorch's ``reset_delay=True``): the membrane returned with
``S[t] = 1`` is still above the threshold. The spike is the Heaviside step of the shifted
membrane, as ``snntorch.surrogate.ATan.forward`` computes it (the surrogate only changes
gradients). The comparisons are written as ``(U − θ) > 0``, the exact float operations of
snnTorch (for IEEE floats this equals ``U > θ``).

``Leaky`` is multi-step: ``forward(x [T, N, ...]) -> spikes [T, N, ...]``, starting from a zero
membrane on every call (no state leaks between calls). ``step(x [N, ...], mem) -> (spikes, mem)``
is the single-step update that ``neuromoco.models.stateful`` uses with explicit state.
"""

from __future__ import annotations

import torch
from torch import nn

RESET_MECHANISMS = ("subtract", "zero", "none")
"""Index = snnTorch's ``reset_mechanism_val`` (0 subtract, 1 zero, 2 none)."""


def reset_mechanism_name(value: int | str) -> str:
    """snnTorch's ``reset_mechanism_val`` (0/1/2) or name → the name; ``ValueError`` otherwise."""
    if isinstance(value, str):
        if value not in RESET_MECHANISMS:
            raise ValueError(f"reset_mechanism must be one of {RESET_MECHANISMS}, got {value!r}")
        return value
    v = int(value)
    if not 0 <= v < len(RESET_MECHANISMS):
        raise ValueError(f"reset_mechanism_val must be 0, 1 or 2, got {value!r}")
    return RESET_MECHANISMS[v]


class Leaky(nn.Module):
    """First-order leaky integrate-and-fire neuron with snnTorch's exact forward semantics.

    Args:
        beta: membrane decay per step (clamped to [0, 1] when used).
        threshold: firing threshold θ.
        reset_mechanism: ``"subtract"``, ``"zero"`` or ``"none"`` (or snnTorch's 0/1/2).
        graded_spikes_factor: spike amplitude g.

    ``beta``, ``threshold`` and ``graded_spikes_factor`` are 0-d float32 buffers (snnTorch's
    state-dict entries of the same names load into them); the reset mechanism is a constructor
    setting (a Python branch, so the exported graph has no data-dependent control flow).
    """

    def __init__(
        self,
        beta: float = 0.9,
        threshold: float = 1.0,
        reset_mechanism: str | int = "subtract",
        graded_spikes_factor: float = 1.0,
    ):
        super().__init__()
        self.reset_mechanism = reset_mechanism_name(reset_mechanism)
        self.register_buffer("beta", torch.tensor(float(beta), dtype=torch.float32))
        self.register_buffer("threshold", torch.tensor(float(threshold), dtype=torch.float32))
        self.register_buffer(
            "graded_spikes_factor", torch.tensor(float(graded_spikes_factor), dtype=torch.float32)
        )

    def step(self, x: torch.Tensor, mem: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One time step: input current ``x`` and the previous membrane ``mem`` (same shape) →
        ``(spikes, new_mem)``."""
        thr = self.threshold
        reset = ((mem - thr) > 0).to(x.dtype)
        beta = self.beta.clamp(0, 1)
        if self.reset_mechanism == "subtract":
            new = (beta * mem + x) - reset * thr
        elif self.reset_mechanism == "zero":
            new = beta * ((1 - reset) * mem) + x
        else:
            new = beta * mem + x
        spk = ((new - thr) > 0).to(x.dtype) * self.graded_spikes_factor
        return spk, new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Spikes ``[T, N, ...]`` of input currents ``[T, N, ...]``, from a zero membrane."""
        mem = torch.zeros_like(x[0])
        out = []
        for t in range(x.shape[0]):
            spk, mem = self.step(x[t], mem)
            out.append(spk)
        return torch.stack(out)

    def extra_repr(self) -> str:
        return (
            f"beta={float(self.beta):.6g}, threshold={float(self.threshold):.6g}, "
            f"reset_mechanism={self.reset_mechanism!r}, "
            f"graded_spikes_factor={float(self.graded_spikes_factor):.6g}"
        )
