"""DCGAN 28x28, batch 64: training steps per second through genzoo.train.Trainer against a plain PyTorch loop with
the same architecture (the same generator/discriminator modules, NS loss, Adam (0.5, 0.999), one D and one G step
per iteration), interleaved in one run so both see the same machine load (the order alternates per round). Reports
the ratio of the median rates and the median of the per-round ratios. Goal: ratio >= 1.0.

    python benchmarks/gan_dcgan_speed.py [--rounds 5] [--steps 20] [--device cpu] [--out docs/results/gans]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import platform
import statistics
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from gan_common import load_mnist

from genzoo.models import create
from genzoo.train import TrainConfig, Trainer


def plain_loop(model, x, steps, bs, device, g):
    """The reference: a textbook DCGAN loop written directly against torch."""
    G, D = model.generator, model.discriminator
    opt_g = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_d = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    zdim = model.config.latent_dim
    for _ in range(steps):
        idx = torch.randint(0, x.shape[0], (bs,), generator=g)
        real = x[idx].to(device) * 2 - 1
        fake = G(torch.randn(bs, zdim, device=device))
        d_loss = F.softplus(-D(real)[0]).mean() + F.softplus(D(fake.detach())[0]).mean()
        opt_d.zero_grad()
        d_loss.backward()
        opt_d.step()
        g_loss = F.softplus(-D(fake)[0]).mean()
        opt_g.zero_grad()
        g_loss.backward()
        opt_g.step()
    if device.type == "cuda":
        torch.cuda.synchronize()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--width", type=int, default=64)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", default="docs/results/gans")
    args = ap.parse_args()
    device = torch.device(args.device)
    x, _, src = load_mnist("train")
    torch.manual_seed(0)
    base = create("dcgan", width=args.width)
    ref_model = copy.deepcopy(base).to(device)
    trainer = Trainer(copy.deepcopy(base), x, TrainConfig(steps=10**8, batch_size=args.batch_size, progress=False,
                                                          log_every=10**6, device=args.device), out_dir=None)
    g = torch.Generator().manual_seed(0)
    plain_loop(ref_model, x, 2, args.batch_size, device, g)  # warm-up both
    trainer.fit(stop_at=trainer.step + 2)
    rates = {"genzoo": [], "plain": []}
    for r in range(args.rounds):
        for which in (("genzoo", "plain") if r % 2 == 0 else ("plain", "genzoo")):
            t0 = time.perf_counter()
            if which == "genzoo":
                trainer.fit(stop_at=trainer.step + args.steps)
            else:
                plain_loop(ref_model, x, args.steps, args.batch_size, device, g)
            rates[which].append(args.steps / (time.perf_counter() - t0))
        print(f"round {r}: genzoo {rates['genzoo'][-1]:.2f} steps/s, plain {rates['plain'][-1]:.2f} steps/s",
              flush=True)
    med = {k: statistics.median(v) for k, v in rates.items()}
    paired = [a / b for a, b in zip(rates["genzoo"], rates["plain"])]  # each round runs both back to back
    res = {"benchmark": "dcgan_speed", "date": datetime.date.today().isoformat(), "device": args.device,
           "machine": platform.processor() or platform.machine(), "torch": torch.__version__,
           "threads": torch.get_num_threads(), "batch_size": args.batch_size, "width": args.width,
           "rounds": args.rounds, "steps_per_round": args.steps, "data": src,
           "genzoo_steps_per_s": round(med["genzoo"], 3), "plain_steps_per_s": round(med["plain"], 3),
           "ratio": round(med["genzoo"] / med["plain"], 3),
           "median_paired_ratio": round(statistics.median(paired), 3),
           "rounds_genzoo_faster": sum(r > 1 for r in paired), "all": rates,
           "command": "python benchmarks/gan_dcgan_speed.py " + " ".join(sys.argv[1:])}
    print(json.dumps({k: v for k, v in res.items() if k != "all"}))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "dcgan_speed.json").write_text(json.dumps(res, indent=1))


if __name__ == "__main__":
    main()
