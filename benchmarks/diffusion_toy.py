"""DDPM on 2-D toy sets: PF-ODE negative log-likelihood (exact trace) on held-out points and density plots.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/diffusion_toy.py [--steps 3000] [--sets ring8 moons]

Trains an MLP eps-prediction network (linear schedule, T = 200) per set with Adam + EMA, then
log p(x) by the probability-flow ODE on 500 held-out points (nats, and against the set's true density where
genzoo.data.toy2d_log_prob has it), and plots samples and exp(log p) on a grid. Writes
docs/results/diffusion/toy.json and toy_<set>.png.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "diffusion"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--sets", nargs="+", default=["ring8", "moons"])
    ap.add_argument("--grid", type=int, default=40)
    args = ap.parse_args()
    torch.set_num_threads(1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genzoo.data import toy2d
    from genzoo.models import Batch, create

    res = {"machine": f"{platform.machine()} (1 torch thread, shared CPU)", "date":
           datetime.datetime.now().isoformat(timespec="seconds"),
           "command": "OMP_NUM_THREADS=1 .venv/bin/python " + " ".join(sys.argv), "sets": {}}
    for name in args.sets:
        torch.manual_seed(0)
        train = torch.as_tensor(toy2d(name, 20000, seed=0)).float()
        test = torch.as_tensor(toy2d(name, 500, seed=1)).float()
        m = create("ddpm", data_shape=(2,), timesteps=200, pred="eps", hidden=(128, 128, 128), sampler="ddim",
                   sample_steps=50, likelihood_method="exact", ode_tol=1e-4)
        ema = copy.deepcopy(m)
        opt = torch.optim.Adam(m.parameters(), lr=1e-3)
        t0 = time.time()
        for step in range(args.steps):
            loss = m.loss(Batch(train[torch.randint(0, len(train), (256,))]))["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), m.parameters()):
                    pe.lerp_(pm, 1 - min(0.995, (1 + step) / (10 + step)))
        train_s = time.time() - t0
        ema.eval()
        t1 = time.time()
        lp = ema.log_prob(test)
        entry = {"train_steps": args.steps, "train_seconds": round(train_s, 1),
                 "pf_ode_nll_nats": round(-lp.mean().item(), 3), "nll_se": round((lp.std() / 500**0.5).item(), 3),
                 "nll_seconds": round(time.time() - t1, 1)}
        try:
            from genzoo.data.toy import toy2d_log_prob

            entry["true_nll_nats"] = round(-toy2d_log_prob(name, test).mean().item(), 3)
        except Exception as e:  # no closed-form density for this set
            entry["true_nll_nats"] = None
            entry["true_nll_note"] = str(e)[:80]
        s = ema.sample(2000)
        lim = float(train.abs().max()) * 1.1
        g = torch.linspace(-lim, lim, args.grid)
        xx, yy = torch.meshgrid(g, g, indexing="xy")
        dens = ema.log_prob(torch.stack([xx.flatten(), yy.flatten()], 1)).exp().reshape(args.grid, args.grid)
        fig, ax = plt.subplots(1, 3, figsize=(12, 4))
        ax[0].scatter(*train[:2000].T, s=1)
        ax[0].set_title(f"{name}: data")
        ax[1].scatter(*s.T, s=1)
        ax[1].set_title("DDIM-50 samples")
        ax[2].imshow(dens.numpy(), origin="lower", extent=(-lim, lim, -lim, lim))
        ax[2].set_title("PF-ODE density")
        for a in ax[:2]:
            a.set_xlim(-lim, lim)
            a.set_ylim(-lim, lim)
        fig.tight_layout()
        OUT.mkdir(parents=True, exist_ok=True)
        fig.savefig(OUT / f"toy_{name}.png", dpi=80)
        plt.close(fig)
        res["sets"][name] = entry
        print(name, entry, flush=True)
    (OUT / "toy.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
