"""The cross-family leaderboard: every family on the same data, at the same CPU budget, scored by one protocol.

Two boards (`BOARDS`):

- "mnist": MNIST-10k (8,000 training images, the 2,000 held-out images as the reference). Every entry trains for
  `budget` CPU-minutes of its own process, then:
  * likelihood, in the column of what it measures: "nats" = NLL of the held-out digits binarized once
    (`genzoo.data.binarize(x, "static", seed=123)`, the binarized-MNIST protocol of the benchmarks) for the models
    of binary pixels (VAE/IWAE bounds with k importance samples, MADE and PixelCNN exact, RBM exact up to its AIS
    log Z, DBN bound); "bpd" = bits/dim of the grey digits, 8-bit dequantized (flows exact, DDPM variational bound);
    each marked exact, bound or estimate. Blank for models without one (GANs, VAE-GAN, EBM).
  * `N_SAMPLES` = 1,000 samples (timed: "time to draw 1,000 samples"), scored by `genzoo.eval.sample_metrics`
    against the 2,000 held-out digits (FID-MNIST, KID, precision/recall k = 3, density/coverage k = 5, classifier
    confidence and classes covered), and for class-conditional models the classification accuracy score (a
    classifier trained on the labelled samples, tested on the real held-out digits).
- "toy2d": every 2-D toy set (or `sets`), 20,000 training points; held-out NLL against the set's floor (its
  entropy where known), mode coverage and %HQ for the Gaussian mixtures, MMD and KID to 5,000 held-out points.

Each (entry, seed) runs in its own process (`genzoo.lab.board_job`), so its peak memory is its own and a crash is
one failed row; its record is kept in `runs/leaderboard/<board>/<entry>-s<seed>/record.json` with the key of its
settings, and a later call with the same settings reuses it instead of training again. `leaderboard()` writes
`<out>/leaderboard.md`, `<out>/leaderboard.json` and the pictures under `<out>/leaderboard/`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from genzoo.errors import ConfigError, unknown_name

PROTOCOL = "genzoo-leaderboard-1"  # bump when the protocol changes, so old records are not reused
N_SAMPLES = 1000
MNIST_REFERENCE = 2000
TOY_REFERENCE = 5000
BINARIZE_SEED = 123
CAS_STEPS = 600  # classifier steps of CAS on the 1,000 samples (the shipped recipe runs 1,550 on 8,000 images)


@dataclass(frozen=True)
class BoardEntry:
    """One row: `create(model, **config)` trained with TrainConfig(**train) for the board's budget.

    nll: which likelihood column the entry reports ("nats": binarized digits, "bpd": dequantized grey digits,
    "points": nats on 2-D points, None: none); nll_kind: "exact", "bound" or "estimate" (how the number relates
    to the true log-likelihood); nll_note: its k or AIS runs; eval_kwargs go to log_prob; eval_examples caps the
    held-out examples scored (stated in the table); sample_kwargs go to sample."""

    name: str
    model: str
    config: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    nll: str | None = None
    nll_kind: str | None = None
    nll_note: str = ""
    eval_kwargs: dict[str, Any] = field(default_factory=dict)
    eval_examples: int = 1000
    sample_kwargs: dict[str, Any] = field(default_factory=dict)


_VAE = {"latent_dim": 16, "hidden": [256, 128]}
_GAN_2D = {"latent_dim": 2, "g_hidden": [128, 128, 128], "d_hidden": [128, 128], "g_batch_norm": False}

MNIST_ENTRIES: list[BoardEntry] = [
    BoardEntry("vae", "vae", _VAE, {"batch_size": 128}, "nats", "bound", "k = 500", {"k": 500}),
    BoardEntry("iwae", "iwae", {**_VAE, "k": 5}, {"batch_size": 128}, "nats", "bound", "k = 500", {"k": 500}),
    BoardEntry("cvae", "cvae", _VAE, {"batch_size": 128}, "nats", "bound", "k = 500", {"k": 500}),
    BoardEntry("sparse-vae", "sparse-vae", _VAE, {"batch_size": 128}, "nats", "bound", "k = 500", {"k": 500}),
    BoardEntry("made", "made", {"hidden": [500]}, {"batch_size": 100}, "nats", "exact"),
    BoardEntry("pixelcnn", "pixelcnn", {"channels": 32, "blocks": 4}, {"batch_size": 32}, "nats", "exact",
               eval_examples=500),
    BoardEntry("rbm", "rbm", {"hidden": 500, "ais_betas": 2000, "ais_runs": 100}, {"batch_size": 100}, "nats",
               "estimate", "AIS 2,000 temperatures x 100 runs"),
    BoardEntry("dbn", "dbn", {"hidden": [500, 500], "layer_steps": 1000, "ais_betas": 1000, "ais_runs": 50},
               {"batch_size": 100}, "nats", "bound", "AIS 1,000 x 50, 10 posterior samples"),
    BoardEntry("realnvp", "realnvp", {}, {"batch_size": 64}, "bpd", "exact", eval_examples=1000),
    BoardEntry("glow", "glow", {"steps": 4}, {"batch_size": 64}, "bpd", "exact", eval_examples=1000),
    BoardEntry("ddpm", "ddpm", {"sampler": "ddim", "sample_steps": 50, "vlb_steps": 100}, {"batch_size": 64},
               "bpd", "bound", "VLB on 100 of 1,000 steps", eval_examples=200),
    BoardEntry("dcgan", "dcgan", {}, {"batch_size": 64}),
    BoardEntry("wgan-gp", "wgan-gp", {"arch": "dcgan"}, {"batch_size": 64}),
    BoardEntry("cgan", "cgan", {}, {"batch_size": 64}),
    BoardEntry("vae-gan", "vae-gan", {"latent_dim": 16}, {"batch_size": 64}),
    BoardEntry("ebm", "ebm", {"sample_steps": 100}, {"batch_size": 64}),
]

TOY_ENTRIES: list[BoardEntry] = [
    BoardEntry("gmm", "gmm", {"components": 25}, {}, "points", "exact"),
    BoardEntry("realnvp", "realnvp", {"n_blocks": 8}, {"batch_size": 512, "lr": 2e-3}, "points", "exact"),
    BoardEntry("maf", "maf", {}, {"batch_size": 512, "lr": 2e-3}, "points", "exact"),
    BoardEntry("cnf", "cnf", {"hidden": [64, 64], "method": "rk4", "steps": 8}, {"batch_size": 256, "lr": 2e-3},
               "points", "exact"),
    BoardEntry("vae", "vae", {"latent_dim": 2, "hidden": [64, 64], "decoder": "gaussian", "decoder_std": 0.1},
               {"batch_size": 256, "lr": 2e-3}, "points", "bound", "k = 500", {"k": 500}),
    BoardEntry("ddpm", "ddpm", {}, {"batch_size": 256, "lr": 2e-3}, "points", "bound", "variational bound"),
    BoardEntry("ebm", "ebm", {"hidden": [128, 128], "sgld_step": 0.03, "buffer_size": 2000, "resolution": 128},
               {"batch_size": 256}, "points", "exact", "log Z on a 128 x 128 grid"),
    BoardEntry("gan", "ns-gan", _GAN_2D, {"batch_size": 256, "lr": 1e-3}),
    BoardEntry("pacgan", "pacgan", _GAN_2D, {"batch_size": 256, "lr": 1e-3}),
    BoardEntry("wgan-gp", "wgan-gp", _GAN_2D, {"batch_size": 256, "lr": 1e-3}),
]

TOY_ENTRIES = [replace(e, eval_examples=TOY_REFERENCE) for e in TOY_ENTRIES]  # NLL on the whole test split

BOARDS: dict[str, list[BoardEntry]] = {"mnist": MNIST_ENTRIES, "toy2d": TOY_ENTRIES}
DEFAULT_BUDGET = {"mnist": 1.5, "toy2d": 0.25}  # CPU-minutes of training per (entry, data set, seed)
TOY_SETS = ("ring8", "grid25", "8gaussians", "moons", "circles", "swissroll", "checkerboard", "pinwheel", "2spirals")


@dataclass(frozen=True)
class BoardRun:
    """One (entry, data set, seed) of a board, with the budget in CPU-minutes: what a child process executes."""

    board: str
    data: str
    entry: BoardEntry
    seed: int
    budget: float

    def key(self) -> str:
        """A digest of everything that decides the result (reuse only when it matches)."""
        doc = json.dumps({"protocol": PROTOCOL, **asdict(self)}, sort_keys=True, default=str)
        return hashlib.sha256(doc.encode()).hexdigest()[:16]

    @property
    def name(self) -> str:
        return self.entry.name if self.board == "mnist" else f"{self.data}/{self.entry.name}"


def select_entries(board: str, families: Sequence[str] | None = None) -> list[BoardEntry]:
    """The board's entries, restricted to `families` (registry family names or entry / model names)."""
    from genzoo.models import families as all_families
    from genzoo.models import get_class

    if board not in BOARDS:
        raise unknown_name("leaderboard", board, list(BOARDS))
    entries = BOARDS[board]
    if not families:
        return list(entries)
    known = set(all_families()) | {e.name for e in entries} | {e.model for e in entries}
    for f in families:
        if f not in known:
            raise unknown_name("family or model name", f, sorted(known))
    chosen = [e for e in entries if e.name in families or e.model in families
              or get_class(e.model).family in families]
    if not chosen:
        raise ConfigError(f"leaderboard --data {board}: none of {', '.join(families)} has an entry on this board "
                          f"(entries: {', '.join(e.name for e in entries)})")
    return chosen


