"""PacGAN on a ring of 8 Gaussians: create -> train -> sample -> evaluate -> save / load.

A GAN has no likelihood (`likelihood = "none"`), so it is judged by its samples: how many of the 8 modes they
cover, the share of high-quality samples (within 3 standard deviations of a mode) and the reverse KL of the mode
histogram (`genzoo.eval.mode_stats`, the protocol of the mode-collapse lab). PacGAN's discriminator sees packs of
2 samples, which is what keeps the generator from collapsing onto a few modes.

    python examples/gans.py --out runs/examples      # about a minute on 2 cores; writes runs/examples/gans.png
    python examples/gans.py --smoke                  # a few seconds
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import genzoo.data
import genzoo.models
from genzoo.eval import mode_stats
from genzoo.train import TrainConfig, Trainer, save_scatter


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few steps (seconds), for tests")
    parser.add_argument("--out", default="runs/examples", help="folder of the picture and the run")
    args = parser.parse_args(argv)
    steps = 20 if args.smoke else 3000
    out = Path(args.out)

    train = genzoo.data.get("ring8", "train")
    model = genzoo.models.create("pacgan", data_shape=(2,), latent_dim=2, g_hidden=[128, 128, 128],
                                 d_hidden=[128, 128], g_batch_norm=False)
    Trainer(model, train, TrainConfig(steps=steps, batch_size=256, lr=1e-3, schedule="cosine", progress=False),
            out_dir=out / "gans").fit()

    torch.manual_seed(0)
    samples = model.sample(2500)
    stats = mode_stats(samples, "ring8")
    print(f"modes covered {stats['modes_covered']}/{stats['n_modes']}, high quality "
          f"{stats['high_quality_pct']:.1f} %, reverse KL {stats['reverse_kl']:.3f}")
    picture = save_scatter(samples[:1000], out / "gans.png", reference=train.x[:2000],
                           title=f"PacGAN, {steps} steps: {stats['modes_covered']}/8 modes")

    model.save(out / "gans" / "saved")
    again = genzoo.models.load(out / "gans" / "saved")
    torch.manual_seed(1)
    a = model.sample(16)
    torch.manual_seed(1)
    assert torch.equal(a, again.sample(16)), "the loaded generator draws other samples"
    print(f"saved and loaded: identical samples from the same seed; picture: {picture}")
    return {"modes_covered": stats["modes_covered"], "picture": str(picture)}


if __name__ == "__main__":
    main()
