"""The mode-collapse lab: GANs (or any registry model) on ring8, grid25 and stacked MNIST, mode statistics over seeds.

Each (model, data set, seed) is one `LabRun`: the model config (the lab's settings below, then the user's
overrides, validated by genzoo.models.make_config) and the TrainConfig (validated by genzoo.train.make_train_config).
It is trained by genzoo.train.Trainer, the one training loop, on 100,000 toy points (seed = the run's seed) or
50,000 stacked-MNIST images, then scored by genzoo.eval.mode_stats on 2,500 samples (toy sets, the PacGAN protocol
of Lin et al. 2018) or 26,000 samples (stacked MNIST, as PacGAN), drawn under torch.manual_seed(10_000 + seed).
`mode_collapse_lab` runs the grid and writes the files of genzoo.lab.mode_report.
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
from genzoo.lab.mode_report import DATASETS, MODEL_ORDER, TOY, merge_store, plot_samples, write_table
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


def lab_run(model_name: str, dataset: str, seed: int, steps: int, batch_size: int = 256, lr: float | None = None,
            overrides: Mapping[str, Any] | None = None, train_overrides: Mapping[str, Any] | None = None,
            device: str = "auto") -> LabRun:
    """The validated settings of one run (ConfigError, one line, for an unknown key or a wrong type).

    Model config: lab_settings, then `overrides` (on stacked MNIST without the 2-D keys of LAB_2D, so one
    `--set g_hidden=[64]` serves a grid over toy sets and stacked MNIST). TrainConfig: steps, batch size, seed,
    no progress bar, a log every steps // 10, the device, then the lab's settings, `train_overrides` and `lr`."""
    cfg, train = lab_settings(model_name, dataset)
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
    base = {"steps": steps, "batch_size": batch_size, "seed": seed, "progress": False,
            "log_every": max(1, steps // 10), "device": device}
    train_config = make_train_config({**base, **train})
    valid = train_config.to_dict()
    return LabRun(model_name, dataset, seed, steps, batch_size, cfg, train_config, {k: valid[k] for k in train})


def train_lab_model(run: LabRun):
    """(trained model, seconds): the model created under torch.manual_seed(seed), then Trainer(...).fit()."""
    torch.manual_seed(run.seed)
    data = lab_data(run.dataset, N_TRAIN[run.dataset], run.seed)
    model = create(run.model, **run.model_config)
    t0 = time.perf_counter()
    Trainer(model, data, run.train_config, out_dir=None).fit()
    return model, time.perf_counter() - t0


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


def run_one(run: LabRun) -> tuple[dict[str, Any], torch.Tensor]:
    """Train and score one run: (record, samples)."""
    model, secs = train_lab_model(run)
    st, samples = score_model(model, run.dataset, run.seed)
    rec = {"model": run.model, "dataset": run.dataset, "seed": run.seed, "steps": run.steps,
           "batch_size": run.batch_size, "train_seconds": round(secs, 1), "trainer": TRAINER,
           "train": _plain(run.train), "config": _plain(run.model_config), **st}
    return rec, samples


def _check_names(models: Sequence[str], datasets: Sequence[str]) -> None:
    if not models or not datasets:
        raise ConfigError("lab mode-collapse: give at least one model and one data set")
    for m in models:
        get_class(m)  # UnknownNameError with the nearest registered name
    for d in datasets:
        if d not in DATASETS:
            raise unknown_name("lab data set", d, DATASETS)


def mode_collapse_lab(models: Sequence[str], datasets: Sequence[str] = DATASETS, seeds: Sequence[int] = (0,),
                      steps: int = 8000, *, mnist_steps: int | None = None,
                      model_steps: Mapping[str, int] | None = None, batch_size: int = 256, lr: float | None = None,
                      overrides: Mapping[str, Any] | None = None, train_overrides: Mapping[str, Any] | None = None,
                      device: str = "auto",
                      out: str | Path = "docs/results/gans", tag: str = "", command: str = "genzoo lab mode-collapse",
                      log: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
    """Train and score every (data set, model, seed), in that order; returns this call's records.

    Steps: `model_steps[model]`, else `steps` on the toy sets and `mnist_steps or steps` on stacked MNIST. Every
    run's settings are validated before the first run trains. After each run its record (with date, command and
    the overrides) is merged into out/mode_collapse.json; after each data set its plot is written (the first seed
    of each model); at the end out/mode_collapse.md over every record in the store. `log` gets one line per run.
    """
    models, datasets, seeds = list(models), list(datasets), [int(s) for s in seeds]
    _check_names(models, datasets)
    model_steps = dict(model_steps or {})
    for m, n in model_steps.items():
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise ConfigError(f"lab mode-collapse: steps for {m} must be an integer >= 1, got {n!r}")
    grid = []
    for ds in datasets:
        ds_steps = steps if ds in TOY else (mnist_steps or steps)
        grid.append((ds, [lab_run(m, ds, seed, model_steps.get(m, ds_steps), batch_size, lr, overrides,
                                  train_overrides, device) for m in models for seed in seeds]))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    store = out / "mode_collapse.json"
    extra = {"command": command, "overrides": _plain(dict(overrides or {})),
             "train_overrides": dict(train_overrides or {})}
    records = []
    for ds, runs in grid:
        first: dict[str, torch.Tensor] = {}
        for run in runs:
            rec, samples = run_one(run)
            rec["date"] = datetime.date.today().isoformat()
            rec.update(extra)
            merge_store(store, rec)
            records.append(rec)
            if run.model not in [k.split(",")[0] for k in first]:
                first[f"{run.model}, {run.steps:,} steps"] = samples
            if log is not None:
                hq = f", HQ {rec['high_quality_pct']:.1f}%" if "high_quality_pct" in rec else ""
                log(f"{ds} {run.model} seed {run.seed}: {rec['modes_covered']}/{rec['n_modes']} modes{hq}, "
                    f"KL {rec['reverse_kl']:.3f} ({rec['train_seconds']:.0f}s)")
        real = lab_data(ds, 2500 if ds in TOY else 36, 12345)
        plot_samples(first, ds, real, out, tag)
    write_table(list(merge_store(store).values()), out)
    return records


__all__ = ["DATASETS", "LAB_2D", "LAB_2D_BY_MODEL", "LAB_2D_TRAIN", "LAB_STACKED", "MODEL_ORDER", "N_SAMPLES",
           "N_TRAIN", "LabRun", "lab_data", "lab_run", "lab_settings", "mode_collapse_lab", "run_one",
           "score_model", "train_lab_model"]