def plan(board: str, families: Sequence[str] | None = None, budget: float | None = None,
         seeds: Sequence[int] = (0,), sets: Sequence[str] | None = None) -> list[BoardRun]:
    """Every run of the board, validated before any trains (ConfigError, one line)."""
    budget = DEFAULT_BUDGET.get(board, 1.0) if budget is None else float(budget)
    if not budget > 0:
        raise ConfigError(f"leaderboard: --budget must be > 0 CPU-minutes, got {budget}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("leaderboard: give at least one seed")
    entries = select_entries(board, families)
    if board == "mnist":
        datas = ["mnist"]
    else:
        datas = list(sets or TOY_SETS)
        for s in datas:
            if s not in TOY_SETS:
                raise unknown_name("toy 2-D data set", s, TOY_SETS)
    return [BoardRun(board, d, e, s, budget) for d in datas for e in entries for s in seeds]


# --------------------------------------------------------------------------------------------------- one run ---
def _machine() -> str:
    from genzoo.provenance import machine

    return machine()


def _peak_mib() -> float:
    import resource

    import torch

    if torch.cuda.is_available():
        return round(torch.cuda.max_memory_allocated() / 2**20, 1)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # kilobytes on Linux, bytes on macOS
    return round(rss / (2**20 if sys.platform == "darwin" else 2**10), 1)


def _train(run: BoardRun, folder: Path):
    """(trainer, training CPU seconds, wall seconds): the entry trained until its CPU budget is spent."""
    import time

    import torch

    from genzoo.models import create
    from genzoo.train import Trainer, make_train_config
    from genzoo.train.run import fill_model_config, get_data

    data = get_data(run.data, "train")
    cfg = fill_model_config(run.entry.model, dict(run.entry.config), data, run.data)
    torch.manual_seed(run.seed)
    model = create(run.entry.model, **cfg)
    train = {"steps": 10**7, "seed": run.seed, "progress": False, "log_every": 100, "eval_every": 0,
             "sample_every": 0, "ckpt_every": 0, **run.entry.train}
    trainer = Trainer(model, data, make_train_config(train), out_dir=folder)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    chunk = 10
    while time.process_time() - cpu0 < 60.0 * run.budget:
        trainer.fit(stop_at=trainer.step + chunk)
        chunk = min(200, chunk * 2)
    return trainer, time.process_time() - cpu0, time.perf_counter() - wall0


def _likelihood(run: BoardRun, model, test) -> dict[str, Any] | None:
    from genzoo.data import binarize
    from genzoo.eval.likelihood import evaluate_likelihood
    from genzoo.train import isolated_rng

    e = run.entry
    if e.nll is None or model.likelihood == "none":
        return None
    n = min(len(test.x), e.eval_examples)
    x, y = test.x[:n], (test.y[:n] if test.y is not None else None)
    if e.nll == "nats":
        x = binarize(x, "static", seed=BINARIZE_SEED)
    with isolated_rng(run.seed, model.device):
        r = evaluate_likelihood(model, (x, y), batch_size=100, **e.eval_kwargs)
    out = {"kind": e.nll_kind or model.likelihood, "note": e.nll_note, "n": r["n"]}
    if e.nll == "bpd":
        out.update(value=r["bpd"], se=r["bpd_sem"], unit="bits/dim")
    else:
        out.update(value=r["nll"], se=r["nll_sem"], unit="nats/example")
    if e.nll == "points":
        from genzoo.data.toy import toy2d_entropy

        floor = toy2d_entropy(run.data)
        out["floor"] = floor
        out["gap"] = None if floor is None else out["value"] - floor
    return out


def _cas(run: BoardRun, model, samples, labels, test) -> dict[str, Any] | None:
    """Class-conditional models on MNIST: CAS of the labelled samples, beside the same classifier trained on as many
    real training images (genzoo.eval.cas)."""
    if not model.conditional or run.board != "mnist":
        return None
    from genzoo.eval import classification_accuracy_score, real_data_accuracy
    from genzoo.train.run import get_data

    train = get_data(run.data, "train")
    r = classification_accuracy_score(samples, labels, test.x, test.y, steps=CAS_STEPS, seed=run.seed)
    real = real_data_accuracy(train.x[:len(samples)], train.y[:len(samples)], test.x, test.y, steps=CAS_STEPS,
                              seed=run.seed)
    return {**r, "real_accuracy": real["accuracy"]}


def run_entry(run: BoardRun, folder: str | os.PathLike, pictures: str | os.PathLike | None = None) -> dict[str, Any]:
    """Train, evaluate and sample one run; returns its record (also the grid / scatter PNG under `pictures`)."""
    import time

    import torch

    from genzoo.eval import sample_metrics
    from genzoo.train import isolated_rng
    from genzoo.train.plots import save_samples
    from genzoo.train.run import load_eval_data

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    where = _machine()  # with the load average at the start of the run
    trainer, cpu_s, wall_s = _train(run, folder)
    model = trainer.model
    test = load_eval_data(run.data, {}, quiet=True)
    rec: dict[str, Any] = {
        "board": run.board, "data": run.data, "entry": run.entry.name, "model": run.entry.model,
        "family": model.family, "likelihood": model.likelihood, "seed": run.seed, "budget_cpu_minutes": run.budget,
        "steps": trainer.step, "train_cpu_seconds": round(cpu_s, 1), "train_wall_seconds": round(wall_s, 1),
        "parameters": sum(p.numel() for p in model.parameters()), "config": run.entry.config,
        "train": run.entry.train, "key": run.key(), "protocol": PROTOCOL,
    }
    with trainer.eval_weights():
        model.eval()
        rec["nll"] = _likelihood(run, model, test)
        labels = model.sample_labels(N_SAMPLES) if model.conditional else None
        t0 = time.perf_counter()
        with isolated_rng(10_000 + run.seed, model.device), torch.no_grad():
            samples = torch.cat([model.sample(min(500, N_SAMPLES - i), None if labels is None else
                                              labels[i:i + 500].to(model.device), **run.entry.sample_kwargs).cpu()
                                 for i in range(0, N_SAMPLES, 500)])
        rec["sample_seconds"] = round(time.perf_counter() - t0, 2)
    ref_n = MNIST_REFERENCE if run.board == "mnist" else TOY_REFERENCE
    reference = test.x[:ref_n]
    samples = samples.float()
    finite = torch.isfinite(samples.flatten(1)).all(1)
    rec["nonfinite_samples"] = int((~finite).sum())  # dropped before scoring, and said so in the table
    if rec["nonfinite_samples"]:
        samples = samples[finite]
        labels = None if labels is None else labels[finite.to(labels.device)]
    if len(samples) < 10:
        raise ValueError(f"{rec['nonfinite_samples']} of {N_SAMPLES} samples are NaN or inf: nothing to score")
    if run.board == "mnist":
        samples = samples.clamp(0, 1)
    rec["metrics"] = sample_metrics(samples, reference, reference_name=f"{run.data} test split ({len(reference)})",
                                    dataset=run.data, seed=run.seed)
    rec["cas"] = _cas(run, model, samples, labels, test)
    if pictures is not None:
        name = run.name.replace("/", "_")
        kind = "image" if samples.dim() == 4 else "points"
        path = save_samples(samples[:64] if kind == "image" else samples, Path(pictures) / f"{name}.png", kind,
                            reference=None if kind == "image" else reference[:2000])
        rec["picture"] = str(path)
    rec["peak_memory_mib"] = _peak_mib()
    rec["machine"] = where
    rec["date"] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")
    return rec


# ----------------------------------------------------------------------------------------------- the board ---
def _spec(run: BoardRun) -> dict[str, Any]:
    return {"board": run.board, "data": run.data, "entry": asdict(run.entry), "seed": run.seed, "budget": run.budget}


def run_from_spec(spec: dict[str, Any]) -> BoardRun:
    return BoardRun(spec["board"], spec["data"], BoardEntry(**spec["entry"]), int(spec["seed"]), float(spec["budget"]))


def _run_isolated(run: BoardRun, folder: Path, pictures: Path, timeout: float) -> dict[str, Any]:
    """run_entry in a child process (python -m genzoo.lab.board_job); a failure becomes a record with its error."""
    from genzoo.io import atomic_write_bytes

    folder.mkdir(parents=True, exist_ok=True)
    spec, out = folder / "spec.json", folder / "record.json"
    atomic_write_bytes(spec, json.dumps({"run": _spec(run), "pictures": str(pictures)}).encode())
    try:
        p = subprocess.run([sys.executable, "-m", "genzoo.lab.board_job", str(spec), str(out)], capture_output=True,
                           text=True, timeout=timeout)
        err = (p.stderr.strip().splitlines() or [f"exit code {p.returncode}"])[-1] if p.returncode else None
    except subprocess.TimeoutExpired:
        err = f"did not finish within {timeout:.0f} s"
    if err is None and out.is_file():
        return json.loads(out.read_text())
    return {"board": run.board, "data": run.data, "entry": run.entry.name, "model": run.entry.model,
            "seed": run.seed, "budget_cpu_minutes": run.budget, "key": run.key(), "error": err or "no record"}


def _reusable(folder: Path, run: BoardRun) -> dict[str, Any] | None:
    path = folder / "record.json"
    if not path.is_file():
        return None
    try:
        rec = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    return rec if rec.get("key") == run.key() and "error" not in rec else None


def leaderboard(board: str, *, families: Sequence[str] | None = None, budget: float | None = None,
                seeds: Sequence[int] = (0,), sets: Sequence[str] | None = None, out: str | os.PathLike = "docs",
                runs: str | os.PathLike = "runs/leaderboard", isolate: bool = True, timeout: float | None = None,
                command: str = "", progress: bool = True, log: Callable[[str], None] | None = None
                ) -> list[dict[str, Any]]:
    """Train (or reuse), evaluate and tabulate every run of `board`; returns this call's records.

    The records are merged into `<out>/leaderboard.json` (keyed by board, data set, entry and seed) after every
    run, so an interrupted board keeps what finished and a second call continues where it stopped; then
    `<out>/leaderboard.md` and the plots are rewritten from the whole store."""
    from tqdm.auto import tqdm

    from genzoo.lab.leaderboard_report import merge_records, write_report

    runs_plan = plan(board, families, budget, seeds, sets)
    out, runs = Path(out), Path(runs)
    pictures = out / "leaderboard" / board
    timeout = timeout or max(900.0, 60.0 * 8 * runs_plan[0].budget + 1800.0)
    records = []
    bar = tqdm(runs_plan, desc=f"leaderboard {board}", unit="run", disable=not progress)
    for run in bar:
        bar.set_postfix_str(run.name)
        folder = runs / board / f"{run.name.replace('/', '_')}-s{run.seed}"
        rec = _reusable(folder, run)
        reused = rec is not None
        if rec is None:
            if isolate:
                rec = _run_isolated(run, folder, pictures, timeout)
            else:
                try:
                    rec = run_entry(run, folder, pictures)
                except Exception as e:  # noqa: BLE001  a failed family is a row with its error
                    rec = {"board": run.board, "data": run.data, "entry": run.entry.name, "model": run.entry.model,
                           "seed": run.seed, "key": run.key(), "error": f"{type(e).__name__}: {e}".splitlines()[0]}
                from genzoo.io import atomic_write_bytes

                atomic_write_bytes(folder / "record.json", json.dumps(rec, indent=1, default=str).encode())
        rec["command"] = command
        records.append(rec)
        merge_records(out / "leaderboard.json", [rec])
        if log is not None:
            log(f"{run.name} seed {run.seed}: " + ("reused" if reused else ("failed: " + rec["error"])
                                                    if "error" in rec else "done"))
    write_report(out)
    return records


__all__ = ["BOARDS", "DEFAULT_BUDGET", "MNIST_ENTRIES", "N_SAMPLES", "PROTOCOL", "TOY_ENTRIES", "TOY_SETS",
           "BoardEntry", "BoardRun", "leaderboard", "plan", "run_entry", "run_from_spec", "select_entries"]
