"""RealNVP on two moons: create -> train -> sample -> evaluate -> save / load.

An exact log-likelihood by the change of variables: the held-out NLL is a number, not a bound, and the density
drawn on a grid integrates to about 1 (its mass is in the picture's title).

    python examples/flows.py --out runs/examples     # about 30 s on 2 cores; writes runs/examples/flows.png
    python examples/flows.py --smoke                 # a few seconds
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
    steps = 20 if args.smoke else 1500
    out = Path(args.out)

    train, test = genzoo.data.get("moons", "train"), genzoo.data.get("moons", "test")
    model = genzoo.models.create("realnvp", data_shape=(2,), n_blocks=8, hidden=[64, 64])
    Trainer(model, train, TrainConfig(steps=steps, batch_size=512, lr=2e-3, schedule="cosine", progress=False),
            out_dir=out / "flows").fit()

    samples = model.sample(2000)                                       # (2000, 2)
    print(f"samples: mean {samples.mean(0).tolist()}, data mean {test.x.mean(0).tolist()}")
    result = evaluate_likelihood(model, test)                          # exact -log p(x), nats per point
    print(f"held-out NLL = {result['nll']:.3f} +- {result['nll_sem']:.3f} nats ({result['n']} points, exact)")
    picture = save_density(model.log_prob, out / "flows.png", reference=test.x, title=f"RealNVP, {steps} steps")

    model.save(out / "flows" / "saved")
    again = genzoo.models.load(out / "flows" / "saved")
    assert torch.equal(model.log_prob(test.x[:100]), again.log_prob(test.x[:100]))
    print(f"saved and loaded: identical log p(x); picture: {picture}")
    return {"nll": result["nll"], "picture": str(picture)}


if __name__ == "__main__":
    main()
