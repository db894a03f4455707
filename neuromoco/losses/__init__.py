"""Losses, one per file (lightly-style). Every function takes per-step tensors ``[T, N, ...]``.

* :func:`mbc_loss` — CE of the time-averaged logits (NeuroMoCo Eq. 3).
* :func:`mac_loss` — mean over time of the per-step CE (NeuroMoCo Eq. 4; TET's main term).
* :func:`mix_infonce` — ``α·MBC + β·MAC``, ``α + β = 1`` (NeuroMoCo Eq. 5).
* :func:`infonce_loss` — plain MoCo InfoNCE on time-averaged embeddings (baseline).
* :func:`tcl_loss`, :func:`temporal_contrastive_loss` — TCL (temporal supervised contrast).
* :func:`stcl_loss` — STCL (two views).
* :func:`tet_loss` — TET with its MSE regulariser.

Argument checks never force a GPU→CPU sync: shapes and dtypes are always checked, tensor values
(class indices in range) on CPU always and on accelerators only with ``NEUROMOCO_DEBUG_CHECKS=1``
or :func:`set_debug_checks` (see :mod:`neuromoco.losses._check`).

This module imports torch (the losses are torch code); the CLI imports it only inside ``run``.
"""

from neuromoco.losses._check import DEBUG_CHECKS_ENV, debug_checks, set_debug_checks
from neuromoco.losses.infonce import infonce_logits, infonce_loss
from neuromoco.losses.mac import mac_loss
from neuromoco.losses.mbc import mbc_loss
from neuromoco.losses.mix_infonce import mix_infonce
from neuromoco.losses.stcl import stcl_loss
from neuromoco.losses.tcl import tcl_loss, temporal_contrastive_loss
from neuromoco.losses.tet import tet_loss

__all__ = [
    "DEBUG_CHECKS_ENV",
    "debug_checks",
    "set_debug_checks",
    "infonce_logits",
    "infonce_loss",
    "mac_loss",
    "mbc_loss",
    "mix_infonce",
    "stcl_loss",
    "tcl_loss",
    "temporal_contrastive_loss",
    "tet_loss",
]
