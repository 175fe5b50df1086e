"""The mode-collapse lab: GANs (or any registry model) on ring8, grid25 and stacked MNIST, mode statistics over seeds.

Each (model, data set, seed) is one `LabRun`: the model config (the lab's settings below, then the user's
overrides, validated by genzoo.models.make_config) and the TrainConfig (validated by genzoo.train.make_train_config).
It is trained by genzoo.train.Trainer, the one training loop, on 100,000 toy points (seed = the run's seed) or
50,000 stacked-MNIST images, then scored by genzoo.eval.mode_stats on 2,500 samples (toy sets, the PacGAN protocol
of Lin et al. 2018) or 26,000 samples (stacked MNIST, as PacGAN), drawn under torch.manual_seed(10_000 + seed).
`mode_collapse_lab` runs the grid and writes the files of genzoo.lab.mode_report.

Two protocols (`protocol=`): "lab", the lab's own settings below (the record in docs/results/gans/mode_collapse.md),
and "pacgan", the settings of the PacGAN authors' code (Lin et al. 2018, github.com/fjxmlzn/PacGAN; PACGAN_* below,
docs/models/gans.md "The PacGAN protocol"), whose runs go to their own files (mode_collapse_pacgan.*).
"""

from __future__ import annotations

import dataclasses
import datetime
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from genzoo.config import config_to_dict
from genzoo.errors import ConfigError, unknown_name
from genzoo.eval.modes import mode_stats
from genzoo.lab.mode_report import (
    DATASETS,
    MODEL_ORDER,
    TOY,
    merge_store,
    plot_samples,
    protocol_files,
    write_protocol_table,
    write_table,
)
from genzoo.models import create, get_class, make_config
from genzoo.train import TrainConfig, Trainer, make_train_config

# Lab settings for 2-D points, those of the recorded results (docs/models/gans.md): z in R^2, generator 3 x 128
# without batch norm, discriminator 2 x 128; Adam lr 1e-3 with a cosine decay to 0 (unless lr / train overrides).
LAB_2D = {"data_shape": (2,), "latent_dim": 2, "g_hidden": (128, 128, 128), "d_hidden": (128, 128),
          "g_batch_norm": False}
LAB_2D_TRAIN = {"lr": 1e-3, "schedule": "cosine"}
# Per-model lab settings on the toy sets that differ from the above (the model's train_defaults give the rest).
# WGAN-GP: the toy-task settings of Gulrajani et al.'s code (gan_toy.py): Adam 1e-4, betas (0.5, 0.9), 5 critic
# steps, lambda = 0.1 ("smaller lambda seems to help for toy tasks"); with lambda = 10 the 1-Lipschitz critic cannot
# separate modes of std 0.01-0.05 sharply and the samples stay off the modes (docs/models/gans.md). WGAN (clipping):
# RMSprop 5e-5 as in Arjovsky et al.
LAB_2D_BY_MODEL: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "wgan-gp": ({"gp_weight": 0.1}, {"lr": 1e-4, "betas": (0.5, 0.9)}),
    "wgan": ({}, {"lr": 5e-5}),
}
LAB_STACKED = {"data_shape": (3, 28, 28), "latent_dim": 64, "width": 32}
N_TRAIN = {"ring8": 100_000, "grid25": 100_000, "stacked-mnist": 50_000}
N_SAMPLES = {"ring8": 2500, "grid25": 2500, "stacked-mnist": 26000}  # PacGAN: 26,000 on stacked MNIST
TRAINER = "genzoo.train.Trainer"

# ---- the PacGAN protocol: the settings of the PacGAN authors' code (Lin et al. 2018, github.com/fjxmlzn/PacGAN) ----
PROTOCOLS = ("lab", "pacgan")
# Toy sets (synthetic_data_experiments/2D{Ring,Grid}_GAN&PacGAN: config.py, pacgan_task.py, pacgan/bricks.py): z ~
# N(0, I_2); generator 4 x 400 Linear -> batch norm -> ReLU, linear output; discriminator 3 x 200 maxout units of 5
# pieces, linear output; every weight ~ N(0, 0.02), biases 0; D loss softplus(-l_real) + softplus(l_fake), G loss
# softplus(-l_fake) (non-saturating, also for the GAN row); Adam lr 1e-4, beta1 0.8 (beta2 blocks' default 0.999),
# constant; 100 packs per batch, 100,000 training points, 400 epochs (= 400,000 updates); 2,500 evaluation samples.
PACGAN_2D = {"data_shape": (2,), "loss": "ns", "latent_dim": 2, "g_hidden": (400, 400, 400, 400),
             "g_batch_norm": True, "d_hidden": (200, 200, 200), "d_act": "maxout", "maxout_pieces": 5,
             "init_std": 0.02}
