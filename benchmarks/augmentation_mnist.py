"""Generated data for augmentation on MNIST-10k: CAS of small conditional models, then the augmentation experiment.

    OMP_NUM_THREADS=1 nice -n 5 python benchmarks/augmentation_mnist.py --out docs/results/augmentation

1. Train small class-conditional models (cvae, cgan, class-conditional ddpm with DDIM sampling, conditional
   pixelcnn) on the 8,000 MNIST-10k training images, each for --minutes of CPU time of this process (one thread).
2. Score each by the classification accuracy score (genzoo.eval.classification_accuracy_score; Ravuri & Vinyals
   2019): an MNISTClassifier trained on --cas-per-class generated images per class only, accuracy on the 2,000 real
   test images; beside it the real-data accuracy of the same recipe on 8,000 and on as many real images as CAS used.
3. With the model of the highest CAS whose 5,000-per-class pool can be drawn in --pool-minutes (judged by its
   measured sampling speed), the augmentation experiment (genzoo.lab.augmentation): 1,000 real images + N in
   {0, 1000, 5000} generated per class, seeds 0, 1, 2, paired accuracy differences to N = 0.

Budgets are CPU-sized, not the paper's: classifiers train --clf-steps Adam steps of batch --clf-batch (the shipped
recipe runs 1,550 of 128), so every accuracy here is below a fully trained classifier's. Writes augmentation.json,
augmentation.md and augmentation_samples.png to --out.
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time

import torch
from common import ROOT, machine

from genzoo.data import get
from genzoo.eval import classification_accuracy_score, real_data_accuracy
from genzoo.lab import augmentation, labelled_samples
from genzoo.models import create
from genzoo.train import Trainer

MODELS = {
    "cvae": {"hidden": (512, 256), "latent_dim": 16},
    "cgan": {"width": 32, "latent_dim": 64},
    "ddpm": {"channels": (16, 32, 32), "timesteps": 1000, "sampler": "ddim", "sample_steps": 20,
             "sample_batch": 500},
    "pixelcnn": {"channels": 16, "blocks": 3, "out_channels": 16},
}


def train_for(name: str, cfg: dict, ds, minutes: float, batch_size: int) -> tuple:
    """(model, steps, CPU seconds): Trainer in chunks of 25 steps until `minutes` of process CPU time are spent."""
    torch.manual_seed(0)
    model = create(name, data_shape=(1, 28, 28), num_classes=10, **cfg)
    trainer = Trainer(model, ds, steps=10**7, batch_size=batch_size, progress=False, log_every=25, seed=0)
    t0 = time.process_time()
    while time.process_time() - t0 < 60 * minutes:
        trainer.fit(stop_at=trainer.step + 25)
    return model.eval(), trainer.step, time.process_time() - t0


def table(res: dict) -> str:
    lines = ["| model | config | train steps (CPU min) | CAS (+- SE) | sampling s / 1k images |",
             "|---|---|---|---|---|"]
    for r in res["cas"]:
        lines.append(f"| {r['model']} | `{json.dumps(r['config'])}` | {r['train_steps']} ({r['train_cpu_s'] / 60:.1f}) "
                     f"| {r['cas']:.3f} +- {r['se']:.3f} | {r['sample_s_per_1k']:.1f} |")
    for key, label in (("real_same_n", "real data, as many images as CAS"), ("real_full", "real data, 8,000")):
        r = res[key]
        lines.append(f"| {label} | n = {r['n_train']} | - | {r['accuracy']:.3f} +- {r['se']:.3f} | - |")
    aug = res["augmentation"]
    lines += ["", f"Augmentation with **{aug['model']}**: {aug['n_real']} real images + N generated per class, seeds "
              f"{aug['seeds']}, classifier {aug['steps']} steps of batch {aug['batch_size']}; accuracy on "
              f"{aug['n_test']} real test images (mean +- std over seeds), paired difference to N = 0 "
              "(mean +- std).", "", "| N per class | training images | accuracy per seed | mean +- std | "
              "difference to N = 0 |", "|---|---|---|---|---|"]
    for r in aug["rows"]:
        per = ", ".join(f"{a:.3f}" for a in r["accuracies"])
        lines.append(f"| {r['n_per_class']} | {r['n_train']} | {per} | {r['mean']:.3f} +- {r['std']:.3f} | "
                     f"{r['diff_mean']:+.3f} +- {r['diff_std']:.3f} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=",".join(MODELS))
    ap.add_argument("--minutes", type=float, default=1.0, help="CPU minutes of training per model")
    ap.add_argument("--batch-size", type=int, default=64, help="model training batch")
    ap.add_argument("--cas-per-class", type=int, default=100)
    ap.add_argument("--clf-steps", type=int, default=200)
    ap.add_argument("--clf-batch", type=int, default=64)
    ap.add_argument("--pool-minutes", type=float, default=5.0)
    ap.add_argument("--n-real", type=int, default=1000)
    ap.add_argument("--n-per-class", default="0,1000,5000")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--out", default="docs/results/augmentation")
    args = ap.parse_args()
    out = ROOT / args.out
    out.mkdir(parents=True, exist_ok=True)
    t_all = time.time()
    ds, dt = get("mnist"), get("mnist", split="test")
    clf = {"steps": args.clf_steps, "batch_size": args.clf_batch}
    n_cas = 10 * args.cas_per_class
    command = "OMP_NUM_THREADS=1 nice -n 5 python benchmarks/augmentation_mnist.py " + " ".join(sys.argv[1:])
    res: dict = {"benchmark": "augmentation_mnist", "date": datetime.date.today().isoformat(), "machine": machine(),
                 "command": command.strip(),
                 "data": "MNIST-10k: 8,000 train / 2,000 test", "classifier": {"name": "MNISTClassifier", **clf},
                 "model_minutes": args.minutes, "cas": []}
    res["real_full"] = real_data_accuracy(ds.x, ds.y, dt.x, dt.y, seed=0, **clf)
    print("real data (8000):", res["real_full"], flush=True)
    idx = torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:n_cas]
    res["real_same_n"] = real_data_accuracy(ds.x[idx], ds.y[idx], dt.x, dt.y, seed=0, **clf)
    print(f"real data ({n_cas}):", res["real_same_n"], flush=True)
    models, grids = {}, []
    for name in args.models.split(","):
        model, steps, cpu = train_for(name, MODELS[name], ds, args.minutes, args.batch_size)
        t0 = time.time()
        x, y = labelled_samples(model, n_cas, seed=1234)
        ts = time.time() - t0
        r = classification_accuracy_score(x, y, dt.x, dt.y, seed=0, **clf)
        rec = {"model": name, "config": {k: list(v) if isinstance(v, tuple) else v for k, v in MODELS[name].items()},
               "train_steps": steps, "train_cpu_s": cpu, "train_batch": args.batch_size,
               "sample_s_per_1k": 1000 * ts / n_cas, **r}
        res["cas"].append(rec)
        models[name] = (model, rec)
        grids.append(x[:100])
        print(rec, flush=True)
    n_per_class = [int(v) for v in args.n_per_class.split(",")]
    pool = 10 * max(n_per_class)
    fits = [r for r in sorted(res["cas"], key=lambda r: -r["cas"])
            if r["sample_s_per_1k"] * pool / 1000 <= 60 * args.pool_minutes]
    best = fits[0] if fits else max(res["cas"], key=lambda r: r["cas"])
    res["augmentation_choice"] = (f"{best['model']}: highest CAS among the models whose {pool}-image pool takes at "
                                  f"most {args.pool_minutes} minutes at their measured sampling speed")
    t0 = time.time()
    res["augmentation"] = augmentation(models[best["model"]][0], ds.x, ds.y, dt.x, dt.y, n_real=args.n_real,
                                       n_per_class=n_per_class, seeds=[int(s) for s in args.seeds.split(",")],
                                       sample_seed=0, **clf)
    res["augmentation_s"] = time.time() - t0
    res["wall_minutes"] = (time.time() - t_all) / 60
    from genzoo.train.plots import save_samples

    save_samples(torch.cat(grids), out / "augmentation_samples.png", "image",
                 title=" / ".join(r["model"] for r in res["cas"]) + ": 5 rows each, column = label (0-9, twice)")
    (out / "augmentation.json").write_text(json.dumps(res, indent=1))
    md = ["# Generated data for augmentation on MNIST-10k", "",
          f"Command: `{res['command']}`; machine: 2-core CPU ({res['machine']}), one thread; date {res['date']}; "
          f"total {res['wall_minutes']:.1f} wall minutes.", "",
          f"Classifier: MNISTClassifier, the shipped recipe at {args.clf_steps} Adam steps of batch {args.clf_batch} "
          "(the shipped weights: 1,550 of 128), seed 0. CAS: trained on "
          f"{args.cas_per_class} generated images per class only (drawn under seed 1234), tested on the 2,000 real "
          f"test images; each model trained {args.minutes} CPU minutes on the 8,000 training images.", "",
          table(res), "", f"Choice of the augmentation model: {res['augmentation_choice']}.", "",
          "![samples](augmentation_samples.png)", ""]
    (out / "augmentation.md").write_text("\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
