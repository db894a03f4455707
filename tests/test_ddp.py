"""Two-process gloo run under torchrun: keys of both ranks reach the queue, shuffle-BN returns each
rank its own keys, and the full pretrain/finetune engine runs under DDP."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[1]

WORKER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import torch
    from torch.utils.data import Dataset

    from neuromoco.moco import NeuroMoCo
    from neuromoco.models.registry import create_model
    from neuromoco.train.distributed import setup_distributed

    out = Path(sys.argv[1])
    ctx = setup_distributed("cpu")
    r = ctx.rank
    torch.manual_seed(0)  # same initial weights on both ranks
    m = NeuroMoCo(create_model("lif_convnet4", num_classes=0, img_size=16, widths=[4, 4, 8, 8]),
                  T=3, dim=4, queue_size=8)
    g = torch.Generator().manual_seed(100 + r)  # different data on each rank
    xq, xk = torch.rand(3, 2, 2, 16, 16, generator=g), torch.rand(3, 2, 2, 16, 16, generator=g)
    out_train = m(xq, xk)
    # eval mode: BN uses running statistics, so the shuffled key encoder must give exactly the
    # keys of this rank's own samples
    m.eval()
    out_eval = m(xq, xk)
    with torch.no_grad():
        k_local = torch.nn.functional.normalize(m.head_k(m.encoder_k.forward_features(xk)), dim=2)
    torch.save({"k_train": out_train.k, "k_eval": out_eval.k, "k_local": k_local,
                "queue": m.queue.clone(), "ptr": int(m.queue_ptr)}, out / f"moco{r}.pt")
    torch.distributed.barrier()

    class Synth(Dataset):
        class_names = ["a", "b"]

        def __init__(self, n):
            gg = torch.Generator().manual_seed(n)
            self.x = torch.rand(n, 3, 2, 16, 16, generator=gg)
            self.targets = [i % 2 for i in range(n)]
            for i, c in enumerate(self.targets):
                self.x[i, :, c, 4:8, 4:8] += 2

        def __len__(self):
            return len(self.targets)

        def __getitem__(self, i):
            return self.x[i], self.targets[i]

    from neuromoco.train.finetune import run_finetune
    from neuromoco.train.pretrain import run_pretrain
    from neuromoco.train.recipe import load_recipe

    common = ["data.T=3", "data.size=[16,16]", "model.kwargs.widths=[4,4,8,8]", "run.device=cpu",
              "run.progress=false", "optim.batch_size=4", "run.epochs=1"]
    pre = load_recipe(None, common + ["run.task=pretrain", "moco.queue_size=8"])
    res = run_pretrain(pre, out / "pre", train_ds=Synth(8))
    ft = load_recipe(None, common + [f'finetune.pretrained="{out / "pre" / "last.pt"}"'])
    res2 = run_finetune(ft, out / "ft", train_ds=Synth(8), val_ds=Synth(5))
    torch.save({"pre_steps": res["global_step"], "val": res2["last_val"]}, out / f"engine{r}.pt")
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.timeout(300)
def test_two_process_gloo(tmp_path):
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    cmd = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--nproc_per_node=2",
        f"--master_port={_free_port()}",
        str(script),
        str(tmp_path),
    ]
    p = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=280)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    a, b = (torch.load(tmp_path / f"moco{r}.pt") for r in (0, 1))
    # every rank holds the same queue: rank 0's keys then rank 1's, for both steps (4 per step)
    assert torch.equal(a["queue"], b["queue"])
    q = a["queue"]
    assert torch.equal(q[:, 0:2], a["k_train"]) and torch.equal(q[:, 2:4], b["k_train"])
    assert torch.equal(q[:, 4:6], a["k_eval"]) and torch.equal(q[:, 6:8], b["k_eval"])
    assert a["ptr"] == b["ptr"] == 0  # 2 steps × 4 global keys wrap a queue of 8
    for d in (a, b):  # shuffle-BN unshuffles: each rank gets the keys of its own samples
        assert torch.allclose(d["k_eval"], d["k_local"], atol=1e-6)
    e0, e1 = torch.load(tmp_path / "engine0.pt"), torch.load(tmp_path / "engine1.pt")
    assert e0["pre_steps"] == e1["pre_steps"] == 2  # 8 samples / global batch 4
    assert e0["val"] == e1["val"] and e0["val"]["n"] == 5  # sharded eval counts every sample once
    assert (tmp_path / "pre" / "last.pt").exists() and (tmp_path / "ft" / "best.pt").exists()
