"""Diagnostics of the failure modes of training: posterior collapse, mode collapse, vanishing gradients and
discriminator over-confidence, and what likelihood says about out-of-distribution data.

Each diagnostic is a function of a model (and data) that returns plain numbers, and a Trainer callback
(`Monitor` subclasses, passed through `Trainer(..., callbacks=[...])`) that records it over training into
`RUN/diagnostics/<name>.jsonl`. The callbacks read only the model's declarations (`capabilities`, `players()`,
`likelihood`); the Trainer has no branch for them. Every measurement runs with isolated RNGs and restores the
model's buffers and train/eval mode, so a monitored run trains exactly like an unmonitored one.

Formulas and sources:

- Posterior collapse (a Gaussian encoder q(z | x) = N(mu(x), diag sigma^2(x)) against the prior N(0, I)):
  per-dimension KL, averaged over the data, KL_d = E_x[ 1/2 (mu_d^2 + sigma_d^2 - log sigma_d^2 - 1) ] (Kingma and
  Welling 2014, appendix B); the activity of a unit A_d = Cov_x(E_{q(z|x)}[z_d]) = Var_x(mu_d(x)), active when
  A_d > 0.01 (Burda, Grosse and Salakhutdinov 2016, sec. 5.2). A collapsed dimension has q(z_d | x) = p(z_d) for
  every x: KL_d = 0 and A_d = 0.
- Vanishing gradients of the generator (Goodfellow et al. 2014, sec. 3; Arjovsky and Bottou 2017, sec. 2.2): with
  D = sigmoid(l), the saturating (minimax) generator loss E_z log(1 - D(G(z))) = -E_z softplus(l) has
  dL/dl = -D(G(z)), which vanishes when D rejects the fakes; the non-saturating loss -E_z log D(G(z)) =
  E_z softplus(-l) has dL/dl = -(1 - D(G(z))), which does not. `generator_gradients` measures the norm of both
  gradients with respect to the generator's parameters at the same z, whatever loss the model trains with.
- Per-layer gradient norms: ||d loss_player / d theta_layer||_2 for every player of any model, on one batch.
- Out-of-distribution by likelihood (Nalisnick et al. 2019, "Do deep generative models know what they don't
  know?"): bits/dim of held-out data against shifted sets, and the AUROC of -bits/dim as an in-distribution score
  (1: likelihood separates them; 0.5: it cannot; < 0.5: the shifted set is judged *more* likely).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.errors import ConfigError, DataError

ACTIVE_THRESHOLD = 0.01  # Burda et al. 2016


def _name(model) -> str:
    return getattr(model, "name", "") or type(model).__name__


def require(model, *caps: str, what: str) -> None:
    """ConfigError naming the capabilities `what` needs and the model (an instance or its class) lacks."""
    missing = set(caps) - set(getattr(model, "capabilities", ()))
    if missing:
        raise ConfigError(f"{_name(model)}: {what} needs the {' and '.join(caps)} capabilit"
                          f"{'y' if len(caps) == 1 else 'ies'}; the model lacks {', '.join(sorted(missing))}")


@contextlib.contextmanager
def preserved(model, seed: int = 0, mode: str = "eval") -> Iterator[None]:
    """Run a measurement without changing training: seeded, isolated RNGs; the model's buffers (BatchNorm
    statistics, ActNorm flags, replay buffers) copied back afterwards; `mode` ("eval" or "train") set inside and the
    previous mode restored."""
    from genzoo.train import isolated_rng

    buffers = {k: b.detach().clone() for k, b in model.named_buffers()}
    was_training = model.training
    model.train(mode == "train")
    device = next((p.device for p in model.parameters()), torch.device("cpu"))
    try:
        with isolated_rng(seed, device):
            yield
    finally:
        with torch.no_grad():
            for k, b in model.named_buffers():
                if k in buffers and b.shape == buffers[k].shape:
                    b.copy_(buffers[k])
        model.train(was_training)


def _batches(x: Tensor, batch_size: int) -> Iterator[slice]:
    for i in range(0, len(x), batch_size):
        yield slice(i, i + batch_size)


# ---- posterior collapse -------------------------------------------------------------------------------------------
def gaussian_kl_per_dim(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, e^logvar) || N(0, 1)) per example and dimension: 1/2 (mu^2 + e^logvar - logvar - 1)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1.0)


@torch.no_grad()
def posterior_stats(model, x: Tensor, condition: Tensor | None = None, threshold: float = ACTIVE_THRESHOLD,
                    batch_size: int = 500) -> dict[str, Any]:
    """Posterior-collapse statistics of an encoder on data x (module docstring): per-dimension activity
    Var_x(mu_d(x)) and active units (activity > threshold); for a N(0, I) prior (the "latent" capability) also the
    per-dimension KL averaged over x and its total, nats. Returns lists ordered by latent dimension."""
    require(model, "encode", what="posterior_stats")
    if len(x) < 2:
        raise DataError("posterior_stats: give at least 2 examples (the activity is a variance over the data)")
    mus, kls = [], []
    gaussian = "latent" in model.capabilities
    for s in _batches(x, batch_size):
        c = None if condition is None else condition[s].to(model.device)
        mu, logvar = model.encode(x[s].to(model.device), c)
        mus.append(mu.double().cpu())
        if gaussian:
            kls.append(gaussian_kl_per_dim(mu.double(), logvar.double()).sum(0).cpu())
    mu = torch.cat(mus)
    activity = mu.var(0, unbiased=True)
    out: dict[str, Any] = {"n": len(mu), "latent_dim": mu.shape[1], "threshold": threshold,
                           "activity": activity.tolist(), "active_units": int((activity > threshold).sum())}
    if gaussian:
        kl = torch.stack(kls).sum(0) / len(mu)
        out["kl_per_dim"] = kl.tolist()
        out["kl"] = float(kl.sum())
    return out


# ---- mode collapse ------------------------------------------------------------------------------------------------
def mode_coverage(model, dataset: str, n: int = 2500, batch_size: int = 500) -> dict[str, Any]:
    """Mode coverage of n samples: modes covered, % high quality and reverse KL for the toy mixtures and stacked
    MNIST (`genzoo.eval.mode_stats`), classes covered, their KL to uniform and the mean confidence for MNIST
    digits (`genzoo.eval.mnist_scores`)."""
    from genzoo.eval.modes import STACKED, TOY_SETS, mode_stats

    s = _draw(model, n, batch_size)
    if dataset in TOY_SETS or dataset in STACKED:
        r = mode_stats(s, dataset)
        return {"n": r["n_samples"], "modes_covered": r["modes_covered"], "n_modes": r["n_modes"],
                "high_quality_pct": r.get("high_quality_pct"), "reverse_kl": r["reverse_kl"]}
    if dataset == "mnist":
        from genzoo.eval import mnist_scores

        r = mnist_scores(s.clamp(0, 1))
        return {"n": r["n"], "modes_covered": r["classes_covered"], "n_modes": 10,
                "reverse_kl": r["class_kl_to_uniform"], "mean_confidence": r["mean_confidence"]}
    raise ConfigError(f"mode_coverage: no modes are defined for {dataset!r}; it works on {', '.join(TOY_SETS)}, "
                      f"{STACKED[0]} and mnist")


@torch.no_grad()
def _draw(model, n: int, batch_size: int = 500) -> Tensor:
    out = []
    for i in range(0, n, batch_size):
        out.append(model.sample(min(batch_size, n - i)).detach().float().cpu())
    s = torch.cat(out)
    return s[torch.isfinite(s.flatten(1)).all(1)]


# ---- gradients ----------------------------------------------------------------------------------------------------
def layer_of(param_name: str) -> str:
    """The layer a parameter belongs to: its module path ("generator.net.0.weight" -> "generator.net.0")."""
    return param_name.rsplit(".", 1)[0] if "." in param_name else param_name


def gradient_norms(model, batch, players: Sequence[str] | None = None) -> dict[str, dict[str, float]]:
    """||d loss_p / d theta_layer||_2 for every player p (default: all of `model.players()`) and every layer (module
    path) holding p's parameters, on one batch; the gradients are taken with torch.autograd.grad, so the
    parameters' .grad fields are left as they were. Returns {player: {layer: norm, "total": norm}}."""
    from genzoo.models import Batch

    if not isinstance(batch, Batch):
        batch = Batch(*batch) if isinstance(batch, tuple) else Batch(batch)
    batch = batch.to(model.device)
    groups = model.players()
    names = {id(p): n for n, p in model.named_parameters()}
    out: dict[str, dict[str, float]] = {}
    for player in players or list(groups):
        if player not in groups:
            raise ConfigError(f"gradient_norms: {_name(model)} has no player {player!r}; players: "
                              f"{', '.join(groups)}")
        params = [p for p in groups[player] if p.requires_grad]
        loss = model.loss(batch, player)["loss"]
        grads = torch.autograd.grad(loss, params, allow_unused=True)
        sq: dict[str, float] = {}
        for p, g in zip(params, grads, strict=True):
            if g is not None:
                layer = layer_of(names.get(id(p), "?"))
                sq[layer] = sq.get(layer, 0.0) + float(g.detach().double().pow(2).sum())
        out[player] = {k: math.sqrt(v) for k, v in sq.items()}
        out[player]["total"] = math.sqrt(sum(sq.values()))
    return out


