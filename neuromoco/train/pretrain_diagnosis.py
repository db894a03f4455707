"""The thorough check of a finished NeuroMoCo pretraining run.

:func:`diagnose_run` loads the run's full NeuroMoCo state (both encoders, projection heads, queue)
from its ``last.pt`` and measures, on a batch of its own training data per part (procedural /
real unlabelled for the mixed set):

* the queue: fill, refills, mean pairwise cosine of the stored keys; the key encoder's lag and the
  share of its random initialisation still in it (``m^steps``);
* the two views: how much event mass they share (augmentation strength);
* agreement: positive / negative cosines, contrastive top-1 against the queue and the batch;
* time alignment: query step ``t`` against the keys of every step ``t'``;
* collapse (eval mode, what finetuning starts from): spread and effective rank
  (:mod:`neuromoco.train.diagnostics`) of projections and backbone features, the share of
  silent features, and the same for a random network, before and after BatchNorm calibration.
"""

from __future__ import annotations

from pathlib import Path

import torch

from neuromoco.train.diagnostics import effective_rank, queue_fill, spread
from neuromoco.train.probe import calibrate_batchnorm


def _batch(ds, n: int, seed: int) -> torch.Tensor:
    """``n`` samples of ``ds`` drawn with ``seed``: frames ``[N, T, 2, H, W]`` (float)."""
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(ds), generator=g)[:n].tolist()
    xs = [ds[i][0] for i in idx]
    return torch.stack(xs).float()  # [N, T, 2, H, W]


