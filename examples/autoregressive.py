"""PixelCNN on binarized MNIST-10k: create -> train -> sample -> evaluate -> save / load.

The chain rule log p(x) = sum_i log p(x_i | x_<i) over pixels in raster order, each conditional a Bernoulli from a
stack of masked convolutions (mask A on the first layer, mask B after it): an exact held-out NLL, and samples drawn
pixel by pixel (784 network passes for a batch).

    python examples/autoregressive.py --out runs/examples   # about a minute on 2 cores
    python examples/autoregressive.py --smoke               # a few seconds
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
    steps, n_test, n_samples, width = (10, 50, 2, 8) if args.smoke else (600, 500, 32, 32)
    out = Path(args.out)

    train, test = genzoo.data.get("mnist", "train"), genzoo.data.get("mnist", "test")
    model = genzoo.models.create("pixelcnn", data_shape=train.data_shape, channels=width, blocks=4)
    Trainer(model, train, TrainConfig(steps=steps, batch_size=32, lr=1e-3, schedule="cosine", progress=False),
            out_dir=out / "autoregressive").fit()

    result = evaluate_likelihood(model, test, max_examples=n_test)    # exact -log p(x) of binarized digits
    print(f"held-out NLL = {result['nll']:.2f} +- {result['nll_sem']:.2f} nats ({n_test} digits, exact)")
    torch.manual_seed(0)
    samples = model.sample(n_samples)                                  # pixel by pixel
    picture = save_image_grid(samples, out / "autoregressive.png", nrow=16, title=f"PixelCNN, {steps} steps")

    model.save(out / "autoregressive" / "saved")
    again = genzoo.models.load(out / "autoregressive" / "saved")
    x = test.x[:8]
    torch.manual_seed(1)                                               # log_prob binarizes the grey digits
    a = model.log_prob(x)
    torch.manual_seed(1)
    assert torch.equal(a, again.log_prob(x))
    print(f"saved and loaded: identical log p(x); picture: {picture}")
    return {"nll": result["nll"], "picture": str(picture)}


if __name__ == "__main__":
    main()
