"""VAE on MNIST-10k: create -> train -> sample -> evaluate -> save / load.

A Gaussian-latent VAE with a Bernoulli decoder (dynamically binarized digits) is trained on the ELBO; its held-out
NLL is the importance-sampled bound with k samples (IWAE's estimator), and the saved model gives the same numbers.

    python examples/vae.py --out runs/examples     # about 30 s on 2 cores; writes runs/examples/vae.png
    python examples/vae.py --smoke                 # a few seconds
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

import genzoo.data
import genzoo.models
from genzoo.eval import evaluate_likelihood
from genzoo.train import TrainConfig, Trainer, save_image_grid


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="a few steps (seconds), for tests")
    parser.add_argument("--out", default="runs/examples", help="folder of the picture and the run")
    args = parser.parse_args(argv)
    steps, k, n_test = (20, 5, 100) if args.smoke else (1500, 100, 500)
    out = Path(args.out)

    train, test = genzoo.data.get("mnist", "train"), genzoo.data.get("mnist", "test")
    model = genzoo.models.create("vae", data_shape=train.data_shape, latent_dim=16, hidden=[256, 128])
    Trainer(model, train, TrainConfig(steps=steps, batch_size=128, lr=1e-3, progress=False, seed=0),
            out_dir=out / "vae").fit()

    torch.manual_seed(0)
    samples = model.sample(64)                                        # (64, 1, 28, 28) in [0, 1]
    picture = save_image_grid(samples, out / "vae.png", nrow=16, title=f"VAE samples after {steps} steps")

    result = evaluate_likelihood(model, test, max_examples=n_test, k=k)   # bound on -log p(x), nats per digit
    print(f"held-out NLL <= {result['nll']:.2f} +- {result['nll_sem']:.2f} nats (k = {k}, {n_test} digits)")

    model.save(out / "vae" / "saved")                                 # model.safetensors + config.json
    again = genzoo.models.load(out / "vae" / "saved")
    x = test.x[:8]
    torch.manual_seed(1)
    a = model.log_prob(x, k=k)
    torch.manual_seed(1)
    b = again.log_prob(x, k=k)
    assert torch.equal(a, b), "the loaded model differs from the saved one"
    print(f"saved and loaded: identical log p(x) on 8 digits; picture: {picture}")
    return {"nll": result["nll"], "picture": str(picture)}


if __name__ == "__main__":
    main()
