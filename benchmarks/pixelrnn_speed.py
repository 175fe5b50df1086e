"""PixelRNN speed on MNIST 28 x 28: a training step of `pixelrnn` (Row LSTM) and `pixelrnn-diag` (Diagonal BiLSTM),
and drawing samples pixel by pixel (docs/models/autoregressive.md, "PixelRNN").

A training step is loss -> zero_grad -> backward -> Adam step (lr 1e-3) on a batch of dynamically binarized MNIST
images, the models at their defaults (the paper's MNIST size: 7 residual LSTM layers, h = 16, a 7 x 7 mask-A
layer, Bernoulli output) unless `--set` says otherwise. The two models alternate round by round so that machine
load hits both alike; a figure is the median over rounds of the per-step wall-clock and process CPU time.
Sampling draws `--sample-n` images once per model (784 network passes on the rows drawn so far).

    python benchmarks/pixelrnn_speed.py --rounds 4 --steps 2 --batch-size 32 --sample-n 8 \
        --out docs/results/autoregressive
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from common import provenance  # noqa: E402

from genzoo.config import parse_set  # noqa: E402
from genzoo.data import get  # noqa: E402
from genzoo.models import Batch, create  # noqa: E402

MODELS = ("pixelrnn", "pixelrnn-diag")


def step_times(model, opt, x: torch.Tensor, steps: int) -> tuple[float, float]:
    """(wall, CPU) seconds per training step over `steps` steps."""
    wall0, cpu0 = time.perf_counter(), time.process_time()
    for _ in range(steps):
        out = model.loss(Batch(x))
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        opt.step()
    return (time.perf_counter() - wall0) / steps, (time.process_time() - cpu0) / steps


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per model and round")
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--sample-n", type=int, default=8, help="images drawn once per model (0: no sampling)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="model config for both")
    ap.add_argument("--out", default=None, help="folder for pixelrnn_speed.json / .md (default: print only)")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    prov = provenance(__file__, argv)
    extra = parse_set(args.set)
    x = get("mnist").x[: args.batch_size]
    models, opts = {}, {}
    for name in MODELS:
        torch.manual_seed(0)
        models[name] = create(name, data_shape=(1, 28, 28), **extra)
        opts[name] = torch.optim.Adam(models[name].parameters(), lr=1e-3)
        step_times(models[name], opts[name], x, 1)  # warm-up
    wall: dict[str, list[float]] = {n: [] for n in MODELS}
    cpu: dict[str, list[float]] = {n: [] for n in MODELS}
    for r in range(args.rounds):
        for name in (MODELS if r % 2 == 0 else MODELS[::-1]):
            w, c = step_times(models[name], opts[name], x, args.steps)
            wall[name].append(w)
            cpu[name].append(c)
    results = {}
    for name, m in models.items():
        rec = {"params": sum(p.numel() for p in m.parameters()), "step_wall_s": statistics.median(wall[name]),
               "step_cpu_s": statistics.median(cpu[name])}
        if args.sample_n:
            m.eval()
            t0 = time.perf_counter()
            s = m.sample(args.sample_n, generator=torch.Generator().manual_seed(0))
            rec["sample_wall_s"] = time.perf_counter() - t0
            rec["sample_mean"] = float(s.mean())
        results[name] = rec
        print(name, json.dumps(rec))
    lines = [f"# PixelRNN speed, MNIST 28 x 28, batch {args.batch_size}, {args.threads} thread(s)", "",
             f"`{prov['command']}`  ", f"{prov['date']}, commit {prov['commit']}  ", f"{prov['machine']}", "",
             "| model | parameters | training step (wall, s) | training step (CPU, s) | "
             f"{args.sample_n} samples (wall, s) |", "|---|---|---|---|---|"]
    for name, rec in results.items():
        smp = f"{rec['sample_wall_s']:.1f}" if "sample_wall_s" in rec else "-"
        lines.append(f"| {name} | {rec['params']:,} | {rec['step_wall_s']:.3f} | {rec['step_cpu_s']:.3f} | {smp} |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.out:
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        (out / "pixelrnn_speed.json").write_text(json.dumps({"provenance": prov, "args": vars(args),
                                                             "results": results}, indent=2))
        (out / "pixelrnn_speed.md").write_text(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
