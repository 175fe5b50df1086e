"""A continuous normalizing flow (FFJORD) on two moons: create -> train -> sample -> evaluate -> save / load.

dz/dt = f(z, t) and d log p(z(t)) / dt = -tr(df/dz), integrated by torchdiffeq (RK4 with 8 steps here, the trace
exact in 2-D): an exact log-likelihood from an ODE instead of a stack of invertible layers.

    python examples/continuous.py --out runs/examples   # about a minute on 2 cores
    python examples/continuous.py --smoke               # a few seconds
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
    steps, n_test, grid = (5, 200, 40) if args.smoke else (300, 2000, 120)
    out = Path(args.out)

    train, test = genzoo.data.get("moons", "train"), genzoo.data.get("moons", "test")
    model = genzoo.models.create("cnf", data_shape=(2,), hidden=[64, 64], method="rk4", steps=8)
    Trainer(model, train, TrainConfig(steps=steps, batch_size=256, lr=2e-3, schedule="cosine", progress=False),
            out_dir=out / "continuous").fit()

    result = evaluate_likelihood(model, test, max_examples=n_test)
    print(f"held-out NLL = {result['nll']:.3f} +- {result['nll_sem']:.3f} nats ({n_test} points, exact)")
    torch.manual_seed(0)
    samples = model.sample(1000)                                       # integrate the ODE backwards from N(0, I)
    print(f"samples: mean {samples.mean(0).tolist()}")
    picture = save_density(model.log_prob, out / "continuous.png", reference=test.x, n=grid,
                           title=f"CNF, {steps} steps")

    model.save(out / "continuous" / "saved")
    again = genzoo.models.load(out / "continuous" / "saved")
    assert torch.allclose(model.log_prob(test.x[:100]), again.log_prob(test.x[:100]), atol=1e-6)
    print(f"saved and loaded: the same log p(x); picture: {picture}")
    return {"nll": result["nll"], "picture": str(picture)}


if __name__ == "__main__":
    main()
