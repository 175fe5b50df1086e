"""Scaling on the CPU: data-parallel throughput against the number of processes, and how a training step's time and
peak memory grow with the batch size and the image (or context) size for the UNet, the GPT and a flow.

DDP: the `vae` (MLP 784-512-256-16) trained by genzoo.train.Trainer on MNIST-10k with a global batch of 256 in
1, 2, ... processes of one thread each (gloo; each process its 256 / P slice, gradients averaged per step, as
under torchrun; docs/training.md "Distributed"), started with torch.multiprocessing like tests/train/ddp_jobs.py.
Throughput = examples per second of wall time over `--ddp-steps` steps after 3 warm-up steps, in interleaved
rounds (1, 2, ..., then 2, 1, ...). More processes than cores only share them, so the machine bounds the figure.

Step time and memory: one training step (model.loss, backward, Adam) of
    ddpm   the UNet (32, 64, 64) of benchmarks/diffusion_speed.py: batch 8..64 at 28x28; image 16..64 at batch 16
    gpt    4 layers, 4 heads, width 128, vocabulary 65: batch 4..64 at context 64; context 32..256 at batch 12
    realnvp  2-D (8 couplings, MLP 64-64): batch 256..16384; images (1, S, S), levels 2, 32 hidden channels:
           S = 8..32 at batch 16
Each point: the median of `--reps` steps' wall time after one warm-up step; peak memory = the process's peak
resident set (ru_maxrss) after the point's steps; each sweep runs in a fresh process, sizes in ascending order, so
each point's figure is that size's peak (freed memory of smaller sizes is reused); the process's resident set
before the first model (`base_rss_mb`: interpreter, torch) is recorded with the sweep. One thread. Writes
docs/results/scaling/scaling.json and the plots step_time.png and peak_memory.png.

    python benchmarks/scaling.py [--reps 3] [--ddp-steps 30] [--processes 1 2] [--out docs/results/scaling]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import provenance  # noqa: E402

from genzoo.models import Batch, create  # noqa: E402

DDP_BATCH = 256


# ---- data-parallel throughput --------------------------------------------------------------------------------
def _ddp_job(rank: int, world: int, port: int, steps: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank), WORLD_SIZE=str(world),
                      LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from genzoo.data import get
    from genzoo.train import TrainConfig, Trainer
    from genzoo.train import distributed as ddp

    x = get("mnist", split="train").x.float()
    torch.manual_seed(0)
    t = Trainer(create("vae"), x, TrainConfig(steps=10**6, batch_size=DDP_BATCH, device="cpu", progress=False,
                                              log_every=10**6))
    t.fit(stop_at=3)
    ddp.barrier(t.dist)
    t0 = time.perf_counter()
    t.fit(stop_at=3 + steps)
    ddp.barrier(t.dist)
    dt = time.perf_counter() - t0
    if rank == 0:
        Path(out).write_text(json.dumps({"seconds": dt}))
    ddp.shutdown()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ddp_throughput(world: int, steps: int) -> float:
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as d:
        out = str(Path(d) / "t.json")
        mp.spawn(_ddp_job, args=(world, _free_port(), steps, out), nprocs=world, join=True)
        return DDP_BATCH * steps / json.loads(Path(out).read_text())["seconds"]


# ---- step time and memory ------------------------------------------------------------------------------------
def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def make(model: str, size: int):
    """(model, batch maker(n)) for a family at one size (image side or context)."""
    torch.manual_seed(0)
    if model == "ddpm":
        m = create("ddpm", data_shape=(1, size, size), channels=(32, 64, 64), num_res_blocks=1,
                   attention=(False, False, True), heads=8, norm_groups=8, timesteps=1000)
        return m, lambda n: Batch(torch.rand(n, 1, size, size))
    if model == "gpt":
        m = create("gpt", vocab_size=65, context=size, n_layer=4, n_head=4, n_embd=128,
                   chars="".join(chr(33 + i) for i in range(65)))
        return m, lambda n: Batch(torch.randint(0, 65, (n, size)))
    if model == "realnvp":
        m = create("realnvp", data_shape=(2,), n_blocks=8, hidden=(64, 64))
        return m, lambda n: Batch(torch.randn(n, 2))
    if model == "realnvp-image":
        m = create("realnvp", data_shape=(1, size, size), levels=2, hidden_channels=32, steps=2, final_steps=2)
        return m, lambda n: Batch(torch.rand(n, 1, size, size))
    raise ValueError(model)


def time_point(model: str, size: int, batch: int, reps: int) -> dict:
    m, data = make(model, size)
    opt = torch.optim.Adam(m.parameters(), lr=1e-4)
    b = data(batch)

    def step():
        loss = m.loss(b)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    step()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    return {"size": size, "batch": batch, "step_s": statistics.median(times), "peak_rss_mb": round(peak_mb(), 1)}


def run_sweep(name: str, reps: int) -> tuple[float, list[dict]]:
    """(resident MB before the first model, the sweep's points), in this (fresh) process."""
    torch.set_num_threads(1)
    base = round(peak_mb(), 1)
    model, points = SWEEPS[name]
    return base, [time_point(model, size, batch, reps) for size, batch in points]


SWEEPS = {  # (label, model, [(size, batch), ...] ascending)
    "ddpm-batch": ("ddpm", [(28, b) for b in (8, 16, 32, 64)]),
    "ddpm-image": ("ddpm", [(s, 16) for s in (16, 32, 64)]),
    "gpt-batch": ("gpt", [(64, b) for b in (4, 12, 32, 64)]),
    "gpt-context": ("gpt", [(c, 12) for c in (32, 64, 128, 256)]),
    "realnvp-batch": ("realnvp", [(2, b) for b in (256, 1024, 4096, 16384)]),
    "realnvp-image": ("realnvp-image", [(s, 16) for s in (8, 16, 32)]),
}


def plot(res: dict, out: Path) -> None:
    import matplotlib.pyplot as plt

    for key, fname, ylabel in (("step_s", "step_time.png", "step time (s)"),
                               ("peak_rss_mb", "peak_memory.png", "peak RSS above a fresh process (MB)")):
        fig, axes = plt.subplots(1, 2, figsize=(10, 4))
        for name, points in res["sweeps"].items():
            by_batch = name.endswith("batch")
            ax = axes[0] if by_batch else axes[1]
            xs = [p["batch"] if by_batch else p["size"] for p in points]
            base = (res.get("base_rss_mb") or {}).get(name, 0.0) if key == "peak_rss_mb" else 0.0
            ax.plot(xs, [p[key] - base for p in points], "o-", label=name)
        axes[0].set_xlabel("batch size (ddpm 28x28, gpt context 64, realnvp 2-D)")
        axes[1].set_xlabel("image side (batch 16) / gpt context (batch 12)")
        for ax in axes:
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_ylabel(ylabel)
            ax.legend(fontsize=8)
            ax.grid(alpha=0.3)
        fig.suptitle(f"{ylabel}, one training step, CPU, 1 thread\n{res['provenance']['machine']}, "
                     f"{res['provenance']['date'][:10]}", fontsize=8)
        fig.tight_layout()
        fig.savefig(out / fname, dpi=110)
        plt.close(fig)


def main(argv=None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--ddp-steps", type=int, default=30)
    ap.add_argument("--ddp-rounds", type=int, default=2)
    ap.add_argument("--processes", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--only", nargs="+", choices=["ddp", *SWEEPS], default=None)
    ap.add_argument("--out", default=str(ROOT / "docs" / "results" / "scaling"))
    ap.add_argument("--replot", action="store_true", help="only redraw the plots from OUT/scaling.json")
    args = ap.parse_args(argv)
    if args.replot:
        res = json.loads((Path(args.out) / "scaling.json").read_text())
        plot(res, Path(args.out))
        return res
    torch.set_num_threads(1)
    res: dict = {"provenance": provenance(__file__, argv), "threads": 1, "sweeps": {}, "ddp": None}
    chosen = args.only or ["ddp", *SWEEPS]
    if "ddp" in chosen:
        rates: dict[int, list[float]] = {p: [] for p in args.processes}
        for r in range(args.ddp_rounds):
            for p in (args.processes if r % 2 == 0 else args.processes[::-1]):
                rates[p].append(ddp_throughput(p, args.ddp_steps))
                print(f"ddp round {r}: {p} process(es) {rates[p][-1]:.0f} examples/s", flush=True)
        one = statistics.median(rates[args.processes[0]])
        res["ddp"] = {"model": "vae (MLP 784-512-256-16)", "global_batch": DDP_BATCH, "steps": args.ddp_steps,
                      "cores": os.cpu_count(),
                      "rows": [{"processes": p, "examples_per_s": {"min": min(v), "median": statistics.median(v),
                                                                   "max": max(v)},
                                "speedup": statistics.median(v) / one} for p, v in rates.items()]}
    import multiprocessing as mp
    from concurrent.futures import ProcessPoolExecutor

    for name in (n for n in SWEEPS if n in chosen):
        with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:  # a fresh process per sweep
            base, res["sweeps"][name] = pool.submit(run_sweep, name, args.reps).result()
        res.setdefault("base_rss_mb", {})[name] = base
        for rec in res["sweeps"][name]:
            print(name, json.dumps(rec), flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "scaling.json").write_text(json.dumps(res, indent=1))
    if res["sweeps"]:
        plot(res, out)
    return res


if __name__ == "__main__":
    main()
