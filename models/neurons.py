"""Spiking neurons used by every architecture: spikingjelly 2.0 LIF in multi-step mode.

All models use ``LIFNode(tau=2.0, decay_input=True, v_reset=0.0, detach_reset=True)`` (the paper
replaces SEW-ResNet's PLIF by plain LIF). The membrane update, per time step ``t`` (hard reset):

    H[t] = V[t-1] + (X[t] - V[t-1]) / tau
    S[t] = (H[t] >= v_threshold)
    V[t] = S[t] * v_reset + (1 - S[t]) * H[t]

``neuromoco.models.stateful`` re-implements exactly these operations for the explicit-state
single-step graph; the tests check both agree to float tolerance.
"""

from __future__ import annotations

from neuromoco.models.spikingjelly_import import activation_based

_sj = activation_based()
neuron, surrogate = _sj.neuron, _sj.surrogate

SURROGATES = {
    "atan": lambda: surrogate.ATan(),  # alpha = 2 (SEW-ResNet's choice)
    "sigmoid": lambda: surrogate.Sigmoid(),  # alpha = 4 (Spikformer's choice)
}


def check_surrogate(name: str) -> str:
    if name not in SURROGATES:
        raise ValueError(f"surrogate must be one of {sorted(SURROGATES)}, got {name!r}")
    return name


def lif(surrogate_name: str = "atan", v_threshold: float = 1.0, tau: float = 2.0) -> neuron.LIFNode:
    """A multi-step LIF layer (inputs ``[T, N, ...]``) with the project's fixed settings."""
    return neuron.LIFNode(
        tau=float(tau),
        decay_input=True,
        v_threshold=float(v_threshold),
        v_reset=0.0,
        surrogate_function=SURROGATES[check_surrogate(surrogate_name)](),
        detach_reset=True,
        step_mode="m",
    )