def _generator_params(model, z: Tensor) -> list[torch.nn.Parameter]:
    """The parameters that decode(z) depends on (the generator's), found by autograd rather than by name."""
    params = [p for p in model.parameters() if p.requires_grad]
    x = model.decode(z)
    grads = torch.autograd.grad(x.float().sum(), params, allow_unused=True)
    return [p for p, g in zip(params, grads, strict=True) if g is not None]


def generator_gradients(model, n: int = 256, condition: Tensor | None = None) -> dict[str, float]:
    """The generator's gradient norm under the saturating loss E log(1 - D(G(z))) and the non-saturating loss
    -E log D(G(z)) at the same z ~ N(0, I) (module docstring), with D = sigmoid of the discriminator's output, and
    the mean D(G(z)). Needs the "decode", "latent" and "discriminate" capabilities (the GANs, VAE-GAN)."""
    require(model, "decode", "latent", "discriminate", what="generator_gradients")
    z = torch.randn(n, model.config.latent_dim, device=model.device)
    gen = _generator_params(model, z)
    logit = model.discriminate(model.decode(z, condition), condition).reshape(-1)  # (n / pack,) when packed
    saturating = -F.softplus(logit).mean()       # E log(1 - sigmoid(l)) = -E softplus(l)
    non_saturating = F.softplus(-logit).mean()   # -E log sigmoid(l) = E softplus(-l)
    norms = {}
    for key, loss in (("saturating", saturating), ("non_saturating", non_saturating)):
        g = torch.autograd.grad(loss, gen, retain_graph=True, allow_unused=True)
        norms[key] = math.sqrt(sum(float(t.double().pow(2).sum()) for t in g if t is not None))
    return {**norms, "d_fake": float(torch.sigmoid(logit.detach()).mean()), "n": n}


