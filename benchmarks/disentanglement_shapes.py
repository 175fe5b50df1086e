"""beta-VAE against VAE on the shapes set at the same CPU budget: MIG, linear-probe scores and traversal grids.

    OMP_NUM_THREADS=1 python benchmarks/disentanglement_shapes.py --minutes 1.6 --seeds 0 1 2

Both models are the same network (MLP 1024-256-128-10 and back, a Bernoulli decoder on the grey-level pictures as
given, binarize "none", 10 latent dimensions as in Higgins et al. 2017 and disentanglement_lib), built by
`genzoo.models.create("vae" / "beta-vae", ...)` and trained by the one `Trainer` (batch 64, Adam at the models'
default lr 1e-3) for `--minutes` CPU minutes of this process each (benchmarks/common.CPUBudget); the only
difference is the KL weight beta (1 for vae, `--beta` for beta-vae). Then, per run:
  - codes: posterior means of all 9,216 factor combinations (train and test splits together);
  - MIG (`genzoo.analysis.mig`, 20 bins) of those codes against the five factors (full grid: the factors are
    exactly independent, so the plug-in bias is about 19 x 7 / (2 x 9216) = 0.007 nats);
  - linear probe (`genzoo.analysis.linear_probe`): fitted on the train split's codes, scored on the test split's
    (shape: accuracy, chance 1/3; scale, x, y: R^2; rotation: circular R^2 - hard for any code, the square and the
    ellipse repeat every 90 / 180 degrees);
  - the test split's negative ELBO parts (recon, KL in nats) and the active dimensions (KL_j > 0.01 nats);
  - for the first seed, a traversal grid (`genzoo.analysis.latent_traversal`, rows by KL, from one test image,
    -3..3 in 9 steps).
Writes disentanglement_shapes.json, .md and the PNGs to `--out`; the table gives mean +- standard error over
seeds.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CPUBudget, mean_se, provenance  # noqa: E402

import genzoo.data as gd  # noqa: E402
from genzoo.analysis import latent_traversal, linear_probe, mig, per_dim_kl, save_image_grid  # noqa: E402
from genzoo.data.shapes import factor_values  # noqa: E402
from genzoo.io import atomic_write_bytes  # noqa: E402
from genzoo.models import Batch, create  # noqa: E402
from genzoo.train import TrainConfig, Trainer  # noqa: E402

NET = {"arch": "mlp", "hidden": (256, 128), "latent_dim": 10, "decoder": "bernoulli", "binarize": "none"}
ACTIVE_NATS = 0.01


@torch.no_grad()
def codes_of(model, x: torch.Tensor) -> np.ndarray:
    return torch.cat([model.encode(x[i : i + 1024])[0] for i in range(0, len(x), 1024)]).double().numpy()


@torch.no_grad()
def test_terms(model, x: torch.Tensor) -> dict:
    parts = [model.loss(Batch(x[i : i + 1024])) for i in range(0, len(x), 1024)]
    w = torch.tensor([min(1024, len(x) - i) for i in range(0, len(x), 1024)], dtype=torch.float64) / len(x)
    return {k: float(sum(float(p[k]) * wi for p, wi in zip(parts, w))) for k in ("recon", "kl")}


def run(name: str, beta: float, seed: int, minutes: float, train, test, full, out: Path, picture: bool) -> dict:
    torch.manual_seed(seed)
    model = create(name, data_shape=(1, 32, 32), beta=beta, **NET)
    tr = Trainer(model, train, TrainConfig(steps=10**7, batch_size=64, seed=seed, progress=False, log_every=200,
                                           ckpt_every=0), out_dir=None)
    budget = CPUBudget(minutes)
    while budget.left() > 0:
        tr.fit(stop_at=tr.step + 50)
    cpu_s, wall_s = budget.used(), budget.wall()
    model.eval()
    z_full = codes_of(model, full.x)
    m = mig(z_full, full.meta["factor_values"].numpy())
    p = linear_probe(codes_of(model, train.x), train.meta["factor_values"].numpy(), codes_of(model, test.x),
                     test.meta["factor_values"].numpy(), kinds=train.meta["factor_kinds"])
    kl = per_dim_kl(model, test.x)
    res = {"model": name, "beta": beta, "seed": seed, "steps": tr.step, "cpu_seconds": round(cpu_s, 1),
           "wall_seconds": round(wall_s, 1), "mig": m.mig, "mig_per_factor": m.per_factor.tolist(),
           "mig_best_dim": m.best_dim.tolist(), "probe": p.mean, "probe_per_factor": p.scores.tolist(),
           "probe_chance": p.chance.tolist(), "test": test_terms(model, test.x), "kl_per_dim": kl.tolist(),
           "active_dims": int((kl > ACTIVE_NATS).sum())}
    if picture:
        start = test.x[int(np.flatnonzero(test.meta["factor_index"][:, 1].numpy() == 5)[0])]  # a large shape
        t = latent_traversal(model, x=start, order="kl", kl_data=test.x, steps=9, span=3.0)
        save_image_grid(t.images, out / f"traversal_{name}.png", nrow=9)
        res["traversal_rows"] = t.dims
    print(json.dumps({k: res[k] for k in ("model", "seed", "steps", "cpu_seconds", "mig", "probe", "active_dims")}),
          flush=True)
    return res


def summary(rows: list[dict]) -> dict:
    def ms(values):
        m, s = mean_se(torch.tensor(values, dtype=torch.float64)) if len(values) > 1 else (values[0], float("nan"))
        return [m, s]
    return {"mig": ms([r["mig"] for r in rows]), "probe": ms([r["probe"] for r in rows]),
            "mig_per_factor": [ms([r["mig_per_factor"][k] for r in rows]) for k in range(5)],
            "probe_per_factor": [ms([r["probe_per_factor"][k] for r in rows]) for k in range(5)],
            "recon": ms([r["test"]["recon"] for r in rows]), "kl": ms([r["test"]["kl"] for r in rows]),
            "active_dims": ms([r["active_dims"] for r in rows]), "steps": ms([r["steps"] for r in rows])}


def pm(v, digits=3) -> str:
    return f"{v[0]:.{digits}f} ± {v[1]:.{digits}f}" if np.isfinite(v[1]) else f"{v[0]:.{digits}f}"


def report(doc: dict, names: list[str]) -> str:
    factors = doc["factors"]
    s = doc["summary"]
    lines = [
        "# beta-VAE against VAE on shapes: MIG, linear probe, traversals", "",
        f"Command: `{doc['command']}`  ", f"Date: {doc['date']}  ", f"Machine: {doc['machine']}  ",
        f"Commit: {doc['commit']}", "",
        f"Each model: {doc['budget_cpu_minutes']} CPU minutes (one thread) per seed, seeds {doc['seeds']}; "
        f"network {doc['network']}; mean ± standard error over seeds.", "",
        "| model | beta | steps | MIG | linear probe (mean) | test recon (nats) | test KL (nats) | active dims |",
        "|---|---|---|---|---|---|---|---|"]
    for n in names:
        r = s[n]
        lines.append(f"| {n} | {doc['betas'][n]:g} | {r['steps'][0]:.0f} | {pm(r['mig'])} | {pm(r['probe'])} | "
                     f"{pm(r['recon'], 1)} | {pm(r['kl'], 2)} | {pm(r['active_dims'], 1)} |")
    lines += ["", "Per factor (MIG / probe score: accuracy for shape, chance 1/3; R^2 for scale, x, y; mean R^2 of "
              "(cos, sin) for rotation):", "", "| model | " + " | ".join(factors) + " |",
              "|---|" + "---|" * len(factors)]
    for n in names:
        r = s[n]
        cells = [f"{pm(a, 2)} / {pm(b, 2)}" for a, b in zip(r["mig_per_factor"], r["probe_per_factor"])]
        lines.append(f"| {n} | " + " | ".join(cells) + " |")
    a, b = s[names[0]]["mig"], s[names[1]]["mig"]
    diff, se = b[0] - a[0], float(np.hypot(a[1], b[1]))
    if np.isfinite(se) and diff > 2 * se:
        verdict = f"beta-VAE has the higher MIG at this budget: {diff:+.3f} ± {se:.3f} (more than 2 SE)."
    elif np.isfinite(se) and diff < -2 * se:
        verdict = f"beta-VAE does NOT beat VAE at this budget: its MIG is lower by {-diff:.3f} ± {se:.3f}."
    else:
        verdict = (f"beta-VAE does NOT clearly beat VAE at this budget: the MIG difference {diff:+.3f} ± {se:.3f} "
                   f"is within 2 SE.")
    lines += ["", f"**{verdict}**", "", "Traversal grids (first seed; rows = latent dimensions by decreasing KL, "
              "columns = -3 ... 3 with the others at a test image's posterior mean):", ""]
    for n in names:
        lines.append(f"- {n}: ![{n}](traversal_{n}.png) rows {doc['traversal_rows'][n]}")
    lines += ["", "The data (first 32 training images): ![shapes](shapes_data.png)", ""]
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=1.6, help="training budget per model and seed, CPU minutes")
    ap.add_argument("--beta", type=float, default=4.0, help="the beta-vae's KL weight")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--out", default="docs/results/analysis/disentanglement")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    train, test = gd.get("shapes"), gd.get("shapes", "test")
    x, index = gd.shapes_images()
    full = gd.ArrayDataset(x, index[:, 0].clone(), "shapes", "image",
                           {"factor_values": factor_values(index)})
    save_image_grid(train.x[:32], out / "shapes_data.png", nrow=16)
    betas = {"vae": 1.0, "beta-vae": args.beta}
    rows: dict[str, list[dict]] = {n: [] for n in betas}
    for seed in args.seeds:
        for n, beta in betas.items():
            rows[n].append(run(n, beta, seed, args.minutes, train, test, full, out, seed == args.seeds[0]))
    doc = {"budget_cpu_minutes": args.minutes, "seeds": args.seeds, "betas": betas,
           "network": ", ".join(f"{k} {v}" for k, v in NET.items()), "factors": train.meta["factors"],
           "summary": {n: summary(r) for n, r in rows.items()},
           "traversal_rows": {n: r[0]["traversal_rows"] for n, r in rows.items()}, "runs": rows,
           **provenance(__file__)}
    atomic_write_bytes(out / "disentanglement_shapes.json", json.dumps(doc, indent=1).encode())
    atomic_write_bytes(out / "disentanglement_shapes.md", report(doc, list(betas)).encode())
    print(report(doc, list(betas)))


if __name__ == "__main__":
    main()
