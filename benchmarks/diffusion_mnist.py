"""DDPM on MNIST-10k (8,000 train / 2,000 held out), on the CPU, within a wall-clock budget.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/diffusion_mnist.py --minutes 60        # the documented target
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/diffusion_mnist.py --minutes 8 --threads 1   # a short run

UNet channels (32, 64, 64), attention at 7x7, linear schedule T = 1000, eps-prediction, L_simple, Adam with an
EMA of the weights (decay 0.999; the Trainer's job in the library, done inline here so the benchmark stands alone).
Writes docs/results/diffusion/mnist.json (machine, command, date, steps, loss, held-out VLB bits/dim, sample
recognisability by the project's MNIST classifier) and mnist_samples.png (DDIM-50 samples of the EMA model), and
saves the EMA model to runs/diffusion_mnist/model for benchmarks/diffusion_speed.py.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "diffusion"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60.0, help="training wall-clock budget")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=5e-4)
    ap.add_argument("--vlb-steps", type=int, default=20, help="stratified VLB timesteps (0: all 1000)")
    ap.add_argument("--eval-n", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    from genzoo.data import get
    from genzoo.eval.classifier import load_mnist_classifier
    from genzoo.models import Batch, create

    train, test = get("mnist", "train"), get("mnist", "test")
    model = create("ddpm", data_shape=(1, 28, 28), channels=(32, 64, 64), timesteps=1000, sampler="ddim",
                   sample_steps=50, vlb_steps=args.vlb_steps)
    ema = copy.deepcopy(model).eval()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    x_all = train.x
    n = x_all.shape[0]
    t0, step, losses = time.time(), 0, []
    while time.time() - t0 < args.minutes * 60:
        idx = torch.randint(0, n, (args.batch,))
        loss = model.loss(Batch(x_all[idx]))["loss"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        d = min(0.999, (1 + step) / (10 + step))  # EMA with warm-up
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - d)
        losses.append(loss.item())
        step += 1
        if step % 200 == 0:
            print(f"step {step}  loss {sum(losses[-200:]) / 200:.4f}  {time.time() - t0:.0f}s", flush=True)
    train_s = time.time() - t0
    ema.save(ROOT / "runs" / "diffusion_mnist" / "model")

    t1 = time.time()
    torch.manual_seed(1)
    with torch.no_grad():
        bpd = ema.bits_per_dim(test.x[: args.eval_n])
    eval_s = time.time() - t1
    t2 = time.time()
    torch.manual_seed(2)
    samples = ema.sample(100)
    sample_s = time.time() - t2
    clf = load_mnist_classifier()
    with torch.no_grad():
        conf = torch.softmax(clf(samples), -1).max(-1).values
    from diffusion_grid import save_grid

    save_grid(samples[:64], OUT / "mnist_samples.png")
    res = {
        "machine": f"{platform.machine()} {platform.processor() or ''} ({torch.get_num_threads()} torch threads, "
                   "CPU shared with other jobs)".strip(),
        "command": "OMP_NUM_THREADS=1 .venv/bin/python " + " ".join(sys.argv),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "train_minutes": round(train_s / 60, 2),
        "steps": step,
        "batch": args.batch,
        "final_loss_avg200": round(sum(losses[-200:]) / max(1, len(losses[-200:])), 4),
        "heldout_n": int(bpd.shape[0]),
        "vlb_bpd_heldout": round(bpd.mean().item(), 3),
        "vlb_bpd_se": round((bpd.std() / bpd.shape[0] ** 0.5).item(), 3),
        "vlb_steps": args.vlb_steps,
        "vlb_eval_seconds": round(eval_s, 1),
        "ddim50_seconds_per_100": round(sample_s, 1),
        "classifier_confidence_mean": round(conf.mean().item(), 3),
        "classifier_confident_frac_0.9": round((conf > 0.9).float().mean().item(), 3),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "mnist.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