@torch.no_grad()
def discriminator_outputs(model, x_real: Tensor, n: int | None = None, condition: Tensor | None = None,
                          batch_size: int = 500) -> dict[str, Tensor]:
    """The discriminator's raw outputs on real data and on as many generated samples: {"real", "fake"} (N,)
    tensors. For a logistic discriminator D = sigmoid(output); a critic's (WGAN) outputs are unbounded scores."""
    require(model, "discriminate", what="discriminator_outputs")
    n = n or len(x_real)
    x_real = x_real[:n]
    real = torch.cat([model.discriminate(x_real[s].to(model.device), None if condition is None else condition[s])
                      .reshape(-1).cpu() for s in _batches(x_real, batch_size)])
    fake = _draw(model, n, batch_size)
    fake = torch.cat([model.discriminate(fake[s].to(model.device)).reshape(-1).cpu()
                      for s in _batches(fake, batch_size)])
    return {"real": real.float(), "fake": fake.float()}


def discriminator_summary(outputs: Mapping[str, Tensor], logistic: bool = True) -> dict[str, float]:
    """Mean D(x), mean D(G(z)) and the fraction of samples D is over-confident on (D > 0.99 on real, < 0.01 on
    fake) for a logistic discriminator; means of the raw scores for a critic."""
    real, fake = outputs["real"].double(), outputs["fake"].double()
    if not logistic:
        return {"critic_real": float(real.mean()), "critic_fake": float(fake.mean()),
                "critic_gap": float(real.mean() - fake.mean())}
    dr, df = torch.sigmoid(real), torch.sigmoid(fake)
    return {"d_real": float(dr.mean()), "d_fake": float(df.mean()),
            "confident_real": float((dr > 0.99).double().mean()), "confident_fake": float((df < 0.01).double().mean())}


def is_logistic(model) -> bool:
    """Whether the discriminator's output is a logit (D = sigmoid) rather than a critic's score (WGAN)."""
    loss = getattr(getattr(model, "config", None), "loss", "")
    return not str(loss).startswith("wgan")


