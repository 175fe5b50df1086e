"""Speed of the diffusion family, on the CPU.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/diffusion_speed.py [--reps 8] [--threads 1] [--skip-sampling]

1. One DDPM training step (forward, backward, Adam) of the genzoo UNet against diffusers' `UNet2DModel` with the same
   channels (32, 64, 64), one res block per level, attention at the lowest level, 28x28, batch 64, interleaved
   (A, B, A, B, ...) so both see the same machine load; median times. diffusers is optional (`pip install diffusers`).
2. DDIM with 50 steps against DDPM ancestral with 1,000 steps on the MNIST model saved by
   benchmarks/diffusion_mnist.py: wall time and a sample score (mean max-softmax of the project's MNIST classifier;
   see docs/models/diffusion.md for its limits).
Writes docs/results/diffusion/speed.json with machine, command and date.
"""

from __future__ import annotations

import argparse
import datetime
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "diffusion"


def train_step_fn(net, call, opt, T=1000):
    x = torch.rand(64, 1, 28, 28) * 2 - 1
    from genzoo.models.diffusion import NoiseSchedule

    sched = NoiseSchedule.linear(T)

    def step():
        k = torch.randint(0, T, (64,))
        eps = torch.randn_like(x)
        xk = sched.q_sample(x, k, eps)
        loss = F.mse_loss(call(net, xk, k), eps)
        opt.zero_grad()
        loss.backward()
        opt.step()

    return step


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--samples", type=int, default=32)
    ap.add_argument("--skip-sampling", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    res = {
        "machine": f"{platform.machine()} ({args.threads} torch threads, CPU shared with other jobs)",
        "command": "OMP_NUM_THREADS=1 .venv/bin/python " + " ".join(sys.argv),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "torch": torch.__version__,
    }
    from genzoo.nn.unet import UNet

    ours = UNet(1, 1, (32, 64, 64), num_res_blocks=1, attention=(False, False, True))
    res["genzoo_params"] = sum(p.numel() for p in ours.parameters())
    fns = {"genzoo": train_step_fn(ours, lambda n, x, k: n(x, (k + 1).float()), torch.optim.Adam(ours.parameters()))}
    try:
        from diffusers import UNet2DModel
    except ImportError:
        print("diffusers is not installed (optional 'bench' extra): `.venv/bin/pip install diffusers`; "
              "timing genzoo only", file=sys.stderr)
        UNet2DModel = None
    if UNet2DModel is not None:
        ref = UNet2DModel(sample_size=28, in_channels=1, out_channels=1, block_out_channels=(32, 64, 64),
                          layers_per_block=1, down_block_types=("DownBlock2D", "DownBlock2D", "AttnDownBlock2D"),
                          up_block_types=("AttnUpBlock2D", "UpBlock2D", "UpBlock2D"), norm_num_groups=8)
        res["diffusers_params"] = sum(p.numel() for p in ref.parameters())
        fns["diffusers"] = train_step_fn(ref, lambda n, x, k: n(x, k).sample, torch.optim.Adam(ref.parameters()))
    times = {k: [] for k in fns}
    for f in fns.values():  # warm-up
        f()
    for _ in range(args.reps):
        for name, f in fns.items():
            t = time.perf_counter()
            f()
            times[name].append(time.perf_counter() - t)
    for name, ts in times.items():
        res[f"train_step_s_{name}"] = round(statistics.median(ts), 4)
    if "diffusers" in times:
        res["train_step_speedup_vs_diffusers"] = round(res["train_step_s_diffusers"] / res["train_step_s_genzoo"], 3)
    print(json.dumps(res, indent=2), flush=True)

    model_dir = ROOT / "runs" / "diffusion_mnist" / "model"
    if not args.skip_sampling and model_dir.exists():
        from genzoo.eval.classifier import load_mnist_classifier
        from genzoo.models import load

        model = load(model_dir).eval()
        clf = load_mnist_classifier()
        for sampler, steps in (("ddim", 50), ("ddpm", 1000)):
            model.config.sampler, model.config.sample_steps = sampler, steps
            torch.manual_seed(3)
            t = time.perf_counter()
            s = model.sample(args.samples)
            res[f"{sampler}{steps}_seconds"] = round(time.perf_counter() - t, 1)
            with torch.no_grad():
                res[f"{sampler}{steps}_classifier_confidence"] = round(
                    torch.softmax(clf(s), -1).max(-1).values.mean().item(), 3)
        res["sampling_n"] = args.samples
        res["ddim_speedup"] = round(res["ddpm1000_seconds"] / res["ddim50_seconds"], 1)
        a, b = res["ddim50_classifier_confidence"], res["ddpm1000_classifier_confidence"]
        res["score_rel_diff"] = round(abs(a - b) / b, 3)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "speed.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
