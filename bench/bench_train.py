"""Training throughput (samples/s) per model: a NeuroMoCo pretraining step vs a supervised step.

One recipe's shapes (``recipes/pretrain_procedural_cpu.toml``: T = 8, 32×32, batch 16) on the
CPU for the small models; on CUDA (when present) also the paper's models at T = 16, 128×128,
batch 32 with AMP. Inputs are random event counts already on the device (data loading and
augmentation excluded: this measures the model + method). A pretraining step = query forward +
backward + key forward + momentum update + queue; a supervised step = forward + backward (MAC).
The ratio pretrain/supervised time is the method's overhead measured in the same run.
"""

from __future__ import annotations

import statistics
import time

import torch


def _time_steps(step, warmup: int, reps: int, sync) -> float:
    for _ in range(warmup):
        step()
    times = []
    for _ in range(reps):
        sync()
        t = time.perf_counter()
        step()
        sync()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bench_model(
    arch: str,
    T: int,
    size: int,
    batch: int,
    device: torch.device,
    reps: int,
    kwargs: dict | None = None,
) -> dict:
    from neuromoco.losses import mac_loss, mix_infonce
    from neuromoco.moco import NeuroMoCo
    from neuromoco.models.registry import create_model

    kwargs = kwargs or {}
    amp = device.type == "cuda"
    sync = torch.cuda.synchronize if amp else (lambda: None)
    torch.manual_seed(0)
    x = (torch.rand(T, batch, 2, size, size, device=device) < 0.1).float()
    y = torch.randint(0, 11, (batch,), device=device)
    scaler = torch.amp.GradScaler("cuda", enabled=amp)

    sup = create_model(arch, num_classes=11, img_size=size, **kwargs).to(device)
    opt = torch.optim.SGD(sup.parameters(), lr=0.01, momentum=0.9)

    def sup_step():
        with torch.autocast(device.type, enabled=amp):
            loss = mac_loss(sup(x).float(), y)
        opt.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()

    moco = NeuroMoCo(
        create_model(arch, num_classes=0, img_size=size, **kwargs),
        T=T,
        dim=128,
        queue_size=max(4096 // batch, 1) * batch,
    ).to(device)
    opt2 = torch.optim.SGD(moco.query_parameters(), lr=0.03, momentum=0.9)
    x2 = torch.roll(x, 1, dims=-1)

    def pre_step():
        with torch.autocast(device.type, enabled=amp):
            out = moco(x, x2)
            loss = mix_infonce(out.logits.float(), out.target)
        opt2.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(opt2)
        scaler.update()

    t_sup = _time_steps(sup_step, 2, reps, sync)
    t_pre = _time_steps(pre_step, 2, reps, sync)
    return {
        "arch": arch,
        "T": T,
        "size": size,
        "batch": batch,
        "device": str(device),
        "amp": amp,
        "sup": batch / t_sup,
        "pre": batch / t_pre,
        "ratio": t_pre / t_sup,
        "params": sum(p.numel() for p in sup.parameters()),
    }


def main(quick: bool = False) -> str:
    torch.set_num_threads(max(torch.get_num_threads(), 1))
    cpu = torch.device("cpu")
    reps = 3 if quick else 10
    cases = [("lif_convnet4", 8, 32, 16, cpu, {}), ("sew_resnet_tiny", 8, 32, 16, cpu, {})]
    if not quick:
        cases.append(("spikformer_tiny", 8, 32, 16, cpu, {}))
    if torch.cuda.is_available():
        gpu = torch.device("cuda")
        cases += [
            ("sew_resnet18", 16, 128, 32, gpu, {}),
            ("spikformer_2_256", 16, 128, 32, gpu, {}),
        ]
    rows = [bench_model(a, T, s, b, d, reps, kw) for a, T, s, b, d, kw in cases]
    lines = [
        f"Training throughput ({'quick' if quick else 'full'} run, torch {torch.__version__}, "
        f"{torch.get_num_threads()} CPU threads"
        + (f", {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ", no GPU")
        + "); "
        "median of timed steps, random inputs on the device, data loading excluded.",
        "",
        "| model | params | device | T | size | batch | supervised step (samples/s) | "
        "NeuroMoCo step (samples/s) | NeuroMoCo / supervised time |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['arch']} | {r['params'] / 1e6:.2f} M | {r['device']}{' AMP' if r['amp'] else ''} | "
            f"{r['T']} | {r['size']}² | {r['batch']} | {r['sup']:.1f} | {r['pre']:.1f} | "
            f"{r['ratio']:.2f}× |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(main())
