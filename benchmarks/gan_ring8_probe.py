"""Why the lab's GAN baseline puts no sample within 3 std of a ring8 mode: one factor at a time from its settings.

    python benchmarks/gan_ring8_probe.py --steps 2000 --at 500,1000,2000 --variants baseline,ns,lr1e-4,...

Starts from the recorded lab settings (genzoo.lab.mode_collapse, protocol "lab": minimax `gan`, z in R^2,
generator 3 x 128 ReLU without batch norm, discriminator 2 x 128 LeakyReLU, Adam lr 1e-3 with betas (0.5, 0.999)
and a cosine decay over --steps, batch 256, seed 0) and changes one setting per variant (VARIANTS). At each step
count of --at it measures, on 2,500 samples drawn under torch.manual_seed(10_000 + seed) inside fork_rng (the run
is not changed by measuring it):
- the generator's output scale: mean and std of the radius |G(z)| against the ring's radius 1, the share of samples
  in the annulus | |x| - 1 | < 3 std = 0.03 (where every high-quality sample must be), and the median distance to
  the nearest mode in units of the mode std 0.01;
- the discriminator's outputs (genzoo.analysis.diagnostics.discriminator_outputs / discriminator_summary): mean
  D(x) on real points and D(G(z)), and how sharply D varies across the ring: the std of its logit over 2,500 real
  points (constant on the modes = D cannot separate them);
- the generator's gradient norm under both losses (genzoo.analysis.diagnostics.generator_gradients);
- modes covered, high-quality % and reverse KL (genzoo.eval.mode_stats).
Writes docs/results/gans/ring8_probe.json (each variant with its command, machine and date; variants of earlier
invocations are kept) and prints one JSON line per point.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

import torch
from gan_common import ROOT  # noqa: F401  (puts src/ on the path)

from genzoo.analysis.diagnostics import discriminator_outputs, discriminator_summary, generator_gradients
from genzoo.data import toy2d
from genzoo.eval.modes import mode_stats
from genzoo.io import atomic_write_bytes
from genzoo.lab.mode_collapse import lab_data, lab_run
from genzoo.models import create
from genzoo.provenance import machine
from genzoo.train import Trainer

# name -> (model config overrides, TrainConfig overrides), each one change from the lab's GAN settings
VARIANTS: dict[str, tuple[dict, dict]] = {
    "baseline": ({}, {}),
    "ns": ({"loss": "ns"}, {}),
    "lr1e-4": ({}, {"lr": 1e-4}),
    "g_bn": ({"g_batch_norm": True}, {}),
    "g_4x400": ({"g_hidden": (400, 400, 400, 400)}, {}),
    "d_3x512": ({"d_hidden": (512, 512, 512)}, {}),
    "d_maxout": ({"d_hidden": (200, 200, 200), "d_act": "maxout", "maxout_pieces": 5}, {}),
    "pack2": ({"pack": 2}, {}),
    "init0.02": ({"init_std": 0.02}, {}),
}


def measure(model, seed: int) -> dict:
    """The probe's numbers for the current model (see the module docstring)."""
    model.eval()
    with torch.random.fork_rng():
        torch.manual_seed(10_000 + seed)
        x = model.sample(2500)
        st = mode_stats(x, "ring8")
        r = x.norm(dim=1)
        modes = torch.stack([torch.tensor([torch.cos(torch.tensor(2 * torch.pi * k / 8)),
                                           torch.sin(torch.tensor(2 * torch.pi * k / 8))]) for k in range(8)])
        dist = torch.cdist(x, modes).min(1).values / 0.01
        real = toy2d("ring8", 2500, seed=12345)
        summ, logit_sd = {}, None  # discriminate() takes unpacked points only
        if model.config.pack == 1:
            outs = discriminator_outputs(model, real)
            summ = discriminator_summary(outs)
            logit_sd = float(outs["real"].std())
        grads = generator_gradients(model, n=256)
    model.train()
    return {"modes": st["modes_covered"], "hq_pct": round(st["high_quality_pct"], 2),
            "reverse_kl": round(st["reverse_kl"], 3),
            "radius_mean": round(float(r.mean()), 4), "radius_std": round(float(r.std()), 4),
            "in_annulus_pct": round(100 * float(((r - 1).abs() < 0.03).double().mean()), 2),
            "median_mode_dist_std": round(float(dist.median()), 2),
            **{k: round(v, 4) for k, v in summ.items()},
            "d_real_logit_std": None if logit_sd is None else round(logit_sd, 3),
            "g_grad_ns": round(grads["non_saturating"], 5), "g_grad_sat": round(grads["saturating"], 5),
            "d_fake_mean": round(grads["d_fake"], 4)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--at", default="500,1000,2000")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default="docs/results/gans")
    args = ap.parse_args()
    torch.set_num_threads(1)
    at = sorted(int(a) for a in args.at.split(","))
    out = Path(args.out)
    store = out / "ring8_probe.json"
    old = json.loads(store.read_text())["runs"] if store.is_file() else []
    names = args.variants.split(",")
    doc = {"runs": [r for r in old if r["variant"] not in names]}  # earlier variants are kept
    this = {"command": "python benchmarks/gan_ring8_probe.py " + " ".join(sys.argv[1:]), "machine": machine(),
            "date": datetime.date.today().isoformat(), "torch": torch.__version__}
    for name in names:
        cfg, train = VARIANTS[name]
        run = lab_run("gan", "ring8", args.seed, args.steps, 256, overrides=cfg, train_overrides=train, device="cpu")
        torch.manual_seed(run.seed)
        model = create(run.model, **run.model_config)
        trainer = Trainer(model, lab_data("ring8", 100_000, run.seed), run.train_config, out_dir=None)
        curve, t0 = [], time.process_time()
        for k in at:
            trainer.fit(stop_at=k)
            row = {"variant": name, "step": k, **measure(model, run.seed),
                   "cpu_s": round(time.process_time() - t0, 1)}
            curve.append(row)
            print(json.dumps(row), flush=True)
        doc["runs"].append({"variant": name, **this, "config": {k: list(v) if isinstance(v, tuple) else v
                                                        for k, v in run.model_config.items()},
                            "train": {k: list(v) if isinstance(v, tuple) else v for k, v in run.train.items()},
                            "steps": args.steps, "curve": curve})
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(store, json.dumps(doc, indent=1).encode())
        atomic_write_bytes(out / "ring8_probe.md", table(doc["runs"]).encode())


COLUMNS = [("step", "step"), ("modes", "modes"), ("hq_pct", "HQ %"), ("radius_mean", "mean r"),
           ("radius_std", "std r"), ("in_annulus_pct", "% r in 1 ± 0.03"), ("median_mode_dist_std", "median d / std"),
           ("d_real", "D(x)"), ("d_fake", "D(G(z))"), ("d_real_logit_std", "sd logit on data"),
           ("g_grad_ns", "‖∇G‖ NS"), ("g_grad_sat", "‖∇G‖ sat.")]


def table(runs: list[dict]) -> str:
    """Markdown: one row per (variant, step) with the probe's numbers (r = |G(z)|, d = distance to the nearest mode),
    then each variant's command and date."""
    lines = ["## The lab GAN on ring8, one setting changed at a time (benchmarks/gan_ring8_probe.py)", "",
             "| variant | " + " | ".join(h for _, h in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for r in runs:
        for row in r["curve"]:
            cells = ["-" if row.get(k) is None else str(row[k]) for k, _ in COLUMNS]
            lines.append(f"| {r['variant']} | " + " | ".join(cells) + " |")
    lines += ["", "Commands:", ""]
    lines += list(dict.fromkeys(f"- `{r.get('command', '?')}` ({r.get('date', '?')}, {r.get('machine', '?')})"
                                for r in runs))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
