"""Latent-space tools on MNIST-10k: interpolation grids, attribute arithmetic and inversion errors of a VAE, a DCGAN
and a RealNVP, each trained for a few CPU minutes through the Trainer.

    OMP_NUM_THREADS=1 python benchmarks/latents_mnist.py --out docs/results/analysis/latents

Models (batch 64, Adam with each model's train defaults, `--*-minutes` CPU minutes of this process each):
vae (MLP 784-512-256-16, Bernoulli decoder, dynamic binarization), dcgan (width 32, latent 32, non-saturating)
and realnvp (one multi-scale level of 2 + 2 couplings, 32 channels, 2 final couplings). Then, with
`genzoo.analysis.latents` on held-out digits:

- interpolation grids (slerp, 10 steps) between pairs of test digits: vae (encoder means), realnvp (its bijection:
  the end columns are the digits themselves), dcgan (between the test digits' inverted latents) and, for the
  dcgan, between random latents;
- attribute arithmetic on the vae: z + s v for the class vector v = mean z("1") - mean z(others) and the "bold"
  vector v = mean z(top quarter of ink) - mean z(bottom quarter), both from the 8,000 training digits, applied
  to 8 test digits with s in {0, 0.5, 1, 1.5, 2};
- inversion: per-pixel squared error of the reconstruction of `--n-invert` test digits by the vae's encoder mean,
  by Adam on the vae decoder from the encoder's guess and from random starts, by Adam on the dcgan generator (best
  of `--restarts` random starts), and of dcgan samples G(z) (whose exact latent exists); mean +- standard error,
  with the error traces over the Adam steps.

Writes latents_*.png, latents_mnist.json and latents_mnist.md (the command, the machine, the date, the figures).
"""

from __future__ import annotations

import argparse
import datetime
import io
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CPUBudget, mean_se, provenance  # noqa: E402
from gan_common import load_mnist  # noqa: E402

from genzoo.analysis import (  # noqa: E402
    attribute_grid,
    attribute_vector,
    image_grid,
    invert,
    latent_grid,
    random_latents,
    to_latent,
)
from genzoo.io import atomic_write_bytes  # noqa: E402
from genzoo.models import create  # noqa: E402
from genzoo.train import TrainConfig, Trainer  # noqa: E402

MODELS = {
    "vae": {"latent_dim": 16},
    "dcgan": {"width": 32, "latent_dim": 32},
    "realnvp": {"hidden_channels": 32, "levels": 1, "steps": 2, "final_steps": 2},
}
SCALES = (0.0, 0.5, 1.0, 1.5, 2.0)


def train(name: str, x: torch.Tensor, minutes: float, seed: int) -> tuple[torch.nn.Module, dict]:
    torch.manual_seed(seed)
    model = create(name, data_shape=(1, 28, 28), **MODELS[name])
    tr = Trainer(model, x, TrainConfig(steps=10**6, batch_size=64, seed=seed, progress=False, log_every=50,
                                       ckpt_every=0, ema_decay=None), out_dir=None)
    budget = CPUBudget(minutes)
    while budget.left() > 0:
        tr.fit(stop_at=tr.step + 25)
    model.eval()
    info = {"steps": tr.step, "cpu_seconds": round(budget.used(), 1), "wall_seconds": round(budget.wall(), 1)}
    print(json.dumps({"model": name, **info}), flush=True)
    return model, info


def summary(err: torch.Tensor) -> dict:
    m, se = mean_se(err)
    return {"mean": round(m, 5), "se": round(se, 5), "median": round(float(err.median()), 5), "n": err.numel()}


