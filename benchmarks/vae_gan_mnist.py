"""vae-gan against the plain vae at the same CPU budget on MNIST-10k: FID-MNIST and sample grids side by side.

    OMP_NUM_THREADS=1 python benchmarks/vae_gan_mnist.py --minutes 2 --out docs/results/hybrid

Both models share the encoder / decoder (MLP 784-512-256-16 and back, Bernoulli decoder means as samples); the plain
vae trains its ELBO on dynamically binarized digits, the vae-gan plays its three-player game on the grey digits
with a discriminator whose last hidden layer defines the reconstruction error: an MLP (256, 256) or, with
`--d-arch dcgan`, the DCGAN discriminator (stride-2 4x4 convolutions of `--d-width` and twice as many channels,
no normalisation; features 2 d_width x 7 x 7). Each trains for
`--minutes` CPU minutes of this process (benchmarks/common.CPUBudget, batch 64, Adam with each model's train
defaults), then 2,000 samples (decoder means of z ~ N(0, I)) are scored by `genzoo.eval.mnist_scores` against the
2,000 held-out digits (FID-MNIST, classifier confidence, classes covered). Writes hybrid_mnist.json and
hybrid_mnist_samples.png (64 samples of each, left vae, right vae-gan), with `--tag` before the suffix.

    OMP_NUM_THREADS=1 python benchmarks/vae_gan_mnist.py --minutes 2.5 --d-arch dcgan --tag _dcgan-d
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CPUBudget, provenance  # noqa: E402
from gan_common import load_mnist  # noqa: E402

from genzoo.analysis.interpolate import image_grid  # noqa: E402
from genzoo.eval import mnist_scores  # noqa: E402
from genzoo.models import create  # noqa: E402
from genzoo.train import TrainConfig, Trainer  # noqa: E402

MODELS = {
    "vae": {"latent_dim": 16},
    "vae-gan": {"latent_dim": 16, "d_hidden": (256, 256)},
}


def run(name: str, x: torch.Tensor, xt: torch.Tensor, minutes: float, seed: int,
        extra: dict) -> tuple[dict, torch.Tensor]:
    torch.manual_seed(seed)
    cfg = dict(MODELS[name], **(extra if name == "vae-gan" else {}))
    model = create(name, data_shape=(1, 28, 28), **cfg)
    tr = Trainer(model, x, TrainConfig(steps=10**6, batch_size=64, seed=seed, progress=False, log_every=100,
                                       ckpt_every=0), out_dir=None)
    budget = CPUBudget(minutes)
    while budget.left() > 0:
        tr.fit(stop_at=tr.step + 25)
    cpu_s, wall_s = budget.used(), budget.wall()
    model.eval()
    torch.manual_seed(123)
    s = torch.cat([model.sample(500) for _ in range(4)])
    last = tr.history[-1] if getattr(tr, "history", None) else {}
    res = {"model": name, "config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
           "steps": tr.step, "cpu_seconds": round(cpu_s, 1), "wall_seconds": round(wall_s, 1),
           "samples": mnist_scores(s, reference=xt), "last_log": {k: v for k, v in last.items()
                                                                  if isinstance(v, (int, float))}}
    print(json.dumps({k: res[k] for k in ("model", "steps", "cpu_seconds")} | {"fid": res["samples"]["fid_mnist"]}),
          flush=True)
    return res, s


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=2.0, help="training budget per model, CPU minutes")
    ap.add_argument("--gamma", type=float, default=1.0)
    ap.add_argument("--d-arch", default="mlp", choices=["mlp", "dcgan"], help="the vae-gan's discriminator")
    ap.add_argument("--d-width", type=int, default=16, help="base channels of a dcgan discriminator")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="", help="suffix of the output file names")
    ap.add_argument("--out", default="docs/results/hybrid")
    args = ap.parse_args()
    torch.set_num_threads(1)
    x, _, src = load_mnist("train")
    xt, _, _ = load_mnist("test")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results, grids = [], []
    for name in MODELS:
        extra = {"gamma": args.gamma, "d_arch": args.d_arch}
        if args.d_arch == "dcgan":
            extra["d_width"] = args.d_width
        r, s = run(name, x, xt, args.minutes, args.seed, extra)
        results.append(r)
        grids.append(image_grid(s[:64], nrow=8))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(8, 4.3))
    for ax, r, g in zip(axes, results, grids):
        ax.imshow(g[..., 0].numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(f'{r["model"]}: FID-MNIST {r["samples"]["fid_mnist"]:.0f}')
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(out / f"hybrid_mnist{args.tag}_samples.png", dpi=100)
    doc = {"data": src, "budget_cpu_minutes": args.minutes, "gamma": args.gamma, "seed": args.seed,
           "results": results, "real_train_2000": mnist_scores(x[:2000], reference=xt)["fid_mnist"],
           **provenance(__file__)}
    (out / f"hybrid_mnist{args.tag}.json").write_text(json.dumps(doc, indent=1))


if __name__ == "__main__":
    main()
