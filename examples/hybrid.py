"""VAE-GAN on MNIST-10k: create -> train -> sample -> evaluate -> save / load.

The VAE's encoder and decoder with a GAN discriminator whose features replace the pixel-wise reconstruction error
(Larsen et al. 2016): three players (encoder, decoder, discriminator) updated in turn by the one Trainer. It has no
likelihood; the samples are scored by the project's MNIST classifier (confidence and classes covered).

    python examples/hybrid.py --out runs/examples   # about a minute on 2 cores; writes runs/examples/hybrid.png
    python examples/hybrid.py --smoke               # a few seconds
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import genzoo.data
import genzoo.models
from genzoo.eval import mnist_scores
from genzoo.train import TrainConfig, Trainer, save_image_grid


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few steps (seconds), for tests")
    parser.add_argument("--out", default="runs/examples", help="folder of the picture and the run")
    args = parser.parse_args(argv)
    steps = 10 if args.smoke else 1500
    out = Path(args.out)

    train = genzoo.data.get("mnist", "train")
    model = genzoo.models.create("vae-gan", data_shape=train.data_shape, latent_dim=16, hidden=[256, 128])
    Trainer(model, train, TrainConfig(steps=steps, batch_size=64, lr=1e-3, progress=False),
            out_dir=out / "hybrid").fit()

    torch.manual_seed(0)
    samples = model.sample(256)
    scores = mnist_scores(samples)
    print(", ".join(f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in scores.items()
                    if not isinstance(v, (list, dict))))
    picture = save_image_grid(samples[:64], out / "hybrid.png", nrow=16, title=f"VAE-GAN samples, {steps} steps")

    model.save(out / "hybrid" / "saved")
    again = genzoo.models.load(out / "hybrid" / "saved")
    torch.manual_seed(1)
    a = model.sample(8)
    torch.manual_seed(1)
    assert torch.equal(a, again.sample(8))
    print(f"saved and loaded: identical samples from the same seed; picture: {picture}")
    return {"picture": str(picture)}


if __name__ == "__main__":
    main()
