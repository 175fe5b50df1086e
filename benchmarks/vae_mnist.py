"""VAE / IWAE on dynamically binarized MNIST-10k: held-out NLL by importance sampling (k = 5000).

Protocol (docs/models/vae.md): train on the 8,000 training images with dynamic binarization (a fresh
x ~ Bernoulli(intensity) every step); the 2,000 held-out images are binarized once (seed 123). The model is the
IWAE paper's one-stochastic-layer architecture by default (MLP 784-200-200-50, mirrored decoder, Bernoulli
likelihood), trained with Adam for a wall-clock budget (`--minutes`, training time only). Reported: held-out
log p(x) estimated with k = 5000 importance samples, the ELBO and the IWAE (k = 5) bound, plus a learning curve
(held-out and training ELBO on 500-example subsets), a sample grid and an interpolation grid.

    python benchmarks/vae_mnist.py --minutes 30 --model vae --out docs/results/vae
    python benchmarks/vae_mnist.py --minutes 30 --model iwae --k 5 --out docs/results/vae

Each run writes {model}_results.json, {model}_curve.png, {model}_samples.png, {model}_interp.png in --out and
rewrites results.md there from every *_results.json found.
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import math
import os
import platform
import struct
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from genzoo.analysis import interpolation_grid, save_image_grid  # noqa: E402
from genzoo.models import Batch, create  # noqa: E402

TARGET_NATS = 95.0
TARGET_MINUTES = 30.0


# ---- data ----------------------------------------------------------------------------------------------------
def _read_idx(path: Path) -> torch.Tensor:
    with gzip.open(path, "rb") as f:
        data = f.read()
    magic = struct.unpack(">i", data[:4])[0]
    ndim = magic & 0xFF
    shape = struct.unpack(">" + "i" * ndim, data[4 : 4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim :]), dtype=torch.uint8).reshape(shape)


def load_mnist(split: str) -> tuple[torch.Tensor, str]:
    """float32 (N, 1, 28, 28) in [0, 1]: through genzoo.data when it exists, else the IDX files directly."""
    try:
        from genzoo.data import get

        ds = get("mnist", split=split)
        return ds.x.float(), "genzoo.data.get('mnist')"
    except Exception as e:  # noqa: BLE001  genzoo.data may not exist yet
        reason = f"{type(e).__name__}"
    roots = [os.environ.get("GENZOO_MNIST", ""), str(ROOT / "shared/data/mnist-10k"), "/work/shared/data/mnist-10k"]
    prefix = "train" if split == "train" else "t10k"
    for r in roots:
        p = Path(r) / f"{prefix}-images-idx3-ubyte.gz"
        if r and p.is_file():
            x = _read_idx(p).float().div(255).unsqueeze(1)
            return x, f"IDX files in {r} (genzoo.data unavailable: {reason})"
    raise SystemExit(f"MNIST-10k not found (genzoo.data failed with {reason}; looked in {roots})")


# ---- training ------------------------------------------------------------------------------------------------
def train_for(model, x_train, minutes, bs, lr, seed, on_chunk):
    """Train for `minutes` of training time; `on_chunk(step, train_seconds)` after every ~`chunk` steps.
    Uses genzoo.train.Trainer when available, else a plain Adam loop. Returns (steps, seconds, how)."""
    budget = minutes * 60.0
    try:
        from genzoo.train import TrainConfig, Trainer

        trainer = Trainer(model, x_train, TrainConfig(steps=10**8, batch_size=bs, lr=lr, seed=seed, progress=False,
                                                      log_every=100), out_dir=None)
        how = "genzoo.train.Trainer"

        def run(n):
            trainer.fit(stop_at=trainer.step + n)
            return trainer.step
    except Exception as e:  # noqa: BLE001  the Trainer may be missing or changing
        how = f"plain Adam loop (Trainer unavailable: {type(e).__name__}: {e})"
        torch.manual_seed(seed)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        g = torch.Generator().manual_seed(seed)
        state = {"step": 0}

        def run(n):
            for _ in range(n):
                i = torch.randint(0, x_train.shape[0], (bs,), generator=g)
                out = model.loss(Batch(x_train[i]))
                opt.zero_grad(set_to_none=True)
                out["loss"].backward()
                opt.step()
                model.on_step_end(state["step"])
                state["step"] += 1
            return state["step"]

    spent, step, chunk = 0.0, 0, 50
    while spent < budget:
        model.train()
        t0 = time.perf_counter()
        step = run(chunk)
        dt = time.perf_counter() - t0
        spent += dt
        rate = chunk / max(dt, 1e-9)
        chunk = max(10, min(int(rate * min(30.0, max(budget - spent, 1.0))), 20000))
        model.eval()
        on_chunk(step, spent)
    return step, spent, how


@torch.no_grad()
def mean_se(v: torch.Tensor) -> tuple[float, float]:
    v = v.double()
    return float(v.mean()), float(v.std() / math.sqrt(v.numel()))


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


def plot_curve(curve, path, title):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    t = [c["minutes"] for c in curve]
    ax.plot(t, [-c["train_elbo"] for c in curve], label="-ELBO, 500 training images")
    ax.plot(t, [-c["heldout_elbo"] for c in curve], label="-ELBO, 500 held-out images")
    ax.set_xlabel("training time (minutes)")
    ax.set_ylabel("nats per image")
    lo = min(-c["train_elbo"] for c in curve)
    ax.set_ylim(lo - 5, max(lo + 60, min(250, max(-c["heldout_elbo"] for c in curve) + 5)))
    ax.axhline(TARGET_NATS, color="grey", ls=":", label=f"target NLL {TARGET_NATS:g}")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def write_markdown(out: Path) -> None:
    rows = []
    for p in sorted(out.glob("*_results.json")):
        r = json.loads(p.read_text())
        rows.append(r)
    lines = [
        "# VAE / IWAE on MNIST-10k (dynamic binarization)",
        "",
        "Protocol: 8,000 training images, dynamically binarized each step; 2,000 held-out images binarized once "
        "(seed 123). Held-out NLL = -log p(x) estimated by importance sampling with k = 5000 samples from "
        "q(z|x) (mean over images, +- standard error). Written by `benchmarks/vae_mnist.py`.",
        "",
        "| model | train k | arch | training budget | steps (epochs) | held-out NLL (IS, k=5000) | -ELBO | "
        "-IWAE(k=5) bound | target <= 95 nats in 30 min |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['model']} | {r['train_k']} | {r['arch']} | {r['train_minutes']:.1f} min | {r['steps']} "
            f"({r['epochs']:.0f}) | **{r['heldout_nll']:.2f} +- {r['heldout_nll_se']:.2f}** | "
            f"{-r['heldout_elbo']:.2f} | {-r['heldout_iwae5']:.2f} | {r['target']} |"
        )
    lines.append("")
    by = {r["model"]: r for r in rows}
    a, b = by.get("vae", {}).get("heldout_nll_per_image"), by.get("iwae", {}).get("heldout_nll_per_image")
    if a and b and len(a) == len(b):
        d = torch.tensor(b, dtype=torch.float64) - torch.tensor(a, dtype=torch.float64)
        m, se = float(d.mean()), float(d.std() / math.sqrt(d.numel()))
        verdict = "IWAE better" if m + 2 * se < 0 else ("VAE better" if m - 2 * se > 0 else "no significant difference")
        lines += [f"Paired difference on the same held-out images, NLL(iwae) - NLL(vae) = {m:.2f} +- {se:.2f} nats "
                  f"({verdict} at 2 SE).", ""]
    for r in rows:
        lines += [f"- `{r['model']}`: `{r['command']}`", f"  - {r['date']}; {r['machine']}",
                  f"  - trained with {r['trainer']}; evaluation took {r['eval_seconds']:.0f} s"]
    (out / "results.md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="training-time budget in minutes")
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
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args(argv)

    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    mach = machine()
    x_train, source = load_mnist("train")
    x_test, _ = load_mnist("test")
    x_test = x_test[: args.eval_n]
    x_test_bin = torch.bernoulli(x_test, generator=torch.Generator().manual_seed(123))  # binarized once
    g = torch.Generator().manual_seed(7)
    train_sub = x_train[torch.randperm(x_train.shape[0], generator=g)[:500]]
    train_sub_bin = torch.bernoulli(train_sub, generator=torch.Generator().manual_seed(124))
    print(f"data: train {tuple(x_train.shape)}, held out {tuple(x_test.shape)} from {source}", flush=True)

    torch.manual_seed(args.seed)
    kw = dict(data_shape=(1, 28, 28), arch="mlp", hidden=tuple(args.hidden), latent_dim=args.latent, act=args.act,
              decoder="bernoulli", binarize="dynamic")
    if args.model == "iwae":
        model = create("iwae", k=args.k, **kw)
    else:
        model = create("vae", **kw)
    curve = []

    def on_chunk(step, seconds):
        gen = torch.Generator().manual_seed(0)
        with torch.no_grad():
            he = float(model.elbo(x_test_bin[:500], generator=gen)["elbo"].mean())
            te = float(model.elbo(train_sub_bin, generator=gen)["elbo"].mean())
        curve.append({"step": step, "minutes": seconds / 60, "heldout_elbo": he, "train_elbo": te})
        print(f"step {step:6d}  {seconds / 60:5.2f} min  -ELBO held-out {-he:7.2f}  train {-te:7.2f}", flush=True)

    steps, seconds, how = train_for(model, x_train, args.minutes, args.batch_size, args.lr, args.seed, on_chunk)
    model.eval()

    t0 = time.perf_counter()
    gen = torch.Generator().manual_seed(2024)
    with torch.no_grad():
        nll = -model.log_prob(x_test_bin, k=args.eval_k, generator=gen)
        elbo = torch.stack([model.elbo(x_test_bin, generator=gen)["elbo"] for _ in range(10)]).mean(0)
        iw5 = torch.stack([model.log_prob(x_test_bin, k=5, generator=gen) for _ in range(10)]).mean(0)
    eval_s = time.perf_counter() - t0
    nll_m, nll_se = mean_se(nll)
    within = seconds <= TARGET_MINUTES * 60 + 1
    if nll_m <= TARGET_NATS and within:
        sig = "" if nll_m + 2 * nll_se <= TARGET_NATS else f", within 2 SE of {TARGET_NATS:g}"
        target = f"met by the point estimate ({nll_m:.2f} +- {nll_se:.2f} nats after {seconds / 60:.1f} min{sig})"
    elif args.minutes < TARGET_MINUTES:
        target = f"not measured (only a {args.minutes:g}-minute budget was run)"
    else:
        target = f"not met ({nll_m:.2f} nats after {seconds / 60:.1f} min)"
    res = {
        "model": args.model,
        "train_k": args.k if args.model == "iwae" else 1,
        "arch": f"MLP 784-{'-'.join(map(str, args.hidden))}-{args.latent} ({args.act}), Bernoulli decoder",
        "heldout_nll": nll_m,
        "heldout_nll_se": nll_se,
        "heldout_elbo": mean_se(elbo)[0],
        "heldout_iwae5": mean_se(iw5)[0],
        "eval_k": args.eval_k,
        "eval_n": int(x_test.shape[0]),
        "train_minutes": seconds / 60,
        "budget_minutes": args.minutes,
        "steps": steps,
        "epochs": steps * args.batch_size / x_train.shape[0],
        "batch_size": args.batch_size,
        "lr": args.lr,
        "threads": args.threads,
        "eval_seconds": eval_s,
        "target": target,
        "trainer": how,
        "data": source,
        "command": "python " + " ".join([os.path.relpath(__file__, ROOT)] + (argv or sys.argv[1:])),
        "machine": mach,
        "date": started,
        "curve": curve,
        "heldout_nll_per_image": [round(float(v), 4) for v in nll],
    }
    (out / f"{args.model}_results.json").write_text(json.dumps(res, indent=2) + "\n")
    plot_curve(curve, out / f"{args.model}_curve.png", f"{args.model} on MNIST-10k (held-out NLL {nll_m:.1f})")
    torch.manual_seed(0)
    save_image_grid(model.sample(64), out / f"{args.model}_samples.png", nrow=8)
    grid = interpolation_grid(model, x_test_bin[:6], x_test_bin[6:12], steps=10, method="slerp")
    save_image_grid(grid, out / f"{args.model}_interp.png", nrow=10)
    write_markdown(out)
    print(json.dumps({k: v for k, v in res.items() if k not in ("curve", "heldout_nll_per_image")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
