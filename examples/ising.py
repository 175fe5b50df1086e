"""Walk-through: the 2-D Ising model as data, and a generative model judged by physics.

1. Check the Monte Carlo sampler against exact enumeration: Swendsen-Wang on the 4 x 4 lattice gives the energy
   per spin and <|m|> of `exact_observables` (every one of the 2^16 states summed) within their error bars.
2. Train MADE (an autoregressive model of binary pixels) on Swendsen-Wang configurations of the 8 x 8 lattice at the
   critical temperature T_c = 2 / ln(1 + sqrt 2) = 2.269, as `genzoo.data.get("ising")` makes them.
3. Draw configurations from the model and measure the same observables, with errors: a model that learned the
   Boltzmann distribution reproduces the sampler's energy and magnetisation.

The picture shows Swendsen-Wang configurations (top rows) above the model's (bottom rows).

    python examples/ising.py --out runs/examples   # about a minute on 2 cores; writes runs/examples/ising.png
    python examples/ising.py --smoke               # a few seconds
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import genzoo.data
import genzoo.models
from genzoo.physics import T_C, exact_observables, observables, spins_from_image, swendsen_wang
from genzoo.train import TrainConfig, Trainer, save_image_grid


def show(name: str, obs: dict) -> None:
    print(f"{name:<22} e = {obs['energy'].value:+.4f} +- {obs['energy'].error:.4f}   "
          f"|m| = {obs['magnetization'].value:.4f} +- {obs['magnetization'].error:.4f}")


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few steps (seconds), for tests")
    parser.add_argument("--out", default="runs/examples", help="folder of the picture and the run")
    args = parser.parse_args(argv)
    steps, n_mc, n_train = (10, 400, 400) if args.smoke else (1500, 4000, 4000)
    out = Path(args.out)

    # 1. the sampler against exact enumeration (L = 4)
    show("exact, L = 4", exact_observables(4, T_C))
    show("Swendsen-Wang, L = 4", observables(swendsen_wang(4, T_C, n_mc, seed=0), T_C))

    # 2. a model of the L = 8 configurations at T_c (the data are {0, 1} images of the spins)
    train = genzoo.data.get("ising", L=8, T=T_C, n=n_train, cache=False)
    test = genzoo.data.get("ising", "test", L=8, T=T_C, n=n_mc, cache=False)
    model = genzoo.models.create("made", data_shape=train.data_shape, hidden=[256, 256])
    Trainer(model, train, TrainConfig(steps=steps, batch_size=128, lr=1e-3, schedule="cosine", progress=False),
            out_dir=out / "ising").fit()

    # 3. the same observables of the model's configurations
    torch.manual_seed(0)
    samples = model.sample(n_mc)
    show("Swendsen-Wang, L = 8", observables(spins_from_image(test.x), T_C))
    show("MADE samples, L = 8", observables(spins_from_image(samples), T_C))
    picture = save_image_grid(torch.cat([test.x[:32], samples[:32]]), out / "ising.png", nrow=16,
                              title="L = 8 at T_c: Swendsen-Wang (top), MADE (bottom)")

    model.save(out / "ising" / "saved")
    again = genzoo.models.load(out / "ising" / "saved")
    assert torch.equal(model.log_prob(test.x[:16]), again.log_prob(test.x[:16]))
    print(f"saved and loaded: identical log p(x); picture: {picture}")
    return {"picture": str(picture)}


if __name__ == "__main__":
    main()
