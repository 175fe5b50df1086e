"""Sparse coding on 8 x 8 digits: create -> train -> reconstruct -> evaluate -> save / load.

A dictionary D of unit-norm atoms and codes z from FISTA for the lasso 1/2 ||x - b - D z||^2 + lambda ||z||_1,
with a Laplace prior on z; the held-out NLL is an importance-sampled bound around the lasso code. The picture shows
held-out digits (top rows) above their sparse reconstructions D z + b (bottom rows).

    python examples/sparse.py --out runs/examples   # about 30 s on 2 cores; writes runs/examples/sparse.png
    python examples/sparse.py --smoke               # a few seconds
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import genzoo.data
import genzoo.models
from genzoo.eval import evaluate_likelihood
from genzoo.models import Batch
from genzoo.train import TrainConfig, Trainer, save_image_grid


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few steps (seconds), for tests")
    parser.add_argument("--out", default="runs/examples", help="folder of the picture and the run")
    args = parser.parse_args(argv)
    steps, n_test = (5, 50) if args.smoke else (400, 300)
    out = Path(args.out)

    train, test = genzoo.data.get("digits", "train"), genzoo.data.get("digits", "test")
    model = genzoo.models.create("sparse-coding", data_shape=train.data_shape, latent_dim=32, lam=0.1)
    Trainer(model, train, TrainConfig(steps=steps, batch_size=128, progress=False), out_dir=out / "sparse").fit()

    x = test.x[:32]
    parts = model.loss(Batch(x))
    print(f"codes exactly zero: {float(parts['zero_fraction']):.1%}, reconstruction MSE {float(parts['mse']):.4f}")
    torch.manual_seed(0)
    result = evaluate_likelihood(model, test, max_examples=n_test)    # an importance-sampled bound
    print(f"held-out NLL <= {result['nll']:.2f} +- {result['nll_sem']:.2f} nats ({n_test} digits)")
    grid = torch.cat([x[:16], model.reconstruct(x[:16]).clamp(0, 1), x[16:], model.reconstruct(x[16:]).clamp(0, 1)])
    picture = save_image_grid(grid, out / "sparse.png", nrow=16, title="digits and their sparse reconstructions")

    model.save(out / "sparse" / "saved")
    again = genzoo.models.load(out / "sparse" / "saved")
    assert torch.allclose(model.reconstruct(x), again.reconstruct(x), atol=1e-6)
    print(f"saved and loaded: the same reconstructions; picture: {picture}")
    return {"nll": result["nll"], "picture": str(picture)}


if __name__ == "__main__":
    main()
