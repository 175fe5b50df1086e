"""2-D flows on the toy sets: held-out NLL against the data's entropy, and density plots.

Checkerboard (genzoo.data.toy2d: uniform on 8 squares of side 2 in [-4, 4)^2) has density 1/32 on its support,
so no model can score a held-out NLL below its entropy ln 32 = 3.466 nats; the target is NLL <= ln 32 + 0.15.
Each (model, set) is trained with Adam (cosine schedule) for a wall-clock budget and evaluated on 20,000 fresh
points (seed 12345), with the standard error of the mean. Writes {out}/toy_results.json, {out}/toy_results.md
and {out}/toy_{model}_{set}.png (data histogram | model density | model samples).

    python benchmarks/flows_toy.py --minutes 5 --sets checkerboard --models realnvp
    python benchmarks/flows_toy.py --minutes 1 --sets moons 8gaussians ring8 --models realnvp maf
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import machine  # noqa: E402

from genzoo.data import toy2d, toy2d_entropy  # noqa: E402
from genzoo.models import Batch, create  # noqa: E402

FLOOR_TARGET = 0.15
ARCH = {
    "realnvp": dict(n_blocks=16, hidden=(128, 128)),
    "maf": dict(n_blocks=8, hidden=(128, 128)),
    "nice": dict(n_blocks=8, hidden=(128, 128)),
    "glow": dict(steps=12, hidden=(128, 128)),
}


def train(model, name, minutes, batch, lr, seed):
    """Adam with a cosine schedule over the step count the time budget allows (estimated from the first 50 steps)."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr)
    g = torch.Generator().manual_seed(seed)
    pool = torch.as_tensor(toy2d(name, 200_000, seed=seed)).float()
    budget, t0, step, total = minutes * 60.0, time.perf_counter(), 0, None
    while True:
        spent = time.perf_counter() - t0
        if step == 50:
            total = max(100, int(50 * budget / max(spent, 1e-6)))
        if total is not None and step >= total or spent > budget * 1.2:
            break
        frac = step / total if total else 0.0
        for pg in opt.param_groups:
            pg["lr"] = lr * 0.5 * (1 + math.cos(math.pi * min(frac, 1.0)))
        b = pool[torch.randint(len(pool), (batch,), generator=g)]
        loss = model.loss(Batch(b))["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
    return step, time.perf_counter() - t0


@torch.no_grad()
def plot(model, name, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    data = toy2d(name, 50_000, seed=7)
    lim = float(max(abs(data).max(), 1.0)) * 1.1
    n = 300
    g = torch.linspace(-lim, lim, n)
    xx, yy = torch.meshgrid(g, g, indexing="ij")
    pts = torch.stack([xx.flatten(), yy.flatten()], 1)
    dens = torch.cat([model.log_prob(p).exp() for p in pts.split(20_000)]).view(n, n)
    mass = float(dens.sum() * (g[1] - g[0]) ** 2)
    s = model.sample(5000).numpy()
    fig, ax = plt.subplots(1, 3, figsize=(12, 4))
    ax[0].hist2d(data[:, 0], data[:, 1], bins=150, range=[[-lim, lim], [-lim, lim]], cmap="viridis")
    ax[0].set_title(f"data: {name}")
    ax[1].imshow(dens.T.numpy(), origin="lower", extent=[-lim, lim, -lim, lim], cmap="viridis")
    ax[1].set_title(f"model density (grid mass {mass:.3f})")
    ax[2].scatter(s[:, 0], s[:, 1], s=1, alpha=0.4)
    ax[2].set_xlim(-lim, lim)
    ax[2].set_ylim(-lim, lim)
    ax[2].set_title("model samples")
    for a in ax:
        a.set_aspect("equal")
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return mass


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=5.0, help="training budget per (model, set)")
    ap.add_argument("--sets", nargs="+", default=["checkerboard"])
    ap.add_argument("--models", nargs="+", default=["realnvp"])
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/results/flows")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    path = out / "toy_results.json"
    results = json.loads(path.read_text()) if path.exists() else {}
    mach = machine()
    for mname in args.models:
        for name in args.sets:
            model = create(mname, data_shape=(2,), **ARCH.get(mname, {}))
            steps, secs = train(model, name, args.minutes, args.batch, args.lr, args.seed)
            model.eval()
            test = torch.as_tensor(toy2d(name, 20_000, seed=12345)).float()
            with torch.no_grad():
                nll = torch.cat([-model.log_prob(t) for t in test.split(5000)]).double()
            entropy = None
            try:
                entropy = float(toy2d_entropy(name))
            except Exception:  # noqa: BLE001  sets without a closed-form entropy
                pass
            mass = plot(model, name, out / f"toy_{mname}_{name}.png",
                        f"{mname} on {name}: held-out NLL {nll.mean():.3f} nats")
            r = {
                "model": mname, "set": name, "arch": ARCH.get(mname, {}), "steps": steps,
                "train_seconds": round(secs, 1), "heldout_nll": float(nll.mean()),
                "heldout_nll_se": float(nll.std() / math.sqrt(len(nll))), "entropy_floor": entropy,
                "gap_to_floor": None if entropy is None else float(nll.mean()) - entropy,
                "grid_mass": mass, "date": datetime.datetime.now().isoformat(timespec="seconds"),
                "machine": mach, "command": "python " + " ".join(sys.argv),
            }
            if name == "checkerboard":
                r["target"] = f"NLL <= ln 32 + {FLOOR_TARGET} = {math.log(32) + FLOOR_TARGET:.3f}"
                r["target_met"] = r["gap_to_floor"] <= FLOOR_TARGET
            results[f"{mname}/{name}"] = r
            print(json.dumps(r), flush=True)
            path.write_text(json.dumps(results, indent=2))
    lines = ["# Flows on toy 2-D sets (benchmarks/flows_toy.py)", "",
             "| model | set | steps | train s | held-out NLL (nats) | entropy floor | gap | grid mass | date |",
             "|---|---|---|---|---|---|---|---|---|"]
    for r in results.values():
        floor = "-" if r["entropy_floor"] is None else f"{r['entropy_floor']:.3f}"
        gap = "-" if r["gap_to_floor"] is None else f"{r['gap_to_floor']:+.3f}"
        lines.append(f"| {r['model']} | {r['set']} | {r['steps']} | {r['train_seconds']} | "
                     f"{r['heldout_nll']:.3f} +- {r['heldout_nll_se']:.3f} | {floor} | {gap} | {r['grid_mass']:.3f} | "
                     f"{r['date']} |")
    lines += ["", f"Machine: {mach}", ""]
    (out / "toy_results.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
