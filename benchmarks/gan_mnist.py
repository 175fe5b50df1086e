"""DCGAN and PGGAN on MNIST-10k: a sample grid, classifier-based scores and FID-MNIST (genzoo.eval.mnist_scores).

    python benchmarks/gan_mnist.py --model dcgan --steps 3000 --minutes 12 --out docs/results/gans
    python benchmarks/gan_mnist.py --model pggan --steps 3000 --minutes 15 --out docs/results/gans

Trains on the 8,000 training images through genzoo.train.Trainer (stopping early at --minutes of training), then
writes {model}_mnist_samples.png (64 samples) and {model}_mnist.json with scores of 2,000 samples under the
project's MNIST classifier (genzoo.eval.classifier, 98.35% held-out accuracy): the mean max-softmax probability,
the fraction classified with probability >= 0.9 ("confident"), the class histogram and its KL to uniform, and
FID-MNIST against the 2,000 held-out digits. The same scores of the real held-out digits ("real_test") and the
FID-MNIST of 2,000 real training digits ("real_train_2000", the floor a perfect generator would reach with this
sample size) are stored as references.

PGGAN: 64 feature maps at 7x7, 32 at 14x14, 16 at 28x28 (min_channels 16); the schedule splits --steps into
stable 7x7, fade + stable 14x14, fade + stable 28x28 in the proportions 2 : 1+2 : 1+rest.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
from gan_common import load_mnist

from genzoo.analysis import save_image_grid
from genzoo.eval import mnist_scores
from genzoo.models import create
from genzoo.train import TrainConfig, Trainer

CONFIDENT = 0.9


def build(name: str, steps: int):
    if name == "pggan":
        unit = max(1, steps // 7)
        return create("pggan", channels=64, min_channels=16, fade_steps=unit, stable_steps=2 * unit)
    if name == "dcgan":
        return create("dcgan", width=32)
    return create(name, data_shape=(1, 28, 28), arch="dcgan", width=32)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="dcgan", choices=["dcgan", "pggan", "wgan-gp", "ns-gan", "sngan"])
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--minutes", type=float, default=None, help="stop training after this many minutes")
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="docs/results/gans")
    args = ap.parse_args()
    x, _, src = load_mnist("train")
    xt, _, _ = load_mnist("test")
    model = build(args.model, args.steps)
    tr = Trainer(model, x, TrainConfig(steps=args.steps, batch_size=args.batch_size, seed=args.seed, progress=False,
                                       log_every=100, device=args.device), out_dir=None)
    t0 = time.perf_counter()
    deadline = t0 + 60 * args.minutes if args.minutes else None
    chunk = 50
    while tr.step < args.steps:
        tr.fit(stop_at=min(args.steps, tr.step + chunk))
        if deadline is not None and time.perf_counter() > deadline:
            break
    secs = time.perf_counter() - t0
    model.eval()
    torch.manual_seed(123)
    s = torch.cat([model.sample(500).cpu() for _ in range(4)])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_image_grid(s[:64], out / f"{args.model}_mnist_samples.png", nrow=8)
    res = {"model": args.model, "steps_planned": args.steps, "steps_done": tr.step, "batch_size": args.batch_size,
           "seed": args.seed, "train_seconds": round(secs, 1), "minutes_limit": args.minutes, "data": src,
           "config": {k: list(v) if isinstance(v, tuple) else v for k, v in vars(model.config).items()},
           "samples": mnist_scores(s, reference=xt, confident=CONFIDENT),
           "real_test": mnist_scores(xt, confident=CONFIDENT),
           "real_train_2000": mnist_scores(x[:2000], reference=xt, confident=CONFIDENT),  # FID-MNIST yardstick
           "confident_threshold": CONFIDENT, "extra_state": model.extra_state(),
           "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} thread(s), "
                      f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')}",
           "torch": torch.__version__, "date": datetime.date.today().isoformat(),
           "command": "python benchmarks/gan_mnist.py " + " ".join(sys.argv[1:])}
    print(json.dumps(res))
    (out / f"{args.model}_mnist.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
