"""Trainer overhead: training steps per second through genzoo.train.Trainer against a plain PyTorch loop over the
same model, the same batches (the Trainer's own seeded order) and the same optimizer (torch's Adam, lr 1e-3).

The plain loop is what a user writes by hand:

    for idx in batches: out = model.loss(Batch(x[idx])); opt.zero_grad(); out["loss"].backward(); opt.step()

so the difference is the Trainer's per-step work: finiteness checks of every loss part and of the gradient norm,
the log accumulation, the schedule, the progress/stop-signal bookkeeping. Rounds are interleaved (the order
alternates per round) so both see the same machine load; the ratio (Trainer steps/s) / (plain steps/s) per round is
reported as min / median / max, from thread CPU time (the less noisy clock on a shared machine; one torch thread
runs in the calling thread) and from wall time. Goal: overhead = 1 - ratio <= 5 % (median, CPU time).

    python benchmarks/trainer_overhead.py --model vae [--rounds 8] [--steps 40] [--threads 1] [--out docs/results/vae]

The model: `vae` (MLP 784-512-256-16, Bernoulli decoder, dynamic binarisation, batch 128 of MNIST-10k), or
`dcgan` (width 64, batch 64; the Trainer runs the discriminator then the generator update of `update_order`, the
plain loop the same two `model.loss(batch, player)` updates).
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import machine  # noqa: E402

from genzoo.data import get  # noqa: E402
from genzoo.models import Batch, create  # noqa: E402
from genzoo.train import TrainConfig, Trainer  # noqa: E402

MODELS = {"vae": ({}, 128), "dcgan": ({"width": 64}, 64)}


def plain_loop(model, x, order, start: int, steps: int, opts: dict) -> None:
    """The reference loop: the model's own loss for each player of update_order, zero_grad, backward, step."""
    model.train()
    for i in range(start, start + steps):
        batch = Batch(x[order.indices(i)])
        for player in model.update_order(i):
            out = model.loss(batch, player)
            opts[player].zero_grad(set_to_none=True)
            out["loss"].backward()
            opts[player].step()
        model.on_step_end(i)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", choices=sorted(MODELS), default="vae")
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--steps", type=int, default=40, help="steps per round per loop")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=None, help="folder of <model>_overhead.json (default docs/results/<family>)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    cfg, bs = MODELS[args.model]
    x = get("mnist", split="train").x.float()
    torch.manual_seed(0)
    base = create(args.model, **cfg)
    tcfg = TrainConfig(steps=10**8, batch_size=bs, progress=False, log_every=10, device="cpu", optimizer="adam",
                       lr=1e-3, betas=(0.9, 0.999))
    trainer = Trainer(copy.deepcopy(base), x, tcfg)
    ref = copy.deepcopy(base)
    opts = {p: torch.optim.Adam(list(ps), lr=1e-3, betas=(0.9, 0.999)) for p, ps in ref.players().items()}
    step_ref = 0
    trainer.fit(stop_at=3)  # warm-up both
    plain_loop(ref, x, trainer.order, step_ref, 3, opts)
    step_ref += 3
    rates = {"trainer": [], "plain": []}
    cpu = {"trainer": [], "plain": []}
    for r in range(args.rounds):
        for which in (("trainer", "plain") if r % 2 == 0 else ("plain", "trainer")):
            t0, c0 = time.perf_counter(), time.thread_time()
            if which == "trainer":
                trainer.fit(stop_at=trainer.step + args.steps)
            else:
                plain_loop(ref, x, trainer.order, step_ref, args.steps, opts)
                step_ref += args.steps
            rates[which].append(args.steps / (time.perf_counter() - t0))
            cpu[which].append(args.steps / (time.thread_time() - c0))
        print(f"round {r}: trainer {cpu['trainer'][-1]:.1f} steps/CPU-s, plain {cpu['plain'][-1]:.1f} steps/CPU-s",
              flush=True)
    overhead = [1 - t / p for t, p in zip(cpu["trainer"], cpu["plain"])]
    overhead_wall = [1 - t / p for t, p in zip(rates["trainer"], rates["plain"])]
    res = {
        "benchmark": "trainer_overhead", "model": args.model, "config": cfg, "batch_size": bs,
        "date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
        "command": "python benchmarks/trainer_overhead.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "threads": args.threads, "rounds": args.rounds, "steps_per_round": args.steps,
        "trainer_steps_per_cpu_s_median": statistics.median(cpu["trainer"]),
        "plain_steps_per_cpu_s_median": statistics.median(cpu["plain"]),
        "overhead": {"min": min(overhead), "median": statistics.median(overhead), "max": max(overhead)},
        "overhead_wall": {"min": min(overhead_wall), "median": statistics.median(overhead_wall),
                          "max": max(overhead_wall)},
        "goal": "median overhead (CPU time) <= 5 %", "met": statistics.median(overhead) <= 0.05,
        "rates_cpu": cpu, "rates": rates,
    }
    out = Path(args.out) if args.out else ROOT / "docs" / "results" / ("vae" if args.model == "vae" else "gans")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{args.model}_overhead.json").write_text(json.dumps(res, indent=1))
    print(json.dumps({k: v for k, v in res.items() if k not in ("rates", "rates_cpu")}, indent=1))
    return res


if __name__ == "__main__":
    main()
