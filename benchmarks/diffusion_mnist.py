"""DDPM on MNIST-10k (8,000 train / 2,000 held out), on the CPU, within a wall-clock training budget.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/diffusion_mnist.py --minutes 60       # the documented run
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/diffusion_mnist.py --minutes 1 --eval-n 20 --vlb-strata 5 \
        --full-check 2 --samples 16 --sampler-n 2 --out runs/probe                      # a quick probe

Model: `ddpm`, UNet channels (32, 64, 64), one res block per level, attention at 7x7, linear schedule T = 1000,
eps-prediction, L_simple. Adam (lr with a linear warm-up), gradient clipping at 1, an EMA of the weights (decay
0.999 with the usual (1 + s) / (10 + s) warm-up) used for every evaluation. Training stops when --minutes of wall
clock have passed.

Held-out likelihood: the variational bound in bits/dim on the --eval-n held-out images, with the discretised
Gaussian decoder at t = 0 (so it is a bound on the negative log-probability of the 8-bit image, bpd_bins = 1):
    VLB = L_prior + L_0 + sum_{k=1}^{T-1} L_k,
L_prior and L_0 exact, the middle sum by the unbiased stratified estimate of genzoo.models.diffusion.likelihood
(one random timestep in each of at most --vlb-strata geometric strata per image; --vlb-strata 0: all 999 terms).
The standard error is over images (it contains the estimator's own variance). --full-check N also sums all T
terms for the first N held-out images and reports the paired difference to the estimate on the same images.

Samples: --samples DDIM-50 samples of the EMA model, scored by the shipped MNIST classifier (genzoo.eval.classifier:
mean max-softmax, fraction >= 0.9, class histogram) and FID-MNIST (Frechet distance of the classifier's 128-d
penultimate features against the held-out digits; comparable only with itself at the same sample count; a
real-vs-real reference at the same count is stored beside it). Writes <out>/mnist.json and mnist_samples.png, and
saves the EMA model to runs/diffusion_mnist/model. Finally --sampler-n samples each by DDIM-50 and DDPM ancestral
with 1,000 steps (same seed), timed, with the same scores (the DDIM speed-up and score difference of issue 7).
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


def mean_se(v: torch.Tensor) -> tuple[float, float]:
    v = v.double()
    return float(v.mean()), float(v.std() / math.sqrt(len(v))) if len(v) > 1 else float("nan")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=60.0, help="training wall-clock budget")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--ema", type=float, default=0.999)
    ap.add_argument("--vlb-strata", type=int, default=24, help="stratified VLB timesteps per image (0: all T)")
    ap.add_argument("--eval-n", type=int, default=2000)
    ap.add_argument("--full-check", type=int, default=8, help="held-out images whose VLB is also summed over all T")
    ap.add_argument("--samples", type=int, default=256)
    ap.add_argument("--sampler-n", type=int, default=32, help="samples for DDIM-50 vs DDPM-1000 (0: skip)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args()
    out = Path(args.out)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)

    from diffusion_grid import save_grid

    from genzoo.data import get
    from genzoo.eval import mnist_scores
    from genzoo.math import bits_per_dim
    from genzoo.models import Batch, create

    train, test = get("mnist", "train"), get("mnist", "test")
    model = create("ddpm", data_shape=(1, 28, 28), channels=(32, 64, 64), timesteps=1000, sampler="ddim",
                   sample_steps=50, vlb_steps=args.vlb_strata, sample_batch=250)
    ema = copy.deepcopy(model).eval()
    opt = torch.optim.Adam(model.parameters(), lr=args.lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: min(1.0, (s + 1) / args.warmup))
    x_all = train.x
    n = x_all.shape[0]
    t0, c0, step, losses = time.time(), time.process_time(), 0, []
    while time.time() - t0 < args.minutes * 60:
        idx = torch.randint(0, n, (args.batch,))
        loss = model.loss(Batch(x_all[idx]))["loss"]
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        d = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for pe, pm in zip(ema.parameters(), model.parameters()):
                pe.lerp_(pm, 1 - d)
        losses.append(loss.item())
        step += 1
        if step % 100 == 0:
            print(f"step {step}  loss {sum(losses[-100:]) / 100:.4f}  {time.time() - t0:.0f}s", flush=True)
    train_s, train_cpu = time.time() - t0, time.process_time() - c0
    ema.save(ROOT / "runs" / "diffusion_mnist" / "model")
    res = {
        "machine": f"{platform.machine()}, {platform.processor() or 'CPU'} ({torch.get_num_threads()} torch "
                   "thread(s), 2-core machine shared with other jobs)",
        "command": "OMP_NUM_THREADS=1 .venv/bin/python " + " ".join(sys.argv),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "data": "MNIST-10k: 8,000 train / 2,000 held out (genzoo.data.get('mnist'))",
        "model": "ddpm, UNet (32, 64, 64), attention 7x7, linear T=1000, eps, L_simple, EMA 0.999",
        "train_minutes_wall": round(train_s / 60, 2), "train_minutes_cpu": round(train_cpu / 60, 2),
        "steps": step, "batch": args.batch, "lr": args.lr, "warmup": args.warmup,
        "final_loss_avg100": round(sum(losses[-100:]) / max(1, len(losses[-100:])), 4),
    }
    print(json.dumps(res), flush=True)

    # ---- held-out VLB (bits/dim, discretised decoder: a pmf over the 256 levels, n_bins = 1) ----------------------
    D = 28 * 28
    to_bpd = lambda nats: bits_per_dim(nats, D, n_bins=1)
    t1 = time.time()
    torch.manual_seed(1)
    xt = test.x[: args.eval_n]
    parts = {k: [] for k in ("prior", "decoder", "middle", "total")}
    for i in range(0, len(xt), 250):
        p = ema.vlb_parts(xt[i : i + 250], steps=args.vlb_strata)
        for k in parts:
            parts[k].append(p[k])
    parts = {k: torch.cat(v) for k, v in parts.items()}
    m, se = mean_se(to_bpd(parts["total"]))
    res.update({
        "vlb_heldout_n": len(xt), "vlb_estimator": (f"stratified, one timestep in each of {args.vlb_strata} "
                                                     "geometric strata per image + exact L_0 and L_prior (unbiased)"
                                                     if args.vlb_strata else "all T terms"),
        "vlb_bpd": round(m, 4), "vlb_bpd_se": round(se, 4),
        "vlb_bpd_parts": {k: round(mean_se(to_bpd(parts[k]))[0], 4) for k in ("prior", "decoder", "middle")},
        "vlb_eval_minutes": round((time.time() - t1) / 60, 2),
    })
    print(json.dumps(res), flush=True)
    if args.full_check and args.vlb_strata:
        t2 = time.time()
        xc = xt[: args.full_check]
        full = to_bpd(ema.vlb(xc, steps=0))
        strat = to_bpd(parts["total"][: len(xc)])
        diff = full - strat
        res["vlb_full_check"] = {"n": len(xc), "full_sum_bpd": round(float(full.mean()), 4),
                                 "stratified_bpd_same_images": round(float(strat.mean()), 4),
                                 "paired_diff_mean": round(mean_se(diff)[0], 4),
                                 "paired_diff_se": round(mean_se(diff)[1], 4),
                                 "minutes": round((time.time() - t2) / 60, 2)}
        print(json.dumps(res["vlb_full_check"]), flush=True)

    # ---- samples ------------------------------------------------------------------------------------------------
    t3 = time.time()
    torch.manual_seed(2)
    samples = ema.sample(args.samples)
    res["ddim50_sampling_minutes"] = round((time.time() - t3) / 60, 2)
    res["samples_ddim50"] = mnist_scores(samples, reference=test.x)
    ref = train.x[torch.randperm(n, generator=torch.Generator().manual_seed(5))[: args.samples]]
    res["real_train_digits_reference"] = mnist_scores(ref, reference=test.x)
    out.mkdir(parents=True, exist_ok=True)
    save_grid(samples[:64], out / "mnist_samples.png")
    (out / "mnist.json").write_text(json.dumps(res, indent=2))

    # ---- DDIM-50 against DDPM ancestral with 1,000 steps: wall time and sample scores --------------------------
    if args.sampler_n:
        cmp = {"n": args.sampler_n}
        for sampler, steps in (("ddim", 50), ("ddpm", 1000)):
            ema.config.sampler, ema.config.sample_steps = sampler, steps
            torch.manual_seed(3)
            t4 = time.time()
            s = ema.sample(args.sampler_n)
            cmp[f"{sampler}{steps}_seconds"] = round(time.time() - t4, 1)
            cmp[f"{sampler}{steps}_scores"] = mnist_scores(s, reference=test.x)
            if sampler == "ddpm":
                save_grid(s[:64], out / "mnist_samples_ddpm1000.png")
        cmp["speedup"] = round(cmp["ddpm1000_seconds"] / cmp["ddim50_seconds"], 1)
        a, b = cmp["ddim50_scores"]["mean_confidence"], cmp["ddpm1000_scores"]["mean_confidence"]
        cmp["mean_confidence_rel_diff"] = round(abs(a - b) / b, 4)
        res["ddim50_vs_ddpm1000"] = cmp
    (out / "mnist.json").write_text(json.dumps(res, indent=2))
    print(json.dumps(res, indent=2))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