def save_figure(fig, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    atomic_write_bytes(path, buf.getvalue())


def panels(path: Path, items: list[tuple[str, torch.Tensor, int]], cols: int = 2) -> None:
    """One figure of image grids side by side: (title, images (N, 1, H, W), images per row)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = (len(items) + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.3 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, (title, imgs, nrow) in zip(axes.flat, items):
        ax.imshow(image_grid(imgs, nrow=nrow)[..., 0].numpy(), cmap="gray", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--vae-minutes", type=float, default=1.0)
    ap.add_argument("--gan-minutes", type=float, default=2.5)
    ap.add_argument("--flow-minutes", type=float, default=0.75)
    ap.add_argument("--n-invert", type=int, default=32, help="test digits inverted")
    ap.add_argument("--steps", type=int, default=250, help="Adam steps of every inversion")
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--restarts", type=int, default=3, help="random starts per digit of the dcgan inversion")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/results/analysis/latents")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    x, y, src = load_mnist("train")
    xt, _, _ = load_mnist("test")
    total = CPUBudget(0)

    vae, vae_info = train("vae", x, args.vae_minutes, args.seed)
    gan, gan_info = train("dcgan", x, args.gan_minutes, args.seed)
    flow, flow_info = train("realnvp", x, args.flow_minutes, args.seed) if args.flow_minutes > 0 else (None, None)

    # ---- interpolation ----------------------------------------------------------------------------------------------
    a, b = xt[200:206], xt[206:212]
    inv_opts = {"steps": args.steps, "lr": args.lr, "restarts": args.restarts,
                "generator": torch.Generator().manual_seed(1)}
    grids = [("vae: slerp between encoder means of test digits", latent_grid(vae, a, b, steps=10), 10)]
    if flow is not None:
        grids.append(("realnvp: slerp between the latents (ends = the digits)", latent_grid(flow, a, b, steps=10), 10))
    grids.append(("dcgan: slerp between inverted test digits", latent_grid(gan, a, b, steps=10, inversion=inv_opts),
                  10))
    g = torch.Generator().manual_seed(2)
    grids.append(("dcgan: slerp between random latents",
                  latent_grid(gan, z0=random_latents(gan, 6, g), z1=random_latents(gan, 6, g), steps=10), 10))
    panels(out / "latents_interpolation.png", grids)

    # ---- attribute arithmetic (vae) -------------------------------------------------------------------------------
    pool, labels = x, y  # the 8,000 training digits
    ink = pool.flatten(1).sum(1)
    lo, hi = ink.quantile(0.25), ink.quantile(0.75)
    bold = torch.full_like(labels, -1)
    bold[ink >= hi], bold[ink <= lo] = 1, 0
    v_one = attribute_vector(vae, pool, labels, target=1)
    v_bold = attribute_vector(vae, pool, bold, target=1, baseline=0)
    probe = xt[:8]
    panels(out / "latents_attributes.png", [
        (f"vae: z + s v('1' - rest), s = {', '.join(map(str, SCALES))}", attribute_grid(vae, v_one, probe,
                                                                                        scales=SCALES), 5),
        ("vae: z + s v(bold - thin ink quartiles)", attribute_grid(vae, v_bold, probe, scales=SCALES), 5),
    ])

    # ---- inversion -------------------------------------------------------------------------------------------------
    n = args.n_invert
    xi = xt[100 : 100 + n]
    gen = lambda s: torch.Generator().manual_seed(s)  # noqa: E731
    with torch.no_grad():
        enc_err = (vae.decode(to_latent(vae, xi)) - xi).flatten(1).square().mean(1)
    vae_enc = invert(vae, xi, args.steps, args.lr, init="encoder")
    vae_rnd = invert(vae, xi, args.steps, args.lr, generator=gen(3))
    gan_inv = invert(gan, xi, args.steps, args.lr, restarts=args.restarts, generator=gen(4))
    gan_one = invert(gan, xi, args.steps, args.lr, generator=gen(5))
    z_true = random_latents(gan, n, gen(6))
    with torch.no_grad():
        x_fake = gan.decode(z_true)
    gan_own = invert(gan, x_fake, args.steps, args.lr, restarts=args.restarts, generator=gen(7))
    with torch.no_grad():
        rand_err = (gan.decode(random_latents(gan, n, gen(8))) - xi).flatten(1).square().mean(1)
    k = 8
    panels(out / "latents_inversion.png", [
        ("test digits", xi[:k], k),
        (f"vae encoder mean (MSE {enc_err[:k].mean():.4f})", vae.decode(to_latent(vae, xi[:k])).detach(), k),
        (f"vae decoder, Adam from the encoder (MSE {vae_enc.error[:k].mean():.4f})", vae_enc.x[:k], k),
        (f"dcgan, Adam best of {args.restarts} starts (MSE {gan_inv.error[:k].mean():.4f})", gan_inv.x[:k], k),
        ("dcgan samples G(z)", x_fake[:k], k),
        (f"dcgan: their inversion (MSE {gan_own.error[:k].mean():.5f})", gan_own.x[:k], k),
    ])

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    steps = torch.arange(args.steps + 1)
    for label, inv in (("vae decoder, from the encoder", vae_enc), ("vae decoder, random start", vae_rnd),
                       ("dcgan, 1 random start", gan_one), (f"dcgan, best of {args.restarts}", gan_inv),
                       ("dcgan on its own samples", gan_own)):
        ax.plot(steps, inv.trace.mean(1), label=label)
    ax.axhline(float(enc_err.mean()), color="k", ls=":", label="vae encoder mean (no optimisation)")
    ax.set_yscale("log")
    ax.set_xlabel("Adam step")
    ax.set_ylabel(f"mean squared error per pixel ({n} digits)")
    ax.legend(fontsize=7)
    fig.tight_layout()
    save_figure(fig, out / "latents_inversion_curves.png")
    plt.close(fig)

    errors = {
        "vae_encoder_mean": summary(enc_err),
        "vae_adam_from_encoder": summary(vae_enc.error),
        "vae_adam_random_start": summary(vae_rnd.error),
        "dcgan_adam_one_start": summary(gan_one.error),
        f"dcgan_adam_best_of_{args.restarts}": summary(gan_inv.error),
        "dcgan_random_latent": summary(rand_err),
        f"dcgan_own_samples_best_of_{args.restarts}": summary(gan_own.error),
        "dcgan_own_samples_latent_rms_error": round(float((gan_own.z - z_true).square().mean().sqrt()), 4),
    }
    doc = {"data": src, "models": {"vae": {**MODELS["vae"], **vae_info}, "dcgan": {**MODELS["dcgan"], **gan_info},
                                   "realnvp": None if flow is None else {**MODELS["realnvp"], **flow_info}},
           "inversion": {"n": n, "steps": args.steps, "lr": args.lr, "restarts": args.restarts, "errors": errors},
           "attributes": {"v_one_norm": round(float(v_one.norm()), 3), "v_bold_norm": round(float(v_bold.norm()), 3)},
           "total_cpu_seconds": round(total.used(), 1), **provenance(__file__)}
    atomic_write_bytes(out / "latents_mnist.json", json.dumps(doc, indent=1).encode())
    atomic_write_bytes(out / "latents_mnist.md", report(doc).encode())
    print(json.dumps(errors, indent=1))


def report(doc: dict) -> str:
    inv = doc["inversion"]
    rows = "\n".join(f"| {k} | {v['mean']:.4f} +- {v['se']:.4f} | {v['median']:.4f} |"
                     for k, v in inv["errors"].items() if isinstance(v, dict))
    models = "\n".join(f"- {k}: " + (", ".join(f"{a}={b}" for a, b in v.items()) if v else "skipped")
                       for k, v in doc["models"].items())
    return f"""# Latent-space tools on MNIST-10k

Command: `{doc['command']}`
Machine: {doc['machine']}
Date: {doc['date']} (commit {doc['commit']}); total {doc['total_cpu_seconds']} CPU s.

Models (trained on the 8,000 training digits for the CPU budget shown):
{models}

## Inversion errors
Mean squared error per pixel (images in [0, 1]) of {inv['n']} held-out digits, mean +- standard error and median;
Adam, {inv['steps']} steps, lr {inv['lr']}; random starts z ~ N(0, I).

| reconstruction | MSE | median |
|---|---|---|
{rows}

RMS error of the recovered latents of dcgan samples against their true z:
{inv['errors']['dcgan_own_samples_latent_rms_error']}.

![inversion](latents_inversion.png)
![curves](latents_inversion_curves.png)

## Interpolation and attribute arithmetic
![interpolation](latents_interpolation.png)
![attributes](latents_attributes.png)

Attribute vector norms: v('1' - rest) {doc['attributes']['v_one_norm']}, v(bold - thin)
{doc['attributes']['v_bold_norm']} (latent of size {doc['models']['vae']['latent_dim']}).
Written {datetime.date.today().isoformat()} by benchmarks/latents_mnist.py.
"""


if __name__ == "__main__":
    main()