# ---- likelihood and out-of-distribution data ----------------------------------------------------------------------
def shifted_sets(x: Tensor, seed: int = 0) -> dict[str, Tensor]:
    """Out-of-distribution versions of images x in [0, 1]: "inverted" (1 - x), "noise" (uniform pixels) and
    "flipped" (upside down), the same number and shape."""
    if x.dim() != 4:
        raise DataError(f"shifted_sets: images (N, C, H, W) expected, got shape {tuple(x.shape)}")
    g = torch.Generator().manual_seed(seed)
    return {"inverted": 1.0 - x, "noise": torch.rand(x.shape, generator=g),
            "flipped": torch.flip(x, dims=(-2,))}


def roc_auc(score_in: Tensor, score_out: Tensor) -> float:
    """Area under the ROC curve of `score` separating in-distribution (positives) from the rest: the probability
    that an in-distribution example scores higher than an out-of-distribution one (ties count 1/2)."""
    from sklearn.metrics import roc_auc_score

    y = torch.cat([torch.ones(len(score_in)), torch.zeros(len(score_out))]).numpy()
    s = torch.cat([score_in.double(), score_out.double()]).numpy()
    return float(roc_auc_score(y, s))


@torch.no_grad()
def likelihood_ood(model, x_in: Tensor, shifted: Mapping[str, Tensor] | None = None, batch_size: int = 250,
                   seed: int = 0) -> dict[str, Any]:
    """Bits/dim of held-out data x_in and of each shifted set (default `shifted_sets(x_in)`), and the AUROC of
    -bits/dim as an in-distribution score per shifted set (module docstring). Needs a likelihood."""
    if getattr(model, "likelihood", "none") == "none":
        raise ConfigError(f'{_name(model)}: likelihood_ood needs a likelihood (the model declares likelihood = "none")')
    shifted = dict(shifted) if shifted is not None else shifted_sets(x_in, seed)

    def bpd(x: Tensor) -> Tensor:
        return torch.cat([model.bits_per_dim(x[s].to(model.device)).detach().double().cpu()
                          for s in _batches(x, batch_size)])

    ref = bpd(x_in)
    out: dict[str, Any] = {"in": ref}
    aurocs = {}
    for name, x in shifted.items():
        b = bpd(x)
        out[name] = b
        ok_in, ok_out = torch.isfinite(ref), torch.isfinite(b)
        aurocs[name] = roc_auc(-ref[ok_in], -b.clamp(max=1e6)[ok_out]) if ok_out.any() else 1.0
    out["auroc"] = aurocs
    return out


# ---- callbacks ----------------------------------------------------------------------------------------------------
class Monitor:
    """A Trainer callback `f(trainer, record)` that measures something every `every` training steps (at the
    Trainer's log steps; also at the first one), keeps the measurements in `history` and, for a run with a folder,
    appends them to `RUN/diagnostics/<name>.jsonl`. Subclasses implement `measure(model) -> dict`."""

    name = "monitor"
    mode = "eval"

    def __init__(self, every: int = 100, seed: int = 0):
        if every < 1:
            raise ConfigError(f"{type(self).__name__}: every must be >= 1, got {every}")
        self.every, self.seed = int(every), int(seed)
        self.history: list[dict[str, Any]] = []
        self._last: int | None = None

    def measure(self, model) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, trainer, record: Mapping[str, Any]) -> None:
        if not getattr(trainer, "is_main", True):
            return  # data-parallel: rank 0 measures and writes (the model is the same on every rank)
        step = int(trainer.step)
        if self._last is not None and step - self._last < self.every:
            return
        self._last = step
        with preserved(trainer.model, self.seed + step, self.mode):
            rec = {"step": step, **self.measure(trainer.model)}
        self.history.append(rec)
        if trainer.out_dir is not None:
            path = Path(trainer.out_dir) / "diagnostics" / f"{self.name}.jsonl"
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "a") as f:
                f.write(json.dumps(rec) + "\n")


class PosteriorCollapseMonitor(Monitor):
    """Active units and per-dimension KL (`posterior_stats`) of held-out data x over training."""

    name = "posterior"

    def __init__(self, x: Tensor, every: int = 100, condition: Tensor | None = None, **kw: Any):
        super().__init__(every, **kw)
        self.x, self.condition = x, condition

    def measure(self, model) -> dict[str, Any]:
        return posterior_stats(model, self.x, self.condition)


class ModeMonitor(Monitor):
    """Modes covered, % high quality and reverse KL (`mode_coverage`) over training."""

    name = "modes"

    def __init__(self, dataset: str, n: int = 2500, every: int = 100, **kw: Any):
        super().__init__(every, **kw)
        self.dataset, self.n = dataset, n

    def measure(self, model) -> dict[str, Any]:
        return mode_coverage(model, self.dataset, self.n)


