"""An energy-based model on 8 Gaussians: create -> train -> sample -> evaluate -> save / load.

An energy network E(x) defines p(x) = exp(-E(x)) / Z; maximum likelihood pushes E down on data and up on negatives
drawn by stochastic gradient Langevin dynamics from a replay buffer. In 2-D, log Z is integrated on a grid, so the
held-out NLL is exact (up to the grid) and the picture is the density itself.

    python examples/energy.py --out runs/examples   # about a minute on 2 cores; writes runs/examples/energy.png
    python examples/energy.py --smoke               # a few seconds
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import genzoo.data
import genzoo.models
from genzoo.eval import evaluate_likelihood
from genzoo.train import TrainConfig, Trainer
from genzoo.train.plots import save_density


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few steps (seconds), for tests")
    parser.add_argument("--out", default="runs/examples", help="folder of the picture and the run")
    args = parser.parse_args(argv)
    steps, resolution = (5, 32) if args.smoke else (600, 128)
    out = Path(args.out)

    train, test = genzoo.data.get("8gaussians", "train"), genzoo.data.get("8gaussians", "test")
    model = genzoo.models.create("ebm", data_shape=(2,), hidden=[128, 128], sgld_step=0.03, buffer_size=2000,
                                 resolution=resolution)
    Trainer(model, train, TrainConfig(steps=steps, batch_size=256, lr=1e-3, schedule="cosine", progress=False),
            out_dir=out / "energy").fit()

    torch.manual_seed(0)
    samples = model.sample(500)                                        # SGLD chains
    print(f"{len(samples)} SGLD samples, mean distance from the origin {samples.norm(dim=1).mean():.2f} (modes at 2)")
    result = evaluate_likelihood(model, test, max_examples=2000)       # log Z on the grid
    print(f"held-out NLL = {result['nll']:.3f} +- {result['nll_sem']:.3f} nats (2000 points)")
    picture = save_density(model.log_prob, out / "energy.png", reference=test.x, title=f"EBM, {steps} steps")

    model.save(out / "energy" / "saved")
    again = genzoo.models.load(out / "energy" / "saved")
    x = test.x[:100]
    assert torch.allclose(model.log_prob(x), again.log_prob(x), atol=1e-5)
    print(f"saved and loaded: the same log p(x); picture: {picture}")
    return {"nll": result["nll"], "picture": str(picture)}


if __name__ == "__main__":
    main()
