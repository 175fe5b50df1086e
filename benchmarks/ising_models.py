"""Generative models of 2-D Ising configurations against the Monte Carlo truth (docs/applications/ising.md).

For each temperature (default 1.8, 2.269 = T_c, 3.0: ordered, critical, disordered) every model in --models is
trained from scratch on 5,000 L = 16 configurations of `genzoo.data.get("ising", L=16, T=T)` (Swendsen-Wang, {0, 1}
images), for a budget of --minutes CPU minutes of this process per model, split evenly over the temperatures (the
number of steps comes from the CPU time of 20 probe steps, 90% of the budget; cosine learning-rate decay to the
end). Then --samples (500) configurations are drawn from the model (a model whose samples are
probabilities, such as the VAE's decoder means, is sampled by one Bernoulli draw per pixel: the model's p(x | z)),
mapped to spins 0 -> -1, 1 -> +1, and their energy per spin, <|m|>, specific heat C and susceptibility chi
(`genzoo.physics.observables`, errors by binning and the jackknife) are compared with the same observables of
5,000 held-out Monte Carlo configurations (test split).

    python benchmarks/ising_models.py --models gated-pixelcnn --minutes 2.4
    python benchmarks/ising_models.py --models vae --minutes 1.5
    python benchmarks/ising_models.py --report-only

Default --models: rbm, ebm, gated-pixelcnn, vae; names not registered in this installation are skipped with a note.
Each model's run writes {model}.json to --out (docs/results/ising), then the report is rebuilt from every JSON
there: results.md (the table) and ising_observables.png (energy and |m| against T, with Onsager's L = infinity
curves for orientation).
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import provenance  # noqa: E402

from genzoo.data import get  # noqa: E402
from genzoo.models import Batch, available, create  # noqa: E402
from genzoo.physics import T_C, observables, onsager_energy, onsager_magnetization, spins_from_image  # noqa: E402
from genzoo.train import TrainConfig, Trainer  # noqa: E402

DEFAULT_MODELS = ("rbm", "ebm", "gated-pixelcnn", "vae")
DEFAULT_TEMPERATURES = (1.8, 2.269, 3.0)
MODEL_CONFIGS = {"gated-pixelcnn": {"channels": 16, "blocks": 4}, "vae": {"latent_dim": 16, "hidden": (512, 256)}}
TRAIN = {"batch_size": 64, "lr": 1e-3}
PROBE_STEPS = 20
KEYS = ("energy", "magnetization", "specific_heat", "susceptibility")
LABELS = {"energy": "e", "magnetization": "<\\|m\\|>", "specific_heat": "C", "susceptibility": "chi"}


def measured(obs: dict) -> dict:
    return {k: [obs[k].value, obs[k].error] for k in KEYS}


def step_rate(model, data, seed: int) -> float:
    """CPU seconds per training step: PROBE_STEPS Adam steps on the model's loss (the Trainer's step without its
    logging, sampling and saving)."""
    torch.manual_seed(seed)
    opt = torch.optim.Adam(model.parameters(), lr=TRAIN["lr"])
    idx = torch.randint(0, len(data), (PROBE_STEPS, TRAIN["batch_size"]))
    t0 = time.process_time()
    for i in idx:
        opt.zero_grad()
        model.loss(Batch(data.x[i]))["loss"].backward()
        opt.step()
    return (time.process_time() - t0) / PROBE_STEPS


def trained_model(name: str, data, seconds: float, seed: int):
    """The model trained for about `seconds` of CPU time (a probe measures the step rate)."""
    cfg = {"data_shape": tuple(data.data_shape), **MODEL_CONFIGS.get(name, {})}
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.process_time()
        rate = step_rate(create(name, **cfg), data, seed)
        steps = max(PROBE_STEPS, int(0.9 * (seconds - (time.process_time() - t0)) / rate))
        model = create(name, **cfg)
        t1 = time.process_time()
        history = Trainer(model, data, TrainConfig(steps=steps, seed=seed, progress=False, n_samples=8,
                                                   schedule="cosine", **TRAIN), out_dir=Path(tmp) / "run").fit()
        cpu = time.process_time() - t1 + (t1 - t0)
    loss = [h["model/loss"] for h in history if "model/loss" in h]
    return model, {"steps": steps, "train_cpu_s": cpu, "final_loss": float(np.mean(loss[-20:])) if loss else None}


def model_samples(model, n: int, seed: int) -> np.ndarray:
    torch.manual_seed(seed)
    model.eval()
    x = torch.cat([model.sample(min(500, n - i)) for i in range(0, n, 500)]).float().clamp(0, 1)
    if not bool(((x == 0) | (x == 1)).all()):  # probabilities: draw the pixels
        x = torch.bernoulli(x, generator=torch.Generator().manual_seed(seed))
    return spins_from_image(x)


def run(args) -> None:
    out = Path(args.out)
    temps = [float(t) for t in args.temperatures.split(",")]
    names = [m for m in args.models.split(",") if m]
    registered = set(available())
    for m in names:
        if m not in registered:
            print(f"note: {m} is not registered in this installation; skipped")
    names = [m for m in names if m in registered]
    truth = {}
    for T in temps:
        test = get("ising", "test", L=args.L, T=T, n=args.truth_n)
        truth[str(T)] = measured(observables(spins_from_image(test.x), T, n_bins=20))
    for name in names:
        result = {"model": name, "L": args.L, "temperatures": temps, "minutes": args.minutes, "truth": truth,
                  "truth_n": args.truth_n, "n_train": args.n_train,
                  "config": MODEL_CONFIGS.get(name, {}), "train": TRAIN, "samples": args.samples, "by_T": {},
                  "provenance": provenance(__file__)}
        for T in temps:
            data = get("ising", "train", L=args.L, T=T, n=args.n_train)
            t0 = time.perf_counter()
            model, info = trained_model(name, data, 60.0 * args.minutes / len(temps), args.seed)
            c0 = time.process_time()
            spins = model_samples(model, args.samples, args.seed)
            info["sample_cpu_s"] = time.process_time() - c0
            info["wall_s"] = time.perf_counter() - t0
            result["by_T"][str(T)] = {**info, **measured(observables(spins, T, n_bins=20))}
            print(f"{name} T={T}: {result['by_T'][str(T)]}", flush=True)
        out.mkdir(parents=True, exist_ok=True)
        (out / f"{name}.json").write_text(json.dumps(result, indent=1))
    report(out)


def _fmt(v) -> str:
    return f"{v[0]:.3f} +- {v[1]:.3f}"


def report(out: Path) -> None:
    results = [json.loads(p.read_text()) for p in sorted(out.glob("*.json"))]
    if not results:
        print(f"no results in {out}")
        return
    truth = results[0]["truth"]
    temps = results[0]["temperatures"]
    lines = ["| T | source | " + " | ".join(LABELS[k] for k in KEYS) + " | steps | train CPU s |",
             "|---|---|" + "---|" * len(KEYS) + "---|---|"]
    for T in temps:
        t = str(T)
        lines.append(f"| {T:g} | Monte Carlo (SW, {results[0].get('truth_n', 5000)} configs) | "
                     + " | ".join(_fmt(truth[t][k]) for k in KEYS) + " | | |")
        for r in results:
            row = r["by_T"][t]
            z = [abs(row[k][0] - truth[t][k][0]) / math.hypot(row[k][1], truth[t][k][1]) for k in KEYS]
            cells = [f"{_fmt(row[k])} ({zz:.0f} sd)" for k, zz in zip(KEYS, z)]
            lines.append(f"| {T:g} | {r['model']} | " + " | ".join(cells) + f" | {row['steps']} | "
                         f"{row['train_cpu_s']:.0f} |")
    cmds = "\n".join(f"- `{r['provenance']['command']}` ({r['provenance']['date']}, commit "
                     f"{r['provenance']['commit']}; {r['provenance']['machine']})" for r in results)
    (out / "results.md").write_text("# Ising: observables of model samples against Monte Carlo (L = 16)\n\n"
                                    + "\n".join(lines) + "\n\n(n sd: the difference in combined standard errors.)"
                                    + "\n\nRuns:\n" + cmds + "\n")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    grid = np.linspace(1.5, 3.3, 300)
    for ax, key, exact in ((axes[0], "energy", onsager_energy(grid)), (axes[1], "magnetization",
                                                                        onsager_magnetization(grid))):
        ax.plot(grid, exact, color="0.7", lw=1, label="Onsager / Yang, L = infinity")
        ax.errorbar(temps, [truth[str(T)][key][0] for T in temps], [truth[str(T)][key][1] for T in temps],
                    color="k", marker="o", ls="-", capsize=3, label="Monte Carlo, L = 16")
        for i, r in enumerate(results):
            dx = 0.02 * (i + 1)
            ax.errorbar([T + dx for T in temps], [r["by_T"][str(T)][key][0] for T in temps],
                        [r["by_T"][str(T)][key][1] for T in temps], marker="s", ls="--", capsize=3,
                        label=r["model"])
        ax.axvline(T_C, color="0.85", ls=":")
        ax.set_xlabel("T")
        ax.set_ylabel({"energy": "energy per spin", "magnetization": "<|m|>"}[key])
        ax.legend(fontsize=8)
    fig.suptitle("2-D Ising, L = 16: model samples against Monte Carlo")
    fig.tight_layout()
    fig.savefig(out / "ising_observables.png", dpi=110)
    print((out / "results.md").read_text())


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--models", default=",".join(DEFAULT_MODELS))
    p.add_argument("--temperatures", default=",".join(map(str, DEFAULT_TEMPERATURES)))
    p.add_argument("--L", type=int, default=16)
    p.add_argument("--minutes", type=float, default=6.0, help="CPU minutes per model, over all temperatures")
    p.add_argument("--n-train", type=int, default=5000)
    p.add_argument("--truth-n", type=int, default=5000)
    p.add_argument("--samples", type=int, default=500)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=str(Path(__file__).resolve().parents[1] / "docs" / "results" / "ising"))
    p.add_argument("--report-only", action="store_true")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.report_only:
        report(Path(args.out))
    else:
        run(args)


if __name__ == "__main__":
    main()