class GradientMonitor(Monitor):
    """Per-layer gradient norms of every player (`gradient_norms`) on one fixed batch, over training."""

    name = "gradients"
    mode = "train"

    def __init__(self, x: Tensor, y: Tensor | None = None, every: int = 100, **kw: Any):
        super().__init__(every, **kw)
        self.x, self.y = x, y

    def measure(self, model) -> dict[str, Any]:
        from genzoo.models import Batch

        return {"norms": gradient_norms(model, Batch(self.x, self.y))}


class GANMonitor(Monitor):
    """The generator's gradient norm under the saturating and non-saturating losses (`generator_gradients`) and
    the discriminator's outputs on real and generated data (`discriminator_summary`), over training."""

    name = "gan"
    mode = "train"

    def __init__(self, x: Tensor, n: int = 256, every: int = 100, **kw: Any):
        super().__init__(every, **kw)
        self.x, self.n = x, n

    def measure(self, model) -> dict[str, Any]:
        rec = generator_gradients(model, self.n)
        with torch.no_grad():
            outs = discriminator_outputs(model, self.x, self.n)
        return {**rec, **discriminator_summary(outs, is_logistic(model))}


MONITORS = {"posterior": ("encode",), "modes": (), "gradients": (), "gan": ("decode", "latent", "discriminate")}


def check_monitors(model, names: Sequence[str], dataset: str) -> None:
    """ConfigError (one line) for a name not in MONITORS or one that does not apply to `model` (an instance or its
    class: a missing capability) and `dataset` (no known modes)."""
    from genzoo.errors import unknown_name
    from genzoo.eval.modes import STACKED, TOY_SETS

    for name in names:
        if name not in MONITORS:
            raise unknown_name("diagnostic", name, tuple(MONITORS))
        if MONITORS[name]:
            require(model, *MONITORS[name], what=f"the {name} diagnostic")
        if name == "modes" and dataset not in (*TOY_SETS, *STACKED, "mnist"):
            raise ConfigError(f"the modes diagnostic needs a data set with known modes ({', '.join(TOY_SETS)}, "
                              f"{STACKED[0]}, mnist), not {dataset}")


def monitors_for(model, names: Sequence[str], train_x: Tensor, train_y: Tensor | None, eval_x: Tensor | None,
                 dataset: str, every: int = 100) -> list[Monitor]:
    """The callbacks named in `names` (of MONITORS) for `model` and its data (`check_monitors` first): posterior and
    gan on up to 1,000 / 256 held-out examples (training ones without a held-out split), gradients on the first 64
    training examples, modes on 2,500 samples."""
    check_monitors(model, names, dataset)
    ref = eval_x if eval_x is not None else train_x
    out: list[Monitor] = []
    for name in names:
        if name == "posterior":
            out.append(PosteriorCollapseMonitor(ref[:1000], every))
        elif name == "modes":
            out.append(ModeMonitor(dataset, every=every))
        elif name == "gradients":
            n = min(64, len(train_x))
            y = train_y[:n] if train_y is not None and getattr(model, "conditional", False) else None
            out.append(GradientMonitor(train_x[:n], y, every))
        elif name == "gan":
            out.append(GANMonitor(ref[:256], every=every))
    return out


def read_history(run_dir: str | os.PathLike, name: str) -> list[dict[str, Any]]:
    """The records of RUN/diagnostics/<name>.jsonl, one per step (a resumed run's repeated steps: the last one)."""
    path = Path(run_dir) / "diagnostics" / f"{name}.jsonl"
    if not path.is_file():
        return []
    by_step: dict[int, dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        try:
            rec = json.loads(line)
        except ValueError:
            continue  # a line cut by an interrupt
        by_step[int(rec.get("step", -1))] = rec
    return [by_step[k] for k in sorted(by_step)]


__all__ = ["ACTIVE_THRESHOLD", "GANMonitor", "GradientMonitor", "MONITORS", "ModeMonitor", "Monitor",
           "PosteriorCollapseMonitor", "check_monitors", "discriminator_outputs", "discriminator_summary",
           "gaussian_kl_per_dim", "generator_gradients", "gradient_norms", "is_logistic", "layer_of",
           "likelihood_ood", "mode_coverage", "monitors_for", "posterior_stats", "preserved", "read_history",
           "require", "roc_auc", "shifted_sets"]
