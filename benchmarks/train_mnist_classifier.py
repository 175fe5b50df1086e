"""Train the project's MNIST classifier (genzoo.eval.classifier) and ship it as safetensors.

    python benchmarks/train_mnist_classifier.py [--epochs 25] [--out PATH.safetensors]

Data: MNIST-10k, 8,000 training images (random shifts of up to 2 pixels), 2,000 held-out test images that are
never used for training or model selection. Adam 1e-3 with cosine decay, batch 128, dropout 0.3. The held-out
accuracy, the recipe and the date are stored in the file's metadata. Target: >= 98% held-out accuracy.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time

import torch
import torch.nn.functional as F
from gan_common import ROOT, load_mnist

from genzoo.eval.classifier import ASSET, MNISTClassifier
from genzoo.io import atomic_save_tensors


def shift(x: torch.Tensor, g: torch.Generator, max_shift: int = 2) -> torch.Tensor:
    n = x.shape[0]
    pad = F.pad(x, (max_shift,) * 4)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=g)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=g)
    rows = (dy[:, None] + torch.arange(28)[None]).view(n, 1, 28, 1).expand(n, 1, 28, 28 + 2 * max_shift)
    out = pad.gather(2, rows)
    cols = (dx[:, None] + torch.arange(28)[None]).view(n, 1, 1, 28).expand(n, 1, 28, 28)
    return out.gather(3, cols)


@torch.no_grad()
def accuracy(model, x, y) -> float:
    model.eval()
    pred = torch.cat([model(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    return float((pred == y).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ASSET))
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    x, y, src = load_mnist("train")
    xt, yt, _ = load_mnist("test")
    print(f"train {tuple(x.shape)}, test {tuple(xt.shape)} from {src}")
    model = MNISTClassifier()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    steps = args.epochs * (len(x) // args.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    g = torch.Generator().manual_seed(args.seed)
    t0 = time.time()
    for ep in range(args.epochs):
        model.train()
        perm = torch.randperm(len(x), generator=g)
        for i in range(0, len(x) - args.batch_size + 1, args.batch_size):
            idx = perm[i:i + args.batch_size]
            loss = F.cross_entropy(model(shift(x[idx], g)), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
        print(f"epoch {ep + 1}: loss {loss.item():.4f}, train acc (2k) {accuracy(model, x[:2000], y[:2000]):.4f}, "
              f"{time.time() - t0:.0f}s", flush=True)
    acc = accuracy(model, xt, yt)
    print(f"held-out accuracy on {len(xt)} test images: {acc:.4f}")
    meta = {"test_accuracy": f"{acc:.4f}", "n_test": str(len(xt)), "n_train": str(len(x)),
            "recipe": json.dumps({"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                  "seed": args.seed, "augment": "random shifts <= 2 px", "optimizer": "adam+cosine"}),
            "date": datetime.date.today().isoformat(), "script": "benchmarks/train_mnist_classifier.py"}
    atomic_save_tensors(model.state_dict(), args.out, metadata=meta)
    print(f"wrote {args.out} ({(ROOT / args.out).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