PACGAN_2D_TRAIN = {"lr": 1e-4, "betas": (0.8, 0.999), "schedule": "constant"}
# Stacked MNIST (stacked_MNIST_experiments/VEEGAN_experiment, built on carpedm20/DCGAN-tensorflow): z ~ U[-1, 1]^100,
# DCGAN with 64 base filters (genzoo's DCGAN: 7 -> 14 -> 28 with 4x4 kernels, not the reference's 2 -> 4 -> 7 ->
# 14 -> 28 with 5x5 kernels; docs/models/gans.md), NS loss, Adam 2e-4, beta1 0.5, batch 64, two generator updates per
# discriminator update, 128,000 stacked training images, 50 epochs (= 100,000 steps); 26,000 evaluation samples.
PACGAN_STACKED = {"data_shape": (3, 28, 28), "loss": "ns", "latent_dim": 100, "latent": "uniform", "width": 64,
                  "n_gen": 2}
PACGAN_STACKED_TRAIN = {"lr": 2e-4, "betas": (0.5, 0.999), "schedule": "constant"}
PACGAN_PACKS_PER_BATCH = {"ring8": 100, "grid25": 100, "stacked-mnist": 64}  # D inputs per batch; points = x pack
PACGAN_N_TRAIN = {"ring8": 100_000, "grid25": 100_000, "stacked-mnist": 128_000}
PACGAN_PAPER_STEPS = {"ring8": 400_000, "grid25": 400_000, "stacked-mnist": 100_000}
# The CPU step budget of the recorded runs (docs/models/gans.md "The PacGAN protocol": why these budgets).
PACGAN_STEPS = {"ring8": 1500, "grid25": 1500, "stacked-mnist": 1000}
PACGAN_MODELS = ("gan", "pacgan2", "pacgan3", "pacgan4")


def pacgan_variant(name: str) -> tuple[str, int, str]:
    """(registry model, pack m, row label) of a model name under the PacGAN protocol: "gan" -> ("gan", 1, "GAN"),
    "pacganM" -> ("pacgan", M, "PacGANM") for M >= 2, "pacgan" -> PacGAN2. ConfigError for any other name (the
    protocol is the PacGAN code's GAN with the discriminator packed m times; other models have other settings)."""
    if name == "gan":
        return "gan", 1, "GAN"
    if name == "pacgan":
        return "pacgan", 2, "PacGAN2"
    tail = name[len("pacgan"):] if name.startswith("pacgan") else ""
    if tail.isdigit() and int(tail) >= 2:
        return "pacgan", int(tail), f"PacGAN{int(tail)}"
    raise ConfigError(f"lab mode-collapse --protocol pacgan: model {name!r} is not one of gan, pacgan, pacganM "
                      "(M >= 2 samples per pack)")


def protocol_settings(protocol: str, model_name: str, dataset: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model config, TrainConfig overrides) of `model_name` (gan / pacgan / pacganM) on `dataset` under
    `protocol` ("lab": lab_settings; "pacgan": PACGAN_2D / PACGAN_STACKED and their training settings, with
    pack = M)."""
    if protocol == "lab":
        return lab_settings(model_name, dataset)
    if protocol != "pacgan":
        raise unknown_name("lab protocol", protocol, PROTOCOLS)
    _, pack, _ = pacgan_variant(model_name)
    if dataset in TOY:
        return {**PACGAN_2D, "pack": pack}, dict(PACGAN_2D_TRAIN)
    if dataset == "stacked-mnist":
        return {**PACGAN_STACKED, "pack": pack}, dict(PACGAN_STACKED_TRAIN)
    raise ConfigError(f"lab mode-collapse: unknown data set {dataset!r}; use {', '.join(DATASETS)}")


def lab_data(dataset: str, n: int, seed: int) -> torch.Tensor:
    """(n, 2) toy points, or (n, 3, 28, 28) stacked-MNIST images in [0, 1] (three independent MNIST training
    digits per example), deterministic per seed (genzoo.data)."""
    if dataset in TOY:
        from genzoo.data import toy2d

        return toy2d(dataset, n, seed=seed)
    if dataset == "stacked-mnist":
        from genzoo.data import stacked_mnist

        return stacked_mnist(n, seed)[0].float() / 255.0
    raise ConfigError(f"lab mode-collapse: unknown data set {dataset!r}; use {', '.join(DATASETS)}")


def lab_settings(model_name: str, dataset: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(model config, TrainConfig overrides) the lab uses for `model_name` on `dataset` before the user's overrides:
    GANs on the toy sets get LAB_2D / LAB_2D_TRAIN (and LAB_2D_BY_MODEL), on stacked MNIST LAB_STACKED; any
    other model only the data shape (its own defaults otherwise)."""
    cls = get_class(model_name)
    is_gan = cls.family == "gan" and model_name != "pggan"
    if dataset in TOY:
        if not is_gan:  # real-valued points: a model with a choice of decoder gets the Gaussian one
            fields = {f.name for f in dataclasses.fields(cls.Config)} if dataclasses.is_dataclass(cls.Config) else set()
            return {"data_shape": (2,), **({"decoder": "gaussian"} if "decoder" in fields else {})}, {}
        cfg, train = LAB_2D_BY_MODEL.get(model_name, ({}, {}))
        return {**LAB_2D, **cfg}, {**LAB_2D_TRAIN, **train}
    if dataset == "stacked-mnist":
        return (dict(LAB_STACKED) if is_gan else {"data_shape": (3, 28, 28)}), {}
    raise ConfigError(f"lab mode-collapse: unknown data set {dataset!r}; use {', '.join(DATASETS)}")


