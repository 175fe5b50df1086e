"""The energy-based model on 2-D toy sets: held-out NLL (log Z on the model's grid) beside the data's entropy,
density plots and samples.

`ebm` with the 2-D grid normalisation: log Z by the midpoint rule on 256 x 256 cells over [-4, 4]^2 (mass outside
the box neglected), so log p(x) = -E(x) - log Z. Each set is trained with SGLD negatives from the replay buffer
(Adam, cosine schedule over the step count the CPU budget allows, estimated from the first 50 steps) and evaluated on
20,000 fresh points (seed 12345) with the standard error of the mean; no model can score below the data's entropy
(8gaussians: ln 8 + ln(2 pi e sigma^2) up to the components' overlap; checkerboard: ln 32). Writes
{out}/toy_results.json, {out}/ebm_toy.md and {out}/toy_ebm_{set}.png (data | model density | samples).

    python benchmarks/ebm_toy.py --minutes 3.5 --sets 8gaussians checkerboard
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import CPUBudget, provenance  # noqa: E402

from genzoo.data import toy2d, toy2d_entropy  # noqa: E402
from genzoo.models import Batch, create  # noqa: E402

CONFIG = dict(hidden=(128, 128), sgld_steps=20, sgld_step=0.03, buffer_size=2000, reinit_prob=0.05, alpha=0.1,
              resolution=256, sample_steps=500)


def train(model, name, minutes, batch, lr, seed):
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr, betas=(0.0, 0.999))
    g = torch.Generator().manual_seed(seed)
    pool = toy2d(name, 200_000, seed=seed)
    budget, step, total = CPUBudget(minutes), 0, None
    model.train()
    while True:
        if step == 50:
            total = max(100, int(50 * budget.seconds / max(budget.used(), 1e-6)))
        if (total is not None and step >= total) or budget.left() < -0.2 * budget.seconds:
            break
        frac = step / total if total else 0.0
        for pg in opt.param_groups:
            pg["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        loss = model.loss(Batch(pool[torch.randint(len(pool), (batch,), generator=g)]))["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
    return step, budget.used(), budget.wall()


def plot(model, name, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = toy2d(name, 50_000, seed=7).numpy()
    lo, hi = model.config.bounds
    cells, area = model.grid()
    r = model.config.resolution
    with torch.no_grad():
        dens = model.log_prob(cells).exp().view(r, r)
    s = model.sample(5000, generator=torch.Generator().manual_seed(3)).numpy()
    fig, ax = plt.subplots(1, 3, figsize=(12, 4))
    ax[0].hist2d(data[:, 0], data[:, 1], bins=150, range=[[lo, hi], [lo, hi]], cmap="viridis")
    ax[0].set_title(f"data: {name}")
    ax[1].imshow(dens.T.numpy(), origin="lower", extent=[lo, hi, lo, hi], cmap="viridis")
    ax[1].set_title(f"exp(-E) / Z ({r} x {r} grid)")
    ax[2].scatter(s[:, 0], s[:, 1], s=1, alpha=0.4)
    ax[2].set_xlim(lo, hi)
    ax[2].set_ylim(lo, hi)
    ax[2].set_title(f"SGLD samples ({model.config.sample_steps} steps from noise)")
    for a in ax:
        a.set_aspect("equal")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return float(dens.sum() * area)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=3.5, help="CPU minutes of training per set")
    ap.add_argument("--sets", nargs="+", default=["8gaussians", "checkerboard"])
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/results/energy")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "toy_results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    prov = provenance(__file__)
    for name in args.sets:
        torch.manual_seed(args.seed)
        model = create("ebm", data_shape=(2,), **CONFIG)
        test = toy2d(name, 20_000, seed=12345)
        model.eval()
        with torch.no_grad():
            nll0 = float(-model.log_prob(test).mean())
        steps, cpu, wall = train(model, name, args.minutes, args.batch, args.lr, args.seed)
        model.eval()
        with torch.no_grad():
            nll = (-model.log_prob(test)).double()
        entropy = toy2d_entropy(name)
        mass = plot(model, name, out / f"toy_ebm_{name}.png", f"ebm on {name}: held-out NLL {nll.mean():.3f} nats")
        r = {"set": name, "config": CONFIG, "steps": steps, "batch": args.batch, "cpu_seconds": round(cpu, 1),
             "wall_seconds": round(wall, 1), "initial_nll": nll0, "heldout_nll": float(nll.mean()),
             "heldout_nll_se": float(nll.std() / math.sqrt(len(nll))), "entropy": entropy,
             "gap": None if entropy is None else float(nll.mean()) - entropy, "grid_mass": mass, **prov}
        results[name] = r
        print(json.dumps(r), flush=True)
        path.write_text(json.dumps(results, indent=2))
    lines = ["# Energy-based model on toy 2-D sets (benchmarks/ebm_toy.py)", "",
             "log Z by the midpoint rule on 256 x 256 cells over [-4, 4]^2 (mass outside the box neglected); "
             "held-out NLL on 20,000 fresh points (seed 12345), +- the standard error; entropy = the data's "
             "differential entropy (the floor).", "",
             f"Model: `ebm` {CONFIG}; Adam (betas 0, 0.999), lr {args.lr} with a cosine schedule, batch {args.batch}.",
             "", "| set | steps | CPU s | wall s | initial NLL | held-out NLL (nats) | entropy | gap | grid mass |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results.values():
        ent = "-" if r["entropy"] is None else f"{r['entropy']:.3f}"
        gap = "-" if r["gap"] is None else f"{r['gap']:+.3f}"
        lines.append(f"| {r['set']} | {r['steps']} | {r['cpu_seconds']} | {r['wall_seconds']} | {r['initial_nll']:.3f} "
                     f"| {r['heldout_nll']:.3f} +- {r['heldout_nll_se']:.3f} | {ent} | {gap} | {r['grid_mass']:.3f} |")
    lines += ["", "Plots: " + ", ".join(f"`toy_ebm_{r['set']}.png`" for r in results.values()), ""]
    for r in results.values():
        lines.append(f"- {r['set']}: `{r['command']}`, {r['date']}, {r['machine']}, commit {r['commit']}")
    lines += ["", "Machine class: 2-core CPU.", ""]
    (out / "ebm_toy.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
