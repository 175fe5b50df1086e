"""DDPM on 2-D toy sets: exact PF-ODE negative log-likelihood (exact trace) on held-out points, against what is
reachable, and density plots.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/diffusion_toy.py [--steps 5000] [--sets 8gaussians ring8 ...]

Per set: an MLP eps-network (3 x 256, SiLU) `ddpm` with the linear schedule, T = 1000, trained with Adam (lr 2e-3
cosine-decayed to 0, batch 512) and an EMA (0.999) of the weights. Its log-likelihood is that of the PF-ODE
density p_{t_min} at t_min = 1/T (the network's smallest trained noise level, std sqrt(beta_0) = 0.01), evaluated
on --eval-n held-out points, in nats (mean and standard error over points). Beside it, where the set has an exact
density (genzoo.data.toy2d_log_prob):
    true_nll      E[-log p_data(x)] on the same points (about the data's differential entropy; no model scores lower)
    floor_t_min   E[-log p_{t_min}(x)], p_{t_min} the exact data density pushed through the forward kernel to t_min
                  (a closed form for Gaussian mixtures and for the checkerboard): the best a perfect score network
                  can reach with this likelihood. gap_training = model - floor_t_min is the network's own shortfall;
                  floor_t_min - true_nll is the price of stopping at t_min (large only for very narrow modes: ring8,
                  std 0.01, about equal to the noise std at t_min).
Plots: data, DDIM-50 samples and exp(log p) of the PF-ODE on a grid. Writes docs/results/diffusion/toy.json and
toy_<set>.png with the machine, command and date.
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import math
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "docs" / "results" / "diffusion"


def forward_log_prob(name: str, x: torch.Tensor, m: float, s: float) -> torch.Tensor | None:
    """log p_t(x) of the exact data density after x_t = m x_0 + s eps (None where there is no closed form)."""
    from genzoo.data.toy import MIXTURES, toy2d_modes
    from genzoo.math import gaussian_log_prob

    x = x.double()
    if name in MIXTURES:
        modes = toy2d_modes(name)
        mu = modes.means.double() * m
        logvar = torch.full((2,), math.log(m**2 * modes.std**2 + s**2), dtype=torch.float64)
        return torch.logsumexp(gaussian_log_prob(x[:, None], mu, logvar), -1) - math.log(len(mu))
    if name == "checkerboard":
        ndtr = torch.special.ndtr
        total = torch.zeros(len(x), dtype=torch.float64)
        for i in range(-2, 2):
            for j in range(-2, 2):
                if (i + j) % 2:
                    continue
                p = torch.ones(len(x), dtype=torch.float64)
                for d, c in ((0, i), (1, j)):
                    a, b = 2.0 * c, 2.0 * c + 2.0
                    p = p * (ndtr((x[:, d] - m * a) / s) - ndtr((x[:, d] - m * b) / s)) / m
                total = total + p
        return torch.log(total / 32.0)
    return None


def mean_se(v: torch.Tensor) -> tuple[float, float]:
    v = v.double()
    return round(float(v.mean()), 4), round(float(v.std() / math.sqrt(len(v))), 4)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=5000)
    ap.add_argument("--sets", nargs="+", default=["8gaussians", "checkerboard", "ring8", "moons"])
    ap.add_argument("--eval-n", type=int, default=2000)
    ap.add_argument("--grid", type=int, default=60)
    ap.add_argument("--timesteps", type=int, default=1000)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    out = Path(args.out)
    torch.set_num_threads(1)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from genzoo.data import toy2d
    from genzoo.data.toy import DENSITIES, toy2d_log_prob
    from genzoo.models import Batch, create

    res = {"machine": f"{platform.machine()}, {platform.processor() or 'CPU'} (1 torch thread, 2-core machine "
                      "shared with other jobs)",
           "date": datetime.datetime.now().isoformat(timespec="seconds"),
           "command": "OMP_NUM_THREADS=1 .venv/bin/python " + " ".join(sys.argv),
           "protocol": f"ddpm MLP 3x256, linear T={args.timesteps}, eps, L_simple, {args.steps} Adam steps batch "
                       f"512, EMA 0.999; PF-ODE log p_(t_min = 1/T) with the exact trace (dopri5, tol 1e-5) on "
                       f"{args.eval_n} held-out points; nats", "sets": {}}
    for name in args.sets:
        torch.manual_seed(0)
        train = toy2d(name, 100000, seed=0).float()
        test = toy2d(name, args.eval_n, seed=1).float()
        m = create("ddpm", data_shape=(2,), timesteps=args.timesteps, pred="eps", hidden=(256, 256, 256),
                   sampler="ddim", sample_steps=50, likelihood_method="exact", ode_tol=1e-5, sample_batch=2000)
        ema = copy.deepcopy(m)
        opt = torch.optim.Adam(m.parameters(), lr=2e-3)
        lr_sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, args.steps)
        t0 = time.time()
        for step in range(args.steps):
            loss = m.loss(Batch(train[torch.randint(0, len(train), (512,))]))["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            lr_sched.step()
            with torch.no_grad():
                for pe, pm in zip(ema.parameters(), m.parameters()):
                    pe.lerp_(pm, 1 - min(0.999, (1 + step) / (10 + step)))
        train_s = time.time() - t0
        ema.eval()
        t1 = time.time()
        with torch.no_grad():
            lp = ema.log_prob(test)
        nll, se = mean_se(-lp)
        entry = {"train_steps": args.steps, "train_seconds": round(train_s, 1), "model_nll": nll, "model_nll_se": se,
                 "nll_eval_seconds": round(time.time() - t1, 1)}
        if name in DENSITIES:
            entry["true_nll"], entry["true_nll_se"] = mean_se(-toy2d_log_prob(name, test))
            mt, st = ema.schedule.sde().marginal(torch.tensor([1.0 / args.timesteps], dtype=torch.float64))
            floor = forward_log_prob(name, test, float(mt), float(st))
            entry["floor_t_min"], entry["floor_t_min_se"] = mean_se(-floor)
            entry["gap_training"] = mean_se(-lp.double() + floor)
            entry["gap_t_min"] = round(entry["floor_t_min"] - entry["true_nll"], 4)
        else:
            entry["true_nll"] = None
        print(name, entry, flush=True)
        torch.manual_seed(2)
        s = ema.sample(2000)
        lim = float(train.abs().max()) * 1.05
        g = torch.linspace(-lim, lim, args.grid)
        xx, yy = torch.meshgrid(g, g, indexing="xy")
        with torch.no_grad():
            dens = ema.log_prob(torch.stack([xx.flatten(), yy.flatten()], 1)).exp().reshape(args.grid, args.grid)
        fig, ax = plt.subplots(1, 3, figsize=(12, 4))
        ax[0].scatter(*train[:2000].T, s=1)
        ax[0].set_title(f"{name}: data")
        ax[1].scatter(*s.T, s=1)
        ax[1].set_title("DDIM-50 samples")
        ax[2].imshow(dens.numpy(), origin="lower", extent=(-lim, lim, -lim, lim))
        ax[2].set_title(f"PF-ODE density (NLL {nll:.2f} nats)")
        for a in ax[:2]:
            a.set_xlim(-lim, lim)
            a.set_ylim(-lim, lim)
        fig.tight_layout()
        out.mkdir(parents=True, exist_ok=True)
        fig.savefig(out / f"toy_{name}.png", dpi=80)
        plt.close(fig)
        res["sets"][name] = entry
        (out / "toy.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
