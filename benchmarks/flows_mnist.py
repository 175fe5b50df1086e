"""RealNVP and Glow on MNIST-10k: held-out bits/dim with uniform dequantization, in a CPU-time budget.

Protocol (docs/models/flows.md): train on the 8,000 training images of the shipped MNIST-10k (not full MNIST)
with fresh uniform dequantization noise every step ((255 x + u) / 256) and the logit transform (its log-det
included); report bits/dim = (NLL / 784 + ln 256) / ln 2 on all 2,000 held-out images with the dequantization
noise seeded by the model's `eval_seed` (a single-sample estimate of the dequantized bound).

Budget: `--minutes` is the limit of the WHOLE run after data loading and model construction, measured on
`--clock`: "cpu" (default; process CPU time with one thread, i.e. CPU-minutes, which stays meaningful on a shared
machine where other jobs take turns on the cores) or "wall" (wall-clock). Both are recorded. It covers training
steps, the periodic evaluations on a held-out subset (`--eval-subset` images every `--eval-every` minutes) and the
final evaluation on all 2,000 held-out images. Training stops early enough to leave time for the final
evaluation (estimated from the subset evaluations). Adam, linear warm-up then a time-based cosine decay of the
learning rate (the schedule follows the fraction of the training budget spent, not a step count), optional
Polyak averaging of the weights (`--ema`, the averaged weights are evaluated). Target: <= 1.3 bits/dim within
60 CPU minutes (one thread).

    python benchmarks/flows_mnist.py --model realnvp --minutes 60
    python benchmarks/flows_mnist.py --model glow --minutes 60

Writes {out}/mnist_{tag}_results.json, mnist_{tag}_samples.png, mnist_{tag}_curve.png (tag = model by default)
and rewrites {out}/mnist_results.md from every mnist_*_results.json there.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import math
import sys
import time
from pathlib import Path

import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from common import git_commit, machine  # noqa: E402

from genzoo.data import get  # noqa: E402
from genzoo.models import Batch, create  # noqa: E402
from genzoo.train import EMA  # noqa: E402

TARGET_BPD, TARGET_MINUTES = 1.3, 60.0
ARCH = {  # 28 x 28 allows two squeezes (14 x 14 x 4, then 7 x 7 x 8 after a split)
    "realnvp": dict(levels=2, steps=3, final_steps=4, hidden_channels=64),
    "glow": dict(levels=2, steps=8, hidden_channels=64, conv_kernel=3),
}


@torch.no_grad()
def heldout_bpd(model, x, bs=500):
    was = model.training
    model.eval()
    v = torch.cat([model.bits_per_dim(b) for b in x.split(bs)]).double()
    model.train(was)
    return float(v.mean()), float(v.std() / math.sqrt(len(v)))


def lr_at(frac: float, step: int, args) -> float:
    """Linear warm-up over `warmup` steps, then cosine from lr to lr * final_lr over the training budget."""
    warm = min(1.0, (step + 1) / args.warmup) if args.warmup > 0 else 1.0
    if args.schedule == "constant":
        return args.lr * warm
    cos = 0.5 * (1.0 + math.cos(math.pi * min(1.0, frac)))
    return args.lr * warm * (args.final_lr + (1.0 - args.final_lr) * cos)


def parse_sets(items: list[str]) -> dict:
    out = {}
    for it in items:
        k, _, v = it.partition("=")
        if not _:
            raise SystemExit(f"--set expects key=value, got {it!r}")
        out[k] = yaml.safe_load(v)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="realnvp", choices=sorted(ARCH))
    ap.add_argument("--set", nargs="*", default=[], help="model config overrides key=value (YAML values)")
    ap.add_argument("--minutes", type=float, default=60.0, help="budget of the whole run (see --clock)")
    ap.add_argument("--clock", default="cpu", choices=["cpu", "wall"],
                    help="cpu: process CPU time (CPU-minutes, 1 thread); wall: wall-clock")
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=200, help="linear warm-up steps")
    ap.add_argument("--schedule", default="cosine", choices=["cosine", "constant"])
    ap.add_argument("--final-lr", type=float, default=0.02, help="final lr as a fraction of --lr (cosine)")
    ap.add_argument("--ema", type=float, default=0.998, help="Polyak averaging decay (0: off)")
    ap.add_argument("--clip", type=float, default=50.0, help="gradient norm clip")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=float, default=5.0, help="minutes between subset evaluations")
    ap.add_argument("--eval-subset", type=int, default=500)
    ap.add_argument("--tag", default=None, help="name of the output files (default: the model name)")
    ap.add_argument("--out", default="docs/results/flows")
    args = ap.parse_args()
    tag = args.tag or args.model
    commit = git_commit()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_x = get("mnist", split="train").x.float()
    test_x = get("mnist", split="test").x.float()
    arch = {**ARCH[args.model], **parse_sets(args.set)}
    model = create(args.model, data_shape=(1, 28, 28), **arch)
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), args.lr)
    g = torch.Generator().manual_seed(args.seed)
    budget = args.minutes * 60
    clock = time.process_time if args.clock == "cpu" else time.perf_counter
    t_start, wall_start = clock(), time.perf_counter()

    def elapsed():
        return clock() - t_start

    with torch.no_grad():  # ActNorm data-dependent init on a larger batch
        model.log_prob(train_x[torch.randint(len(train_x), (512,), generator=g)])
    ema = EMA(model, args.ema) if args.ema > 0 else None

    def evaluated():
        return ema.applied(model) if ema is not None else contextlib.nullcontext(model)

    # a first subset evaluation measures the evaluation speed, to reserve time for the final one
    t0 = clock()
    first = heldout_bpd(model, test_x[: args.eval_subset])[0]
    per_image_eval = (clock() - t0) / args.eval_subset
    curve = [{"minutes": elapsed() / 60, "train_minutes": 0.0, "step": 0, "heldout_bpd_subset": first}]
    print(curve[-1], flush=True)
    n_final = 2 if args.ema > 0 else 1  # final evaluation(s) + samples, with a margin
    reserve = 1.5 * n_final * per_image_eval * len(test_x) + 20.0
    train_s, step, next_eval, ema_bpd, skipped = 0.0, 0, args.eval_every * 60, None, 0
    train_budget = budget - reserve  # upper bound for the schedule; evaluations shorten the actual training
    model.train()
    while elapsed() + reserve < budget:
        t0 = clock()
        for group in opt.param_groups:
            group["lr"] = lr_at(train_s / max(1.0, train_budget - (elapsed() - train_s)), step, args)
        b = train_x[torch.randint(len(train_x), (args.batch,), generator=g)]
        out = model.loss(Batch(b))
        opt.zero_grad(set_to_none=True)
        bpd = out["bpd"].item()
        if not math.isfinite(bpd):  # a non-finite batch loss: skip the update (counted and reported)
            skipped += 1
            train_s += clock() - t0
            if skipped > 20:
                raise SystemExit("more than 20 non-finite losses: diverged")
            continue
        out["loss"].backward()
        if args.clip > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), args.clip)
        opt.step()
        if ema is not None:
            ema.update(model)
        step += 1
        train_s += clock() - t0
        ema_bpd = bpd if ema_bpd is None else 0.98 * ema_bpd + 0.02 * bpd
        if step % 100 == 0:
            wall = (time.perf_counter() - wall_start) / 60
            print(f"step {step} {elapsed() / 60:.1f} {args.clock}-min (wall {wall:.1f}) "
                  f"lr {opt.param_groups[0]['lr']:.2e} "
                  f"train bpd {ema_bpd:.3f}", flush=True)
        if train_s >= next_eval:
            with evaluated():
                m, _ = heldout_bpd(model, test_x[: args.eval_subset])
            raw = heldout_bpd(model, test_x[: args.eval_subset])[0] if ema is not None else m
            curve.append({"minutes": elapsed() / 60, "train_minutes": train_s / 60, "step": step,
                          "heldout_bpd_subset": m, "heldout_bpd_subset_without_ema": raw,
                          "train_bpd_smoothed": ema_bpd})
            print(curve[-1], flush=True)
            next_eval += args.eval_every * 60
    raw_bpd = heldout_bpd(model, test_x)[0] if ema is not None else None  # for the record: the un-averaged weights
    t0 = clock()
    with evaluated():
        bpd, se = heldout_bpd(model, test_x)
        final_eval_s = clock() - t0
        sub = heldout_bpd(model, test_x[: args.eval_subset])[0]
        curve.append({"minutes": elapsed() / 60, "train_minutes": train_s / 60, "step": step,
                      "heldout_bpd_subset": sub, "train_bpd_smoothed": ema_bpd})
        out_dir = Path(args.out)
        out_dir.mkdir(parents=True, exist_ok=True)
        model.eval()
        torch.manual_seed(1)
        samples = {t: model.sample(64, temperature=t) for t in (1.0, 0.7)}
    total_minutes = elapsed() / 60
    wall_minutes = (time.perf_counter() - wall_start) / 60
    try:
        from genzoo.train import save_image_grid

        for t, s in samples.items():
            name = f"mnist_{tag}_samples.png" if t == 0.7 else f"mnist_{tag}_samples_t{t:g}.png"
            save_image_grid(s, out_dir / name, title=f"{tag}, temperature {t:g}")
    except Exception as e:  # noqa: BLE001
        print(f"sample grid not written: {e}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([c["minutes"] for c in curve], [c["heldout_bpd_subset"] for c in curve], "o-",
                label=f"held-out ({args.eval_subset})" + (", EMA weights" if ema is not None else ""))
        if ema is not None:
            raw = [c for c in curve if c.get("heldout_bpd_subset_without_ema") is not None]
            ax.plot([c["minutes"] for c in raw], [c["heldout_bpd_subset_without_ema"] for c in raw], "^:",
                    label=f"held-out ({args.eval_subset}), raw weights")
        tr = [c for c in curve if c.get("train_bpd_smoothed") is not None]
        ax.plot([c["minutes"] for c in tr], [c["train_bpd_smoothed"] for c in tr], "s--", label="train (smoothed)")
        ax.axhline(TARGET_BPD, color="k", ls="--", label="target 1.3")
        ax.set_ylim(min(1.0, bpd - 0.1), max(2.5, first if first < 8 else 2.5))
        ax.set_xlabel(f"{'CPU' if args.clock == 'cpu' else 'wall-clock'} minutes (whole run)")
        ax.set_ylabel("bits/dim")
        ax.set_title(f"{tag}: final {bpd:.3f} bits/dim on 2,000 held-out")
        ax.legend()
        fig.savefig(out_dir / f"mnist_{tag}_curve.png", dpi=80)
        plt.close(fig)
    except Exception as e:  # noqa: BLE001
        print(f"curve not written: {e}")
    res = {
        "benchmark": "flows_mnist", "model": args.model, "tag": tag, "arch": arch, "params": n_params,
        "heldout_bpd": bpd, "heldout_bpd_se": se, "heldout_bpd_without_ema": raw_bpd, "n_heldout": len(test_x),
        "steps": step, "skipped_nonfinite": skipped,
        "clock": args.clock, "train_minutes": train_s / 60, "total_minutes": total_minutes,
        "wall_minutes": wall_minutes, "final_eval_seconds": final_eval_s,
        "budget_minutes": args.minutes, "batch": args.batch, "lr": args.lr, "warmup": args.warmup,
        "schedule": args.schedule, "final_lr": args.final_lr, "ema": args.ema, "clip": args.clip,
        "threads": args.threads, "seed": args.seed,
        "target": f"<= {TARGET_BPD} bits/dim in <= {TARGET_MINUTES} CPU minutes",
        "target_met": bool(bpd <= TARGET_BPD and total_minutes <= TARGET_MINUTES),
        "curve": curve, "date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
        "command": "python " + " ".join(sys.argv), "git_commit": commit,
    }
    (out_dir / f"mnist_{tag}_results.json").write_text(json.dumps(res, indent=2))
    print(json.dumps({k: v for k, v in res.items() if k != "curve"}, indent=2))
    lines = ["# Flows on MNIST-10k (benchmarks/flows_mnist.py)", "",
             "Held-out bits/dim on all 2,000 held-out images of MNIST-10k (8,000 training images), uniform "
             "dequantization, seeded eval noise; minutes = the whole run (training + evaluations), on the run's clock "
             "(cpu: process CPU time, one thread), with its wall-clock time.", "",
             "| run | model | params | minutes (clock) | wall minutes | steps | batch | held-out bits/dim (2,000) "
             "| target met | date |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    cmds = []
    for p in sorted(out_dir.glob("mnist_*_results.json")):
        r = json.loads(p.read_text())
        total = r.get("total_minutes", r["train_minutes"])
        wall = r.get("wall_minutes", total)
        lines.append(f"| {r.get('tag', r['model'])} | {r['model']} | {r['params']:,} | {total:.1f} "
                     f"({r.get('clock', 'wall')}) | {wall:.1f} | {r['steps']} | "
                     f"{r['batch']} | {r['heldout_bpd']:.3f} +- {r['heldout_bpd_se']:.3f} | {r['target_met']} | "
                     f"{r['date']} |")
        cmds.append(f"- {r.get('tag', r['model'])}: `{r['command']}` ({r['machine']})")
    lines += ["", "Commands and machines:", *cmds, ""]
    (out_dir / "mnist_results.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
