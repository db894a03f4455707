"""Training: recipes, the shared loop, NeuroMoCo pretraining, finetuning, evaluation, experiments.

One concept per module (import them explicitly; this file imports nothing, so the CLI stays fast):

* :mod:`~neuromoco.train.recipe` — TOML recipes + typed ``--set`` overrides.
* :mod:`~neuromoco.train.engine` — the loop: DDP, AMP, logs, atomic last/best checkpoints, exact resume.
* :mod:`~neuromoco.train.pretrain` / :mod:`~neuromoco.train.finetune` — the two tasks.
* :mod:`~neuromoco.train.evaluate` — top-1 (``evaluate_checkpoint``: of a checkpoint on a split),
  latency curve, confusion matrix, firing rates, plots.
* :mod:`~neuromoco.train.experiment` — recipes × seeds × overrides: pretrain → finetune → evaluate,
  resumable from each run's ``result.json``.
* :mod:`~neuromoco.train.probe` — linear probe, the BatchNorm-calibrated random-encoder baseline,
  few-label plans (``neuromoco probe``).
* :mod:`~neuromoco.train.diagnostics` — collapse and queue numbers logged while pretraining
  (effective rank, spread, queue fill); :mod:`~neuromoco.train.pretrain_diagnosis` — the thorough
  offline check of a finished pretraining run.
* :mod:`~neuromoco.train.datasets`, :mod:`~neuromoco.train.schedule`, :mod:`~neuromoco.train.state`,
  :mod:`~neuromoco.train.distributed`, :mod:`~neuromoco.train.log` — the pieces they share.
"""
