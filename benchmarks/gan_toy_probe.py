"""Learning curve of one GAN on a toy mixture: mode statistics every --eval-every steps, and steps per second.

    python benchmarks/gan_toy_probe.py --model wgan-gp --dataset ring8 --steps 4000 --eval-every 1000 \
        --lr 1e-4 --train-set betas=[0.5,0.9] --set gp_weight=10 --tag wgan-gp-lr1e-4

Uses the lab's settings (genzoo.lab.mode_collapse: LAB_2D architecture, batch 256, each model's lab optimiser settings,
cosine schedule over --steps unless overridden) and genzoo.train.Trainer, resumed with fit(stop_at=...) between
evaluations, so one run gives the whole curve. Used to size the lab's budget and to investigate a model's
settings (docs/models/gans.md, "WGAN-GP on the toy sets"). Appends one record to --out/toy_probes.json.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch
from gan_common import ROOT  # noqa: F401  (puts src/ on the path)

from genzoo.config import parse_set
from genzoo.eval.modes import mode_stats
from genzoo.lab.mode_collapse import lab_data, lab_settings
from genzoo.models import create
from genzoo.train import Trainer, make_train_config


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", default="wgan-gp")
    ap.add_argument("--dataset", default="ring8", choices=["ring8", "grid25"])
    ap.add_argument("--steps", type=int, default=4000)
    ap.add_argument("--eval-every", type=int, default=1000)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--lr", type=float, default=None)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--train-set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--tag", default="")
    ap.add_argument("--out", default="docs/results/gans")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    cfg, train = lab_settings(args.model, args.dataset)
    cfg = {**cfg, **parse_set(args.set)}
    train = {**train, **({"lr": args.lr} if args.lr is not None else {}), **parse_set(args.train_set)}
    model = create(args.model, **cfg)
    data = lab_data(args.dataset, 100_000, args.seed)
    tr = Trainer(model, data, make_train_config(steps=args.steps, batch_size=args.batch_size, seed=args.seed,
                                                progress=False, log_every=args.eval_every, device="cpu", **train),
                 out_dir=None)
    curve = []
    t_train = 0.0
    for stop in range(args.eval_every, args.steps + 1, args.eval_every):
        t0 = time.perf_counter()
        tr.fit(stop_at=stop)
        t_train += time.perf_counter() - t0
        model.eval()
        with torch.random.fork_rng():
            torch.manual_seed(10_000 + args.seed)
            st = mode_stats(model.sample(2500), args.dataset)
        model.train()
        row = {"step": stop, "modes_covered": st["modes_covered"], "high_quality_pct": round(st["high_quality_pct"], 2),
               "reverse_kl": round(st["reverse_kl"], 4), "seconds": round(t_train, 1)}
        curve.append(row)
        print(json.dumps(row), flush=True)
    rec = {"model": args.model, "dataset": args.dataset, "tag": args.tag, "seed": args.seed, "steps": args.steps,
           "batch_size": args.batch_size, "config": {k: list(v) if isinstance(v, tuple) else v for k, v in cfg.items()},
           "train": {k: list(v) if isinstance(v, tuple) else v for k, v in train.items()},
           "steps_per_second": round(args.steps / t_train, 2), "curve": curve,
           "machine": f"{platform.machine()} CPU, {torch.get_num_threads()} thread(s), "
                      f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS', '?')}",
           "torch": torch.__version__, "date": datetime.date.today().isoformat(),
           "command": "python benchmarks/gan_toy_probe.py " + " ".join(sys.argv[1:])}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "toy_probes.json"
    runs = json.loads(store.read_text())["runs"] if store.is_file() else []
    runs.append(rec)
    from genzoo.io import atomic_write_bytes

    atomic_write_bytes(store, json.dumps({"runs": runs}, indent=1).encode())
    print(f"{args.model} {args.dataset} {args.tag}: {rec['steps_per_second']} steps/s")


if __name__ == "__main__":
    main()
