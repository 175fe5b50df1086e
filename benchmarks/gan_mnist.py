"""DCGAN and PGGAN on MNIST-10k (short budget): sample grids, stacked-free mode check, FID-free sanity numbers.

    python benchmarks/gan_mnist.py --model dcgan --steps 1500 --out docs/results/gans
    python benchmarks/gan_mnist.py --model pggan --steps 1500 --out docs/results/gans

Trains on the 8,000 training images through genzoo.train.Trainer, then writes {model}_mnist_samples.png (64
samples) and {model}_mnist.json: steps, seconds, and the class histogram of 2,000 samples under the project's
MNIST classifier (classes covered, KL to uniform, mean max-softmax confidence), a cheap quality/diversity check.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time
from pathlib import Path

import torch
from gan_common import load_mnist

from genzoo.analysis import save_image_grid
from genzoo.eval.modes import kl_to_uniform
from genzoo.models import create
from genzoo.train import TrainConfig, Trainer


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="dcgan", choices=["dcgan", "pggan", "wgan-gp", "ns-gan", "sngan"])
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="docs/results/gans")
    args = ap.parse_args()
    x, _, src = load_mnist("train")
    if args.model == "pggan":
        per = max(1, args.steps // 5)  # 7x7 stable, fade+stable 14x14, fade+stable 28x28 (last stage open-ended)
        model = create("pggan", channels=64, fade_steps=per, stable_steps=per)
    elif args.model == "dcgan":
        model = create("dcgan", width=32)
    else:
        model = create(args.model, data_shape=(1, 28, 28), arch="dcgan", width=32)
    t0 = time.perf_counter()
    tr = Trainer(model, x, TrainConfig(steps=args.steps, batch_size=args.batch_size, seed=args.seed, progress=False,
                                       log_every=100, device=args.device), out_dir=None)
    tr.fit()
    secs = time.perf_counter() - t0
    model.eval()
    torch.manual_seed(123)
    s = torch.cat([model.sample(500).cpu() for _ in range(4)])
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    save_image_grid(s[:64], out / f"{args.model}_mnist_samples.png", nrow=8)
    from genzoo.eval.classifier import load_mnist_classifier

    clf = load_mnist_classifier()
    with torch.no_grad():
        p = torch.softmax(clf(s), 1)
    counts = torch.bincount(p.argmax(1), minlength=10)
    res = {"model": args.model, "steps": args.steps, "batch_size": args.batch_size, "seed": args.seed,
           "train_seconds": round(secs, 1), "data": src, "date": datetime.date.today().isoformat(),
           "classes_covered": int((counts > 0).sum()), "class_kl_to_uniform": round(kl_to_uniform(counts), 4),
           "mean_confidence": round(float(p.max(1).values.mean()), 4), "class_counts": counts.tolist(),
           "extra_state": model.extra_state()}
    print(json.dumps(res))
    (out / f"{args.model}_mnist.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