def _plain(d: Mapping[str, Any]) -> dict[str, Any]:
    return {k: (list(v) if isinstance(v, tuple) else v) for k, v in d.items()}


@dataclass(frozen=True)
class LabRun:
    """One run of the lab: `create(model, **model_config)` under torch.manual_seed(seed), trained by
    `Trainer(model, lab_data(dataset, N_TRAIN[dataset], seed), train_config)`. `train` holds the TrainConfig
    settings beyond steps / batch size / seed (the lab's and the user's), as recorded in mode_collapse.json."""

    model: str
    dataset: str
    seed: int
    steps: int
    batch_size: int
    model_config: dict[str, Any]
    train_config: TrainConfig
    train: dict[str, Any]
    protocol: str = "lab"
    label: str = ""  # the table row under the PacGAN protocol (GAN, PacGAN2, ...)
    n_train: int = 0  # training examples (0: N_TRAIN[dataset])


def lab_run(model_name: str, dataset: str, seed: int, steps: int, batch_size: int = 256, lr: float | None = None,
            overrides: Mapping[str, Any] | None = None, train_overrides: Mapping[str, Any] | None = None,
            device: str = "auto", protocol: str = "lab") -> LabRun:
    """The validated settings of one run (ConfigError, one line, for an unknown key or a wrong type).

    Model config: lab_settings (protocol "lab") or protocol_settings (protocol "pacgan"), then `overrides` (on
    stacked MNIST without the 2-D keys of LAB_2D, so one `--set g_hidden=[64]` serves a grid over toy sets and
    stacked MNIST). TrainConfig: steps, batch size, seed, no progress bar, a log every steps // 10, the device, then
    the protocol's settings, `train_overrides` and `lr`. Under the PacGAN protocol `batch_size` counts packs (the
    discriminator's inputs, as in the PacGAN code): the Trainer draws batch_size x pack points per step."""
    label = ""
    if protocol == "lab":
        cfg, train = lab_settings(model_name, dataset)
    else:
        cfg, train = protocol_settings(protocol, model_name, dataset)
        model_name, _, label = pacgan_variant(model_name)
    overrides = dict(overrides or {})
    if dataset not in TOY:
        overrides = {k: v for k, v in overrides.items() if k not in LAB_2D}
    cfg = {**cfg, **overrides}
    valid = config_to_dict(make_config(model_name, cfg))
    cfg = {k: valid[k] for k in cfg}  # as validated: YAML's "1e-3" is 0.001, [64, 64] a tuple's list
    train = {**train, **dict(train_overrides or {})}
    if lr is not None:
        train["lr"] = lr
    lr = train.pop("lr", None)
    train = {**({"lr": lr} if lr is not None else {}), **train}
    if protocol != "lab":
        batch_size = batch_size * int(cfg.get("pack", 1))
    base = {"steps": steps, "batch_size": batch_size, "seed": seed, "progress": False,
            "log_every": max(1, steps // 10), "device": device}
    train_config = make_train_config({**base, **train})
    valid = train_config.to_dict()
    n_train = PACGAN_N_TRAIN[dataset] if protocol == "pacgan" else N_TRAIN[dataset]
    return LabRun(model_name, dataset, seed, steps, batch_size, cfg, train_config, {k: valid[k] for k in train},
                  protocol, label, n_train)


def train_lab_model(run: LabRun, eval_steps: Sequence[int] = (),
                    on_eval: Callable[[Any, int, float], None] | None = None):
    """(trained model, seconds): the model created under torch.manual_seed(seed), then Trainer(...).fit().

    With `eval_steps` (each < run.steps) the Trainer stops at each of them (fit(stop_at=k)) and calls
    on_eval(model, k, seconds so far) inside torch.random.fork_rng(), so the scoring draws do not change the
    training that follows: the final model is the one of an uninterrupted run."""
    torch.manual_seed(run.seed)
    data = lab_data(run.dataset, run.n_train or N_TRAIN[run.dataset], run.seed)
    model = create(run.model, **run.model_config)
    trainer = Trainer(model, data, run.train_config, out_dir=None)
    secs = 0.0
    for k in sorted(k for k in set(eval_steps) if k < run.steps):
        t0 = time.perf_counter()
        trainer.fit(stop_at=k)
        secs += time.perf_counter() - t0
        if on_eval is not None:
            with torch.random.fork_rng():
                on_eval(model, k, secs)
            model.train()
    t0 = time.perf_counter()
    trainer.fit()
    return model, secs + time.perf_counter() - t0


def score_model(model, dataset: str, seed: int) -> tuple[dict[str, Any], torch.Tensor]:
    """(mode statistics without the histogram, samples): N_SAMPLES[dataset] samples in chunks of 2,500 under
    torch.manual_seed(10_000 + seed), scored by genzoo.eval.mode_stats."""
    model.eval()
    torch.manual_seed(10_000 + seed)
    n = N_SAMPLES[dataset]
    with torch.no_grad():
        samples = torch.cat([model.sample(min(2500, n - i)).cpu() for i in range(0, n, 2500)])
    st = mode_stats(samples, dataset)
    st.pop("counts", None)
    return st, samples


def _record(run: LabRun, steps: int, secs: float, st: dict[str, Any]) -> dict[str, Any]:
    rec = {"model": run.model, "dataset": run.dataset, "seed": run.seed, "steps": steps,
           "batch_size": run.batch_size, "train_seconds": round(secs, 1), "trainer": TRAINER,
           "train": _plain(run.train), "config": _plain(run.model_config), **st}
    if steps != run.steps:  # a checkpoint of a longer run (eval_steps), not a run of `steps` steps
        rec["run_steps"] = run.steps
    if run.protocol != "lab":
        pack = int(run.model_config.get("pack", 1))
        rec.update(protocol=run.protocol, label=run.label, packs_per_batch=run.batch_size // pack,
                   n_train=run.n_train, paper_steps=PACGAN_PAPER_STEPS[run.dataset])
    return rec


def run_one(run: LabRun, eval_steps: Sequence[int] = ()) -> tuple[dict[str, Any], torch.Tensor]:
    """Train and score one run: (record, samples). run_staged for the records at `eval_steps` too."""
    recs, samples = run_staged(run, eval_steps)
    return recs[-1], samples


def run_staged(run: LabRun, eval_steps: Sequence[int] = ()) -> tuple[list[dict[str, Any]], torch.Tensor]:
    """([record at each of eval_steps < run.steps ..., final record], final samples): one training run scored at
    each budget on the way (records with "run_steps" = run.steps) and at its end."""
    recs: list[dict[str, Any]] = []

    def on_eval(model, k: int, secs: float) -> None:
        recs.append(_record(run, k, secs, score_model(model, run.dataset, run.seed)[0]))

    model, secs = train_lab_model(run, eval_steps, on_eval)
    st, samples = score_model(model, run.dataset, run.seed)
    recs.append(_record(run, run.steps, secs, st))
    return recs, samples


def _check_names(models: Sequence[str], datasets: Sequence[str], protocol: str = "lab") -> None:
    if protocol not in PROTOCOLS:
        raise unknown_name("lab protocol", protocol, PROTOCOLS)
    if not models or not datasets:
        raise ConfigError("lab mode-collapse: give at least one model and one data set")
    for m in models:
        if protocol == "pacgan":
            pacgan_variant(m)
        else:
            get_class(m)  # UnknownNameError with the nearest registered name
    for d in datasets:
        if d not in DATASETS:
            raise unknown_name("lab data set", d, DATASETS)


def mode_collapse_lab(models: Sequence[str] | None = None, datasets: Sequence[str] = DATASETS,
                      seeds: Sequence[int] = (0,), steps: int | None = None, *, mnist_steps: int | None = None,
                      model_steps: Mapping[str, int] | None = None, batch_size: int | None = None,
                      lr: float | None = None, overrides: Mapping[str, Any] | None = None,
                      train_overrides: Mapping[str, Any] | None = None, device: str = "auto", protocol: str = "lab",
                      eval_steps: Sequence[int] = (), out: str | Path = "docs/results/gans", tag: str = "",
                      command: str = "genzoo lab mode-collapse",
                      log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Train and score every (data set, model, seed), in that order; returns this call's records.

    protocol "lab" (default models gan, ns-gan, wgan-gp, pacgan; 8,000 steps; batch 256) or "pacgan" (models gan,
    pacgan2, pacgan3, pacgan4; PACGAN_STEPS; PACGAN_PACKS_PER_BATCH packs per batch). Steps: `model_steps[model]`,
    else `steps` on the toy sets and `mnist_steps or steps` on stacked MNIST (under "pacgan" each unset budget is
    PACGAN_STEPS[dataset]). Every run's settings are validated before the first run trains. After each run its
    record (with date, command and the overrides) is merged into the store (out/mode_collapse.json, or
    out/mode_collapse_pacgan.json); after each data set its plot is written (the first seed of each model); at the
    end the table (mode_collapse.md / mode_collapse_pacgan.md) over every record in the store. `log` gets one line
    per record. `eval_steps`: each run is also scored when it passes each of these step counts (run_staged), a
    learning curve from the same runs (rows of their own, with "run_steps" in their records).
    """
    if protocol not in PROTOCOLS:
        raise unknown_name("lab protocol", protocol, PROTOCOLS)
    pac = protocol == "pacgan"
    models = list(models) if models is not None else list(PACGAN_MODELS if pac else MODEL_ORDER)
    datasets, seeds = list(datasets), [int(s) for s in seeds]
    _check_names(models, datasets, protocol)
    eval_steps = sorted({int(k) for k in eval_steps})
    if any(k < 1 for k in eval_steps):
        raise ConfigError(f"lab mode-collapse: eval steps must be >= 1, got {eval_steps}")
    model_steps = dict(model_steps or {})
    for m, n in model_steps.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"lab mode-collapse: steps for {m} must be an integer >= 1, got {n!r}")
    grid = []
    for ds in datasets:
        default = PACGAN_STEPS[ds] if pac else 8000
        ds_steps = (steps or default) if ds in TOY else (mnist_steps or (default if pac else steps or default))
        bs = batch_size or (PACGAN_PACKS_PER_BATCH[ds] if pac else 256)
        grid.append((ds, [lab_run(m, ds, seed, model_steps.get(m, ds_steps), bs, lr, overrides,
                                  train_overrides, device, protocol) for m in models for seed in seeds]))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store, table_name, plot_prefix = protocol_files(protocol, out)
    extra = {"command": command, "overrides": _plain(dict(overrides or {})),
             "train_overrides": dict(train_overrides or {})}
    records = []
    for ds, runs in grid:
        first: dict[str, torch.Tensor] = {}
        for run in runs:
            recs, samples = run_staged(run, eval_steps)
            name = run.label or run.model
            for rec in recs:
                rec["date"] = datetime.date.today().isoformat()
                rec.update(extra)
                merge_store(store, rec)
                records.append(rec)
                if log is not None:
                    hq = f", HQ {rec['high_quality_pct']:.1f}%" if "high_quality_pct" in rec else ""
                    at = f" at {rec['steps']:,} steps" if rec["steps"] != run.steps else ""
                    log(f"{ds} {name} seed {run.seed}{at}: {rec['modes_covered']}/{rec['n_modes']} modes{hq}, "
                        f"KL {rec['reverse_kl']:.3f} ({rec['train_seconds']:.0f}s)")
            if name not in [k.split(",")[0] for k in first]:
                first[f"{name}, {run.steps:,} steps"] = samples
        real = lab_data(ds, 2500 if ds in TOY else 36, 12345)
        plot_samples(first, ds, real, out, tag, prefix=plot_prefix)
    if pac:
        write_protocol_table(list(merge_store(store).values()), out)
    else:
        write_table(list(merge_store(store).values()), out)
    return records


__all__ = ["DATASETS", "LAB_2D", "LAB_2D_BY_MODEL", "LAB_2D_TRAIN", "LAB_STACKED", "MODEL_ORDER", "N_SAMPLES",
           "N_TRAIN", "PACGAN_2D", "PACGAN_2D_TRAIN", "PACGAN_MODELS", "PACGAN_N_TRAIN", "PACGAN_PACKS_PER_BATCH",
           "PACGAN_PAPER_STEPS", "PACGAN_STACKED", "PACGAN_STACKED_TRAIN", "PACGAN_STEPS", "PROTOCOLS", "LabRun",
           "lab_data", "lab_run", "lab_settings", "mode_collapse_lab", "pacgan_variant", "protocol_settings",
           "run_one", "run_staged", "score_model", "train_lab_model"]
