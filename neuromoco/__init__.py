"""NeuroMoCo: momentum-contrast pretraining of spiking neural networks on event-camera data.

This file stays light on purpose: `neuromoco --help` and `neuromoco info` must start in well under a
second, so nothing here imports torch, Qt or the event decoders. Import submodules explicitly:
`neuromoco.events`, `neuromoco.framing`, `neuromoco.models`, `neuromoco.streaming`, ...
"""

__version__ = "0.1.0"
