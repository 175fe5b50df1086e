"""DDPM on 8 Gaussians: create -> train -> sample -> evaluate -> save / load.

A denoising diffusion model (1,000 noise levels, 50 in the smoke run; eps-prediction by an MLP, EMA weights)
learns to reverse the noising process; its held-out NLL is the variational bound (the VLB), and its samples come
from the 1,000-step ancestral sampler.

    python examples/diffusion.py --out runs/examples   # about a minute on 2 cores
    python examples/diffusion.py --smoke               # a few seconds
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import genzoo.data
import genzoo.models
from genzoo.eval import evaluate_likelihood, mode_stats
from genzoo.train import TrainConfig, Trainer, save_scatter


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few steps (seconds), for tests")
    parser.add_argument("--out", default="runs/examples", help="folder of the picture and the run")
    args = parser.parse_args(argv)
    steps, n_test, timesteps = (20, 20, 50) if args.smoke else (2000, 300, 1000)
    out = Path(args.out)

    train, test = genzoo.data.get("8gaussians", "train"), genzoo.data.get("8gaussians", "test")
    model = genzoo.models.create("ddpm", data_shape=(2,), timesteps=timesteps)
    Trainer(model, train, TrainConfig(steps=steps, batch_size=256, lr=2e-3, schedule="cosine", progress=False),
            out_dir=out / "diffusion").fit()

    torch.manual_seed(0)
    samples = model.sample(1000)
    stats = mode_stats(samples, "8gaussians")
    print(f"modes covered {stats['modes_covered']}/{stats['n_modes']}, high quality {stats['high_quality_pct']:.1f} %")
    result = evaluate_likelihood(model, test, max_examples=n_test)     # the VLB: a bound on -log p(x)
    print(f"held-out NLL <= {result['nll']:.3f} +- {result['nll_sem']:.3f} nats (VLB, {n_test} points)")
    picture = save_scatter(samples, out / "diffusion.png", reference=test.x[:2000], title=f"DDPM, {steps} steps")

    model.save(out / "diffusion" / "saved")
    again = genzoo.models.load(out / "diffusion" / "saved")
    torch.manual_seed(1)
    a = model.sample(8)
    torch.manual_seed(1)
    assert torch.equal(a, again.sample(8)), "the loaded model draws other samples"
    print(f"saved and loaded: identical samples from the same seed; picture: {picture}")
    return {"nll": result["nll"], "picture": str(picture)}


if __name__ == "__main__":
    main()
