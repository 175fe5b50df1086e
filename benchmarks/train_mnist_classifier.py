"""Train the project's MNIST classifier (genzoo.eval.classifier) and ship it as safetensors.

    python benchmarks/train_mnist_classifier.py [--epochs 25] [--out PATH.safetensors]

Data: MNIST-10k, 8,000 training images (random shifts of up to 2 pixels), 2,000 held-out test images that are
never used for training or model selection. Adam 1e-3 with cosine decay, batch 128, dropout 0.3: the recipe of
genzoo.eval.train_classifier, which this script calls. The held-out accuracy, the recipe and the date are stored in
the file's metadata. Target: >= 98% held-out accuracy.
"""

from __future__ import annotations

import argparse
import datetime
import json
import time

from gan_common import ROOT, load_mnist

from genzoo.eval.classifier import ASSET, classifier_accuracy, train_classifier
from genzoo.io import atomic_save_tensors


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=25)
    ap.add_argument("--batch-size", type=int, default=128)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(ASSET))
    args = ap.parse_args()
    x, y, src = load_mnist("train")
    xt, yt, _ = load_mnist("test")
    print(f"train {tuple(x.shape)}, test {tuple(xt.shape)} from {src}")
    steps = args.epochs * (len(x) // args.batch_size)
    t0 = time.time()
    model = train_classifier(x, y, steps=steps, batch_size=args.batch_size, seed=args.seed, device="cpu",
                             progress=True, lr=args.lr)
    train_acc = classifier_accuracy(model, x[:2000], y[:2000])
    print(f"{steps} steps in {time.time() - t0:.0f}s; train acc (2k) {train_acc:.4f}")
    acc = classifier_accuracy(model, xt, yt)
    print(f"held-out accuracy on {len(xt)} test images: {acc:.4f}")
    meta = {"test_accuracy": f"{acc:.4f}", "n_test": str(len(xt)), "n_train": str(len(x)),
            "recipe": json.dumps({"epochs": args.epochs, "batch_size": args.batch_size, "lr": args.lr,
                                  "seed": args.seed, "augment": "random shifts <= 2 px", "optimizer": "adam+cosine"}),
            "date": datetime.date.today().isoformat(), "script": "benchmarks/train_mnist_classifier.py"}
    atomic_save_tensors(model.state_dict(), args.out, metadata=meta)
    print(f"wrote {args.out} ({(ROOT / args.out).stat().st_size} bytes)")


if __name__ == "__main__":
    main()