def diagnose_run(run_dir: str | Path, n: int = 64) -> dict:
    """Checks on one pretraining run (its ``last.pt`` full NeuroMoCo state) with ``n`` samples
    per data part; returns the numbers as a JSON-ready dict (keys: see the module docstring)."""
    from neuromoco.augment import TwoViews, make_policy
    from neuromoco.models.checkpoint import load_checkpoint
    from neuromoco.models.registry import create_model
    from neuromoco.train.datasets import build_split
    from neuromoco.train.pretrain import backbone_kwargs, moco_from_recipe
    from neuromoco.train.recipe import load_recipe

    run_dir = Path(run_dir)
    missing = [f for f in ("recipe.toml", "last.pt") if not (run_dir / f).is_file()]
    if missing:
        raise FileNotFoundError(
            f"{run_dir}: not a pretraining run folder (no {', '.join(missing)})"
        )
    cfg = load_recipe(run_dir / "recipe.toml")
    if cfg["run"]["task"] != "pretrain":
        raise ValueError(f"{run_dir}: a {cfg['run']['task']!r} run, not a pretraining run")
    m, mc, d = cfg["model"], cfg["moco"], cfg["data"]
    torch.manual_seed(0)
    moco = moco_from_recipe(cfg)
    ck = load_checkpoint(run_dir / "last.pt", map_location="cpu")
    tr = ck.extra["trainer"]
    moco.load_state_dict(tr["module"], strict=True)
    steps = int(tr["global_step"])
    B, L = cfg["optim"]["batch_size"], mc["queue_size"]
    out: dict = {
        "run": str(run_dir),
        "steps": steps,
        "batch": B,
        "queue_size": L,
        "momentum": mc["momentum"],
        "tau": mc["tau"],
        "keys_enqueued": steps * B,
        "queue_fill": queue_fill(steps, B, L),
        "queue_refills": steps * B / L,
        # a key encoder that lags 1/(1-m) steps behind the query encoder
        "key_encoder_lag_steps": 1 / (1 - mc["momentum"]),
        # weight of the random initialisation still in the key (exported) encoder: m^steps
        "key_encoder_init_share": mc["momentum"] ** steps,
    }
    q = moco.queue  # [T, L, C]
    qq = torch.einsum("tlc,tmc->tlm", q, q)
    off = ~torch.eye(L, dtype=torch.bool)
    out["queue_mean_pairwise_cos"] = float(qq[:, off].mean())
    # how far the key encoder is from the query encoder (parameters)
    dq = torch.cat([p.detach().flatten() for p in moco.query_parameters()])
    dk = torch.cat([p.detach().flatten() for p in moco.key_parameters()])
    out["key_query_param_rel_diff"] = float((dq - dk).norm() / dq.norm())

    policy = make_policy(d["augment"])
    views = TwoViews(policy)
    parts = {}
    if d["name"] == "mixed":
        from torch.utils.data import Subset

        ds = build_split(cfg, "train")
        # MixedUnlabeled: procedural first, then the real segments (its `parts` lists the lengths);
        # with data.subset it comes wrapped in a Subset of its first samples
        mixed, index = (ds.dataset, ds.indices) if isinstance(ds, Subset) else (ds, range(len(ds)))
        n_proc, n_real = [ln for _, ln in mixed.parts][:2] + [0] * (2 - len(mixed.parts[:2]))
        for name, lo, hi in (
            ("procedural", 0, n_proc),
            ("real_unlabelled", n_proc, n_proc + n_real),
        ):
            picked = [i for i, j in enumerate(index) if lo <= j < hi]
            if picked:
                parts[name] = Subset(ds, picked)
    else:
        parts["procedural"] = build_split(cfg, "train")
    rand_bb = create_model(m["arch"], **backbone_kwargs(cfg))
    for pname, ds in parts.items():
        x = _batch(ds, min(n, len(ds)), 0)  # [N, T, 2, H, W]
        g = torch.Generator().manual_seed(1)
        xq, xk = views(x, generator=g)
        r: dict = {"n": x.shape[0]}
        # augmentation strength at the input: share of event mass the two views have in common
        inter = torch.minimum(xq, xk).sum((1, 2, 3, 4))
        r["view_overlap_events"] = float((inter / xq.sum((1, 2, 3, 4)).clamp_min(1)).mean())
        with torch.no_grad():
            moco.train()  # as in training: BatchNorm on batch statistics
            qv = moco.encode_query(xq.transpose(0, 1))  # [T, N, C]
            kv = moco.encode_keys(xk.transpose(0, 1))
            k_same = moco.encode_keys(xq.transpose(0, 1))
            T = qv.shape[0]
            pos = torch.einsum("tnc,tnc->tn", qv, kv)
            neg_q = torch.einsum("tnc,tlc->tnl", qv, q)
            inb = torch.einsum("tnc,tmc->tnm", qv, kv)
            eye = torch.eye(qv.shape[1], dtype=torch.bool)
            r["pos_cos"] = float(pos.mean())
            r["pos_cos_same_input"] = float(torch.einsum("tnc,tnc->tn", qv, k_same).mean())
            r["neg_cos_queue"] = float(neg_q.mean())
            r["neg_cos_in_batch"] = float(inb[:, ~eye].mean())
            # contrastive top-1 against the queue and against the other samples of the batch
            r["top1_vs_queue"] = float((pos.unsqueeze(-1) > neg_q).all(-1).float().mean())
            # the training log's measure: logits averaged over the T steps, then argmax
            tmean = torch.cat([pos.unsqueeze(-1), neg_q], -1).mean(0)
            r["top1_vs_queue_tmean"] = float((tmean.argmax(-1) == 0).float().mean())
            r["top1_in_batch"] = float((inb.argmax(-1) == torch.arange(qv.shape[1])).float().mean())
            # time alignment: q_t against the keys of every step t' of the same sample
            tt = torch.einsum("tnc,snc->tsn", qv, kv).mean(-1)  # [T, T]
            r["time_cos_same_step"] = float(tt.diagonal().mean())
            r["time_cos_other_step"] = float(tt[~torch.eye(T, dtype=torch.bool)].mean())
            r["time_top1_step"] = float(
                (torch.einsum("tnc,snc->nts", qv, kv).argmax(-1) == torch.arange(T)).float().mean()
            )
            # collapse: projections and backbone features, eval mode (what finetuning starts from),
            # with the saved BatchNorm statistics (the train-mode passes above moved them)
            moco.load_state_dict(tr["module"], strict=True)
            moco.eval()
            feats = moco.encoder_k.forward_features(x.transpose(0, 1))  # [T, N, D]
            z = torch.nn.functional.normalize(moco.head_k(feats), dim=2)
            fm = feats.mean(0)  # [N, D] time-averaged spike rates
            r["proj_spread"] = spread(z[-1])
            r["proj_eff_rank"] = effective_rank(z[-1])
            r["proj_dim"] = z.shape[-1]
            r["feat_spread"] = spread(fm)
            r["feat_eff_rank"] = effective_rank(fm)
            r["feat_dim"] = fm.shape[1]
            r["feat_nonzero"] = float((fm > 0).float().mean())
            r["feat_std_over_batch"] = float(fm.std(0).mean())
            # a random network, eval mode: default BatchNorm statistics, then calibrated on x
            rand_bb.eval()
            fr = rand_bb.forward_features(x.transpose(0, 1)).mean(0)
            r["random_feat_nonzero"] = float((fr > 0).float().mean())
            calibrate_batchnorm(rand_bb, [(xi, 0) for xi in x], seed=0, batch_size=len(x))
            rand_bb.eval()
            fr = rand_bb.forward_features(x.transpose(0, 1)).mean(0)
            r["random_calib_feat_nonzero"] = float((fr > 0).float().mean())
            r["random_calib_feat_spread"] = spread(fr) if float(fr.abs().sum()) > 0 else 0.0
            r["random_calib_feat_eff_rank"] = effective_rank(fr)
        out[pname] = r
    return out
