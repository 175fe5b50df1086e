"""Sparse coding on MNIST-10k digits: the learned dictionary, and sparsity and reconstruction error against lambda.

Protocol (docs/models/sparse.md): `sparse-coding` with K atoms (default 64) on the 8,000 MNIST-10k training images
(28 x 28, values in [0, 1]), trained by `genzoo.train.Trainer` (Adam, batch 100) for `--steps` steps per lambda:
codes by FISTA (at most 100 iterations), a gradient step on the dictionary and the offset, atoms projected back to
unit norm. For every lambda the 2,000 held-out images are coded with the learned dictionary and reported: the
fraction of exactly zero codes, Hoyer's sparsity, atoms used (non-zero on some image), the mean squared error per
pixel of D z + b, and the lasso objective. For one lambda (`--bound-lam`) also the importance-sampled bound on
log p(x) (k = 100, sigma = `--noise-std`) in bits/dim on dequantized images.

    python benchmarks/sparse_mnist.py --out docs/results/sparse

Writes atoms_lam{lam}.png (each atom min-max scaled to [0, 1]), sparsity_vs_lambda.png, results.json and
results.md in --out.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import provenance  # noqa: E402

from genzoo.analysis import save_image_grid  # noqa: E402
from genzoo.data import get  # noqa: E402
from genzoo.math import hoyer_sparsity, lasso_objective, near_zero_fraction  # noqa: E402
from genzoo.models import create  # noqa: E402
from genzoo.train import TrainConfig, Trainer  # noqa: E402


def scaled_atoms(model) -> torch.Tensor:
    a = model.atoms.detach().T  # (K, d)
    lo, hi = a.min(1, keepdim=True).values, a.max(1, keepdim=True).values
    return ((a - lo) / (hi - lo).clamp_min(1e-12)).reshape(-1, *model.config.data_shape)


def measure(model, x) -> dict:
    z = torch.cat([model.code(x[i : i + 500]) for i in range(0, len(x), 500)])
    centred = x.flatten(1) - model.offset.detach()
    rec = z @ model.atoms.detach().T
    return {
        "zero_fraction": float(near_zero_fraction(z).mean()),
        "hoyer": float(hoyer_sparsity(z).mean()),
        "active_per_image": float((z != 0).float().sum(1).mean()),
        "atoms_used": int((z != 0).any(0).sum()),
        "mse_per_pixel": float((centred - rec).pow(2).mean()),
        "lasso_objective": float(lasso_objective(centred, model.atoms.detach(), z, model.config.lam).mean()),
    }


def plot(rows, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    lams = [r["lam"] for r in rows]
    fig, ax = plt.subplots(1, 2, figsize=(10, 4))
    ax[0].semilogx(lams, [r["zero_fraction"] for r in rows], "o-", label="fraction of zero codes")
    ax[0].semilogx(lams, [r["hoyer"] for r in rows], "s-", label="Hoyer sparsity")
    ax[0].set_xlabel("lambda")
    ax[0].set_ylim(0, 1)
    ax[0].legend()
    ax[0].grid(alpha=0.3)
    ax[1].semilogx(lams, [r["mse_per_pixel"] for r in rows], "o-", color="C3")
    ax[1].set_xlabel("lambda")
    ax[1].set_ylabel("held-out MSE per pixel")
    ax[1].grid(alpha=0.3)
    fig.suptitle("sparse-coding on MNIST-10k (held-out 2,000 images)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--lams", default="0.03,0.1,0.3,1,3")
    p.add_argument("--atoms", type=int, default=64)
    p.add_argument("--steps", type=int, default=800)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--noise-std", type=float, default=0.2)
    p.add_argument("--bound-lam", type=float, default=0.3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default="docs/results/sparse")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, test = get("mnist", split="train"), get("mnist", split="test")
    rows = []
    for lam in [float(v) for v in args.lams.split(",")]:
        torch.manual_seed(args.seed)
        m = create("sparse-coding", data_shape=tuple(train.data_shape), latent_dim=args.atoms, lam=lam,
                   noise_std=args.noise_std)
        cpu0, wall0 = time.process_time(), time.perf_counter()
        cfg = TrainConfig(steps=args.steps, batch_size=100, lr=args.lr, progress=False, device="cpu", ckpt_every=0,
                          log_every=100, seed=args.seed)
        Trainer(m, train, cfg, out_dir=None).fit()
        row = {"lam": lam, "train_cpu_s": time.process_time() - cpu0, "train_wall_s": time.perf_counter() - wall0}
        m.eval()
        with torch.no_grad():
            row.update(measure(m, test.x))
            if lam == args.bound_lam:
                t0 = time.process_time()
                bpd = torch.cat([m.bits_per_dim(test.x[i : i + 250], None) for i in range(0, len(test), 250)])
                row["bpd_bound"] = float(bpd.mean())
                row["bpd_se"] = float(bpd.std() / len(bpd) ** 0.5)
                row["bound_cpu_s"] = time.process_time() - t0
        save_image_grid(scaled_atoms(m), out / f"atoms_lam{lam:g}.png", nrow=8)
        rows.append(row)
        print(json.dumps(row), flush=True)
    plot(rows, out / "sparsity_vs_lambda.png")
    record = {"protocol": __doc__, "args": vars(args), "rows": rows, **provenance(__file__, argv)}
    (out / "results.json").write_text(json.dumps(record, indent=2))
    lines = ["# sparse-coding on MNIST-10k", "", f"Command: `{record['command']}`  ", f"Machine: {record['machine']}  ",
             f"Date: {record['date']}, commit {record['commit']}", "",
             f"K = {args.atoms} atoms, {args.steps} steps of batch 100 (Adam, lr {args.lr:g}) per lambda; held-out "
             "2,000 images coded by FISTA (<= 100 iterations).", "",
             "| lambda | zero codes | Hoyer | active atoms / image | atoms used | MSE / pixel | lasso objective | "
             "train CPU s |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['lam']:g} | {r['zero_fraction']:.3f} | {r['hoyer']:.3f} | {r['active_per_image']:.1f} | "
                     f"{r['atoms_used']} | {r['mse_per_pixel']:.4f} | {r['lasso_objective']:.3f} | "
                     f"{r['train_cpu_s']:.1f} |")
    for r in rows:
        if "bpd_bound" in r:
            lines += ["", f"Importance-sampled bound at lambda = {r['lam']:g}, sigma = {args.noise_std:g} (k = 100, "
                      f"dequantized): {r['bpd_bound']:.3f} +- {r['bpd_se']:.3f} bits/dim (an upper bound on the "
                      f"NLL in expectation; {r['bound_cpu_s']:.0f} CPU s)."]
    (out / "results.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
