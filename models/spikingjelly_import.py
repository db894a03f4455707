"""The one door to spikingjelly (the LIF neurons of the project's own architectures).

spikingjelly is installed on purpose without its dependencies (``pip install --no-deps
spikingjelly==2.0.0``: its requirements would replace a CPU torch with a CUDA build). Reading,
converting and ONNX inference never need it; building or training a spikingjelly model does.
Where it is missing, importing such a model fails with one line that says how to install it,
instead of a bare ``ModuleNotFoundError``.
"""

from __future__ import annotations

INSTALL_HINT = "pip install --no-deps spikingjelly==2.0.0"


def activation_based():
    """``spikingjelly.activation_based`` with ``base``, ``neuron``, ``surrogate`` and
    ``functional`` loaded; ``ImportError`` with the install command when it is missing."""
    try:
        import spikingjelly.activation_based.base
        import spikingjelly.activation_based.functional
        import spikingjelly.activation_based.neuron
        import spikingjelly.activation_based.surrogate  # noqa: F401
    except ImportError as e:
        raise ImportError(
            f"this model needs spikingjelly, which is not installed ({e}); "
            f"install it with: {INSTALL_HINT}"
        ) from None
    return spikingjelly.activation_based
