"""Training speed of genzoo's RealNVP against zuko's with the same architecture, in one interleaved run.

Architecture (both): 8 affine coupling blocks with alternating masks on 2-D data, each conditioner an MLP
1 -> 64 -> 64 -> 2 (ReLU), soft-bounded log-scale, standard normal base; Adam (lr 1e-3), batch 512 of `moons`.
genzoo's step is the public training step `model.loss(Batch(x))["loss"]` (input checks included); zuko's is
`-flow().log_prob(x).mean()` (zuko.flows.RealNVP(2, transforms=8, hidden_features=(64, 64))).
The two loops alternate in rounds of `--steps` steps each (same batches), so machine load hits both alike; the
reported ratio is the median over rounds of (genzoo steps/s) / (zuko steps/s). Goal: >= 1.3x.

zuko is not a genzoo dependency: `pip install zuko` (or the `bench` extra) to run this benchmark.

    python benchmarks/flows_speed.py --rounds 10 --steps 100 --out docs/results/flows
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from genzoo.data import toy2d  # noqa: E402
from genzoo.models import Batch, create  # noqa: E402


def machine() -> str:
    cpu = platform.processor() or ""
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return (f"{platform.node()} | {cpu} | {os.cpu_count()} logical CPUs | torch {torch.__version__}, "
            f"{torch.get_num_threads()} threads | load average at start {load}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=10)
    ap.add_argument("--steps", type=int, default=100, help="steps per round per library")
    ap.add_argument("--batch", type=int, default=512)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="docs/results/flows")
    args = ap.parse_args()
    try:
        import zuko
    except ImportError:
        raise SystemExit("flows_speed.py compares against zuko, which is not a genzoo dependency: "
                         "`pip install zuko` (or `pip install genzoo[bench]`) and run again.") from None
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    data = torch.as_tensor(toy2d("moons", 100_000, seed=0)).float()
    g = torch.Generator().manual_seed(0)
    batches = [data[torch.randint(len(data), (args.batch,), generator=g)] for _ in range(args.steps)]

    ours = create("realnvp", data_shape=(2,), n_blocks=8, hidden=(64, 64), scale="tanh")
    theirs = zuko.flows.RealNVP(2, transforms=8, hidden_features=(64, 64))
    n_ours = sum(p.numel() for p in ours.parameters())
    n_theirs = sum(p.numel() for p in theirs.parameters())
    opt_o = torch.optim.Adam(ours.parameters(), 1e-3)
    opt_t = torch.optim.Adam(theirs.parameters(), 1e-3)

    def step_ours(b):
        loss = ours.loss(Batch(b))["loss"]
        opt_o.zero_grad(set_to_none=True)
        loss.backward()
        opt_o.step()

    def step_theirs(b):
        loss = -theirs().log_prob(b).mean()
        opt_t.zero_grad(set_to_none=True)
        loss.backward()
        opt_t.step()

    def timed(fn):
        t0 = time.perf_counter()
        for b in batches:
            fn(b)
        return args.steps / (time.perf_counter() - t0)

    for fn in (step_ours, step_theirs):  # warm-up
        for b in batches[:20]:
            fn(b)
    rates_o, rates_t, ratios = [], [], []
    for r in range(args.rounds):
        order = (step_ours, step_theirs) if r % 2 == 0 else (step_theirs, step_ours)
        res = {fn: timed(fn) for fn in order}
        rates_o.append(res[step_ours])
        rates_t.append(res[step_theirs])
        ratios.append(rates_o[-1] / rates_t[-1])
        print(f"round {r}: genzoo {rates_o[-1]:.1f} steps/s, zuko {rates_t[-1]:.1f} steps/s, ratio {ratios[-1]:.2f}",
              flush=True)
    with torch.no_grad():
        test = torch.as_tensor(toy2d("moons", 5000, seed=1)).float()
        nll_o = -ours.log_prob(test).mean().item()
        nll_t = -theirs().log_prob(test).mean().item()
    res = {
        "benchmark": "flows_speed",
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": machine(),
        "command": "python " + " ".join(sys.argv),
        "zuko_version": zuko.__version__,
        "architecture": "8 affine couplings, MLP (64, 64) ReLU, 2-D moons, batch %d, Adam 1e-3" % args.batch,
        "params": {"genzoo": n_ours, "zuko": n_theirs},
        "steps_per_s": {"genzoo_median": statistics.median(rates_o), "zuko_median": statistics.median(rates_t)},
        "ratio_median": statistics.median(ratios),
        "ratio_min": min(ratios),
        "ratio_max": max(ratios),
        "goal": ">= 1.3",
        "heldout_nll_after_training": {"genzoo": nll_o, "zuko": nll_t,
                                       "steps": args.rounds * args.steps + 20},
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "speed_results.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
