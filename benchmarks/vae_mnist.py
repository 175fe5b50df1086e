"""VAE / IWAE on dynamically binarized MNIST-10k: held-out NLL by importance sampling (k = 5000).

Protocol (docs/models/vae.md): train on the 8,000 training images with dynamic binarization (a fresh
x ~ Bernoulli(intensity) every step); the 2,000 held-out images are binarized once (seed 123). The model is the
IWAE paper's one-stochastic-layer architecture by default (MLP 784-200-200-50, tanh, mirrored decoder, Bernoulli
likelihood), trained by `genzoo.train.Trainer` with Adam and a cosine learning-rate decay.

Budget: `--minutes` of training CPU time of this process on one thread (`time.process_time`), so that a run on a
shared machine measures what a dedicated core does in that many minutes; the wall-clock time is recorded beside it.
The number of steps is calibrated from the CPU-time rate of the first 200 steps so that the cosine schedule ends
just inside the budget (97% of it); training runs in chunks of ~10 CPU seconds, never starting more steps than
the remaining budget holds at the rate measured so far, and stops there, schedule finished or not. Two runs (VAE
and IWAE) side by side, one per core, are "30 minutes on 2 CPU cores".

Reported: held-out log p(x) estimated with k = 5000 importance samples, the ELBO and the IWAE (k = 5) bound, a
learning curve (held-out and training ELBO on 500-example subsets), a sample grid and an interpolation grid.

    python benchmarks/vae_mnist.py --minutes 30 --model vae --out docs/results/vae
    python benchmarks/vae_mnist.py --minutes 30 --model iwae --k 5 --out docs/results/vae

Each run writes {model}_results.json, {model}_curve.png, {model}_samples.png, {model}_interp.png in --out and
rewrites results.md there from every *_results.json found (with the paired VAE-vs-IWAE difference).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import CPUBudget, binarized_mnist, mean_se, provenance  # noqa: E402

from genzoo.analysis import interpolation_grid, save_image_grid  # noqa: E402
from genzoo.config import parse_set  # noqa: E402
from genzoo.models import create  # noqa: E402
from genzoo.train import TrainConfig, Trainer  # noqa: E402

TARGET_NATS = 95.0
TARGET_MINUTES = 30.0
CALIBRATION_STEPS = 200



def calibrate(model, x_train, train_kw) -> float:
    """Training steps per CPU second, measured on a copy of the model (the real run starts from scratch)."""
    probe = Trainer(copy.deepcopy(model), x_train, TrainConfig(steps=CALIBRATION_STEPS, **train_kw), out_dir=None)
    probe.fit(stop_at=20)  # warm-up
    t0 = time.process_time()
    probe.fit()
    return (CALIBRATION_STEPS - 20) / max(time.process_time() - t0, 1e-9)


def plot_curve(curve, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    t = [c["cpu_minutes"] for c in curve]
    ax.plot(t, [-c["train_elbo"] for c in curve], label="-ELBO, 500 training images")
    ax.plot(t, [-c["heldout_elbo"] for c in curve], label="-ELBO, 500 held-out images")
    ax.set_xlabel("training time (CPU minutes, one thread)")
    ax.set_ylabel("nats per image")
    lo = min(-c["train_elbo"] for c in curve)
    ax.set_ylim(lo - 5, max(lo + 60, min(250, max(-c["heldout_elbo"] for c in curve) + 5)))
    ax.axhline(TARGET_NATS, color="grey", ls=":", label=f"target held-out NLL {TARGET_NATS:g}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_markdown(out: Path) -> None:
    rows = [json.loads(p.read_text()) for p in sorted(out.glob("*_results.json"))]
    rows = [r for r in rows if "train_cpu_minutes" in r]  # records of this protocol (older files are skipped)
    lines = [
        "# VAE / IWAE on MNIST-10k (dynamic binarization)",
        "",
        "Protocol: 8,000 training images, dynamically binarized each step; 2,000 held-out images binarized once "
        "(seed 123). Held-out NLL = -log p(x) estimated by importance sampling with k = 5000 samples from "
        "q(z|x) (mean over the 2,000 images +- standard error). Budget: training CPU time of one thread "
        "(the two runs side by side are \"30 minutes on 2 CPU cores\"). Written by `benchmarks/vae_mnist.py`. "
        "Reference: 86.76 (VAE) and 85.54 (IWAE, k = 5) nats on full MNIST (60,000 images) in the IWAE paper.",
        "",
        "| model | train k | arch | budget (CPU min) | wall min | steps (epochs) | held-out NLL (IS, k=5000) | "
        "-ELBO | -IWAE(k=5) | target <= 95 nats in 30 min |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['train_k']} | {r['arch']} | {r['train_cpu_minutes']:.1f} | "
            f"{r['train_wall_minutes']:.1f} | {r['steps']} ({r['epochs']:.0f}) | "
            f"**{r['heldout_nll']:.2f} +- {r['heldout_nll_se']:.2f}** | {-r['heldout_elbo']:.2f} | "
            f"{-r['heldout_iwae5']:.2f} | {r['target']} |"
        )
    lines.append("")
    by = {r["model"]: r for r in rows}
    a, b = by.get("vae", {}).get("heldout_nll_per_image"), by.get("iwae", {}).get("heldout_nll_per_image")
    if a and b and len(a) == len(b):
        d = torch.tensor(b, dtype=torch.float64) - torch.tensor(a, dtype=torch.float64)
        m, se = mean_se(d)
        verdict = "IWAE better" if m + 2 * se < 0 else ("VAE better" if m - 2 * se > 0 else "no significant difference")
        lines += [f"Paired difference on the same held-out images, NLL(iwae) - NLL(vae) = {m:.2f} +- {se:.2f} nats "
                  f"({verdict} at 2 SE).", ""]
    for r in rows:
        lines += [f"- `{r['model']}`: `{r['command']}`",
                  f"  - {r['date']}, commit {r['commit']}; {r['machine']}",
                  f"  - train config {r['train_config']}; evaluation took {r['eval_seconds']:.0f} s"]
    (out / "results.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=TARGET_MINUTES, help="training budget, CPU minutes")
    ap.add_argument("--model", choices=["vae", "iwae"], default="vae")
    ap.add_argument("--k", type=int, default=5, help="importance samples of the IWAE training objective")
    ap.add_argument("--out", default="docs/results/vae")
    ap.add_argument("--eval-k", type=int, default=5000)
    ap.add_argument("--eval-n", type=int, default=2000, help="held-out images evaluated (max 2000)")
    ap.add_argument("--hidden", type=int, nargs="+", default=[200, 200])
    ap.add_argument("--latent", type=int, default=50)
    ap.add_argument("--act", default="tanh")
    ap.add_argument("--batch-size", type=int, default=100)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--schedule", default="cosine")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--curve-points", type=int, default=30)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra model config")
    ap.add_argument("--train-set", action="append", default=[], metavar="KEY=VALUE", help="extra TrainConfig")
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    prov = provenance(__file__, argv)
    x_train, x_test_bin, train_sub_bin = binarized_mnist(args.eval_n)
    print(f"data: train {tuple(x_train.shape)}, held out {tuple(x_test_bin.shape)}", flush=True)

    torch.manual_seed(args.seed)
    kw = dict(data_shape=(1, 28, 28), arch="mlp", hidden=tuple(args.hidden), latent_dim=args.latent, act=args.act,
              decoder="bernoulli", binarize="dynamic", **parse_set(args.set))
    model = create(args.model, **({"k": args.k} if args.model == "iwae" else {}), **kw)
    train_kw = dict(batch_size=args.batch_size, lr=args.lr, seed=args.seed, progress=False, log_every=100,
                    schedule=args.schedule, **parse_set(args.train_set))
    rate = calibrate(model, x_train, train_kw)
    total = max(1, int(0.97 * rate * args.minutes * 60))  # 3% slack: the schedule ends inside the budget
    print(f"calibrated: {rate:.1f} steps per CPU second -> {total} steps in {args.minutes:g} CPU minutes", flush=True)

    trainer = Trainer(model, x_train, TrainConfig(steps=total, **train_kw), out_dir=None)
    budget = CPUBudget(args.minutes)
    curve = []
    chunk = max(1, int(rate * 10))  # about 10 CPU seconds between budget checks
    marks = [total * i // args.curve_points for i in range(1, args.curve_points + 1)]
    while trainer.step < total:
        # never start more steps than the budget still holds at the rate measured so far
        fit = int(budget.left() * (trainer.step / budget.used() if trainer.step else rate))
        if fit <= 0:
            break
        last = fit <= chunk  # the budget holds no more than this chunk: record the curve after it
        trainer.fit(stop_at=min(trainer.step + chunk, trainer.step + fit, next(m for m in marks if m > trainer.step)))
        if trainer.step not in marks and not last:
            continue
        budget.pause()
        model.eval()
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            he = float(model.elbo(x_test_bin[:500], generator=gen)["elbo"].mean())
            te = float(model.elbo(train_sub_bin, generator=gen)["elbo"].mean())
        model.train()
        cpu_min = budget.used() / 60
        curve.append({"step": trainer.step, "cpu_minutes": cpu_min, "wall_minutes": budget.wall() / 60,
                      "heldout_elbo": he, "train_elbo": te})
        print(f"step {trainer.step:6d}  {cpu_min:5.2f} CPU min  -ELBO held-out {-he:7.2f}  train {-te:7.2f}",
              flush=True)
        budget.resume()
    budget.pause()
    cpu_s, wall_s = budget.used(), budget.wall()
    model.eval()

    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(2024)
    with torch.no_grad():
        nll = -model.log_prob(x_test_bin, k=args.eval_k, generator=gen)
        elbo = torch.stack([model.elbo(x_test_bin, generator=gen)["elbo"] for _ in range(10)]).mean(0)
        iw5 = torch.stack([model.log_prob(x_test_bin, k=5, generator=gen) for _ in range(10)]).mean(0)
    eval_s = time.perf_counter() - t0
    nll_m, nll_se = mean_se(nll)
    within = cpu_s <= TARGET_MINUTES * 60
    if args.eval_k < 5000 or args.eval_n < 2000:
        target = f"not measured (evaluated with k = {args.eval_k} on {args.eval_n} images)"
    elif nll_m <= TARGET_NATS and within:
        sig = "" if nll_m + 2 * nll_se <= TARGET_NATS else f", within 2 SE of {TARGET_NATS:g}"
        target = f"met ({nll_m:.2f} +- {nll_se:.2f} nats after {cpu_s / 60:.1f} CPU min{sig})"
    else:
        target = f"not met ({nll_m:.2f} nats after {cpu_s / 60:.1f} CPU min)"
    res = {
        "model": args.model,
        "train_k": args.k if args.model == "iwae" else 1,
        "arch": f"MLP 784-{'-'.join(map(str, args.hidden))}-{args.latent} ({args.act}), Bernoulli decoder",
        "model_config": model.config_dict(),
        "train_config": {k: v for k, v in train_kw.items() if k not in ("progress", "log_every")},
        "heldout_nll": nll_m,
        "heldout_nll_se": nll_se,
        "heldout_elbo": mean_se(elbo)[0],
        "heldout_iwae5": mean_se(iw5)[0],
        "eval_k": args.eval_k,
        "eval_n": int(x_test_bin.shape[0]),
        "train_cpu_minutes": cpu_s / 60,
        "train_wall_minutes": wall_s / 60,
        "budget_cpu_minutes": args.minutes,
        "steps": trainer.step,
        "planned_steps": total,
        "epochs": trainer.step * args.batch_size / x_train.shape[0],
        "threads": args.threads,
        "eval_seconds": eval_s,
        "target": target,
        **prov,
        "curve": curve,
        "heldout_nll_per_image": [round(float(v), 4) for v in nll],
    }
    (out / f"{args.model}_results.json").write_text(json.dumps(res, indent=2) + "\n")
    plot_curve(curve, out / f"{args.model}_curve.png", f"{args.model} on MNIST-10k (held-out NLL {nll_m:.1f})")
    torch.manual_seed(0)
    with torch.no_grad():
        save_image_grid(model.sample(64), out / f"{args.model}_samples.png", nrow=8)
        grid = interpolation_grid(model, x_test_bin[:6], x_test_bin[6:12], steps=10, method="slerp")
    save_image_grid(grid, out / f"{args.model}_interp.png", nrow=10)
    write_markdown(out)
    print(json.dumps({k: v for k, v in res.items() if k not in ("curve", "heldout_nll_per_image")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
