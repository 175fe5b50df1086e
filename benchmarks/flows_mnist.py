"""RealNVP and Glow on MNIST-10k: held-out bits/dim with uniform dequantization.

Protocol (docs/models/flows.md): train on the 8,000 training images of the shipped MNIST-10k with fresh uniform
dequantization noise every step ((255 x + u) / 256) and the logit transform (alpha = 0.05, its log-det
included); evaluate bits/dim = (NLL / 784 + ln 256) / ln 2 on the 2,000 held-out images with dequantization
noise seeded by the model's `eval_seed` (a single-sample estimate of the dequantized bound). Adam with a
wall-clock budget (`--minutes`, training time only). Target: <= 1.3 bits/dim within 60 CPU minutes.

    python benchmarks/flows_mnist.py --model realnvp --minutes 60
    python benchmarks/flows_mnist.py --model glow --minutes 60

Writes {out}/mnist_{model}_results.json, mnist_{model}_samples.png, mnist_{model}_curve.png and rewrites
{out}/mnist_results.md from every mnist_*_results.json there.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from genzoo.data import get  # noqa: E402
from genzoo.models import Batch, create  # noqa: E402

TARGET_BPD, TARGET_MINUTES = 1.3, 60.0
ARCH = {
    "realnvp": dict(levels=2, steps=3, final_steps=4, hidden_channels=32),
    "glow": dict(levels=2, steps=6, hidden_channels=48),
}


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


@torch.no_grad()
def heldout_bpd(model, x, bs=500):
    model.eval()
    v = torch.cat([model.bits_per_dim(b) for b in x.split(bs)]).double()
    model.train()
    return float(v.mean()), float(v.std() / math.sqrt(len(v)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="realnvp", choices=sorted(ARCH))
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--eval-every", type=float, default=5.0, help="minutes of training between evaluations")
    ap.add_argument("--out", default="docs/results/flows")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    train_x = get("mnist", split="train").x.float()
    test_x = get("mnist", split="test").x.float()
    model = create(args.model, data_shape=(1, 28, 28), **ARCH[args.model])
    n_params = sum(p.numel() for p in model.parameters())
    opt = torch.optim.Adam(model.parameters(), args.lr)
    g = torch.Generator().manual_seed(args.seed)
    with torch.no_grad():  # ActNorm data-dependent init on a larger batch
        model.log_prob(train_x[torch.randint(len(train_x), (512,), generator=g)])
    curve, spent, step, next_eval = [], 0.0, 0, args.eval_every * 60
    model.train()
    while spent < args.minutes * 60:
        t0 = time.perf_counter()
        b = train_x[torch.randint(len(train_x), (args.batch,), generator=g)]
        out = model.loss(Batch(b))
        opt.zero_grad(set_to_none=True)
        out["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 50.0)
        opt.step()
        step += 1
        spent += time.perf_counter() - t0
        if step % 50 == 0:
            print(f"step {step} {spent / 60:.1f} min train bpd {out['bpd'].item():.3f}", flush=True)
        if spent >= next_eval:
            m, se = heldout_bpd(model, test_x[:500])
            curve.append({"minutes": spent / 60, "step": step, "heldout_bpd_500": m, "train_bpd": out["bpd"].item()})
            print(curve[-1], flush=True)
            next_eval += args.eval_every * 60
    bpd, se = heldout_bpd(model, test_x)
    curve.append({"minutes": spent / 60, "step": step, "heldout_bpd_500": heldout_bpd(model, test_x[:500])[0]})
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    model.eval()
    torch.manual_seed(1)
    samples = model.sample(64, temperature=0.7)
    try:
        from genzoo.train import save_image_grid

        save_image_grid(samples, out_dir / f"mnist_{args.model}_samples.png")
    except Exception as e:  # noqa: BLE001
        print(f"sample grid not written: {e}")
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(6, 4))
        ax.plot([c["minutes"] for c in curve], [c["heldout_bpd_500"] for c in curve], "o-", label="held-out (500)")
        ax.axhline(TARGET_BPD, color="k", ls="--", label="target 1.3")
        ax.set_xlabel("training minutes")
        ax.set_ylabel("bits/dim")
        ax.legend()
        fig.savefig(out_dir / f"mnist_{args.model}_curve.png", dpi=80)
        plt.close(fig)
    except Exception as e:  # noqa: BLE001
        print(f"curve not written: {e}")
    res = {
        "benchmark": "flows_mnist", "model": args.model, "arch": ARCH[args.model], "params": n_params,
        "heldout_bpd": bpd, "heldout_bpd_se": se, "n_heldout": len(test_x), "steps": step,
        "train_minutes": spent / 60, "batch": args.batch, "lr": args.lr,
        "target": f"<= {TARGET_BPD} bits/dim in <= {TARGET_MINUTES} CPU minutes",
        "target_met": bool(bpd <= TARGET_BPD and spent / 60 <= TARGET_MINUTES),
        "curve": curve, "date": datetime.datetime.now().isoformat(timespec="seconds"), "machine": machine(),
        "command": "python " + " ".join(sys.argv),
    }
    (out_dir / f"mnist_{args.model}_results.json").write_text(json.dumps(res, indent=2))
    print(json.dumps({k: v for k, v in res.items() if k != "curve"}, indent=2))
    lines = ["# Flows on MNIST-10k (benchmarks/flows_mnist.py)", "",
             "| model | params | train minutes | steps | held-out bits/dim (2,000) | target met | date |",
             "|---|---|---|---|---|---|---|"]
    for p in sorted(out_dir.glob("mnist_*_results.json")):
        r = json.loads(p.read_text())
        lines.append(f"| {r['model']} | {r['params']:,} | {r['train_minutes']:.1f} | {r['steps']} | "
                     f"{r['heldout_bpd']:.3f} +- {r['heldout_bpd_se']:.3f} | {r['target_met']} | {r['date']} |")
    lines += ["", f"Machine: {res['machine']}", f"Command: `{res['command']}`", ""]
    (out_dir / "mnist_results.md").write_text("\n".join(lines))


if __name__ == "__main__":
    main()
