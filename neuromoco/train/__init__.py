"""Training: recipes, the shared loop, NeuroMoCo pretraining, finetuning, evaluation.

One concept per module (import them explicitly; this file imports nothing, so the CLI stays fast):

* :mod:`~neuromoco.train.recipe` — TOML recipes + typed ``--set`` overrides.
* :mod:`~neuromoco.train.engine` — the loop: DDP, AMP, logs, atomic last/best checkpoints, exact resume.
* :mod:`~neuromoco.train.pretrain` / :mod:`~neuromoco.train.finetune` — the two tasks.
* :mod:`~neuromoco.train.evaluate` — top-1, latency curve, confusion matrix, firing rates, plots.
* :mod:`~neuromoco.train.datasets`, :mod:`~neuromoco.train.schedule`, :mod:`~neuromoco.train.state`,
  :mod:`~neuromoco.train.distributed`, :mod:`~neuromoco.train.log` — the pieces they share.
"""
