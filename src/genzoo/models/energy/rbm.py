"""Restricted Boltzmann machines, `rbm` (docs/models/energy.md, "RBMs and DBNs").

A Bernoulli-Bernoulli RBM over visible v in {0,1}^D and hidden h in {0,1}^H has the energy and free energy
(Hinton 2002; Hinton 2010, "A practical guide", sec. 2)

    E(v, h) = -b^T v - c^T h - v^T W h,      F(v) = -log sum_h e^{-E(v, h)} = -b^T v - sum_j softplus(c_j + v^T W_j)

and a Gaussian-Bernoulli RBM (real v, fixed standard deviation sigma; Hinton & Salakhutdinov 2006, Cho et al. 2011)

    E(v, h) = |v - b|^2 / (2 sigma^2) - c^T h - (v / sigma)^T W h,
    F(v) = |v - b|^2 / (2 sigma^2) - sum_j softplus(c_j + (v / sigma)^T W_j),

with p(v) = e^{-F(v)} / Z. The conditionals factorise: p(h_j = 1 | v) = sigmoid(c_j + (v / sigma)^T W_j) and
p(v_i = 1 | h) = sigmoid(b_i + W_i h) (Bernoulli) or v | h ~ N(b + sigma W h, sigma^2 I) (Gaussian), so block
Gibbs sampling alternates h ~ p(h | v), v ~ p(v | h).

Training. d log p(v) / d theta = -dF(v)/d theta + E_model[dF/d theta]. Contrastive divergence (CD-k, Hinton 2002)
replaces the model expectation with v_k, k Gibbs steps from the data; persistent CD (PCD, Tieleman 2008) continues
persistent chains across updates instead. Both are the gradient of the surrogate loss

    L = mean F(v_data) - mean F(stop_gradient(v_model)),

so the one Trainer's optimiser settings (SGD momentum, weight decay) apply unchanged. The persistent chains are
a registered buffer, and the sampler's random stream is a (seed, counter) buffer, so a resumed run is bit-exact.

Partition function by annealed importance sampling (Salakhutdinov & Murray 2008, sec. 4). The base-rate RBM has
W = 0, c = 0 and visible biases a from the data's marginals (logit of the clipped mean; Gaussian: the mean), or
a = 0; log Z_A = H log 2 + sum_i softplus(a_i) (Gaussian: H log 2 + D/2 log(2 pi sigma^2)). The geometric path
f_beta(v) = f_A(v)^{1 - beta} f_B(v)^beta is itself an RBM (visible bias (1 - beta) a + beta b, hidden bias
beta c, weights beta W), which gives the Gibbs transition at every beta; `genzoo.math.ais` does the rest.
log p(v) = -F(v) - log Z is exact up to the AIS estimate of log Z, computed once per parameter version.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.data.transforms import binarize, dequantize
from genzoo.errors import ConfigError, DataError
from genzoo.math.ais import annealed_importance_sampling, geometric_betas
from genzoo.models.base import Batch, GenerativeModel, ModelConfig
from genzoo.models.registry import register

BASE_RATE_CLIP = 1e-3  # base-rate marginals are clipped to [clip, 1 - clip] before the logit
_MASK63 = (1 << 63) - 1


@dataclass
class EnergyTrainingConfig(ModelConfig):
    """Fields shared by `rbm` and `dbn`.

    binarize: "dynamic" v ~ Bernoulli(x) at every call (already-binary data unchanged), "threshold" 1[x > 0.5],
    "none" x as given (Bernoulli visibles only). cd: "cd" (CD-k from the data) | "pcd" (persistent chains);
    k: Gibbs steps per update; chains: number of persistent chains. init_std: std of the initial weights
    N(0, init_std^2); init_from_data: on the first training batch set the visible biases to the logit of the
    batch's marginals (Hinton 2010, sec. 8) and start the persistent chains from the batch.
    ais_betas: AIS intervals (the paper uses 14,500; geometric_betas keeps its proportions), ais_runs: AIS runs,
    ais_base: "data" (base-rate visible biases from the training marginals) | "zero", ais_seed: seed of the AIS
    runs (log Z is a deterministic function of the parameters). sample_steps: Gibbs steps of `sample`.
    """

    data_shape: tuple[int, ...] = (1, 28, 28)
    binarize: Literal["dynamic", "threshold", "none"] = "dynamic"
    cd: Literal["cd", "pcd"] = "pcd"
    k: int = 1
    chains: int = 100
    init_std: float = 0.01
    init_from_data: bool = True
    ais_betas: int = 1000
    ais_runs: int = 100
    ais_base: Literal["data", "zero"] = "data"
    ais_seed: int = 0
    sample_steps: int = 1000

    positive: ClassVar[tuple[str, ...]] = ("k", "chains", "init_std", "ais_betas", "sample_steps")

    def checks(self) -> list[tuple[bool, str]]:
        return [(self.ais_runs >= 2, f"ais_runs must be >= 2 (a standard error needs two runs), got {self.ais_runs}")]


@dataclass
class RBMConfig(EnergyTrainingConfig):
    """`rbm`: hidden units, visible "bernoulli" | "gaussian" (fixed std `sigma`). Gaussian visibles on image data
    are uniformly dequantized ((255 x + u) / 256) in `loss` and `log_prob`, so the density is over [0, 1)^D."""

    hidden: int = 500
    visible: Literal["bernoulli", "gaussian"] = "bernoulli"
    sigma: float = 1.0

    positive: ClassVar[tuple[str, ...]] = (*EnergyTrainingConfig.positive, "hidden", "sigma")


class RBMLayer(nn.Module):
    """One RBM: parameters W (D, H), b (D,), c (H,), its persistent chains and base-rate statistics.

    `free_energy`, `energy`, the conditionals, `gibbs`, `cd_loss`, and `log_partition` / `ais` for log Z with a
    cache keyed by the parameter versions (any optimiser step or load recomputes it)."""

    def __init__(self, visible: int, hidden: int, *, kind: str = "bernoulli", sigma: float = 1.0,
                 chains: int = 100, init_std: float = 0.01):
        super().__init__()
        self.kind, self.sigma = kind, float(sigma)
        self.W = nn.Parameter(init_std * torch.randn(visible, hidden))
        self.b = nn.Parameter(torch.zeros(visible))
        self.c = nn.Parameter(torch.zeros(hidden))
        self.register_buffer("chains", torch.zeros(chains, visible))
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))  # data-dependent init done
        self.register_buffer("base_sum", torch.zeros(visible, dtype=torch.float64))
        self.register_buffer("base_count", torch.zeros((), dtype=torch.float64))
        self._cache: tuple[Any, dict[str, Any]] | None = None

    @property
    def visible(self) -> int:
        return self.W.shape[0]

    @property
    def hidden(self) -> int:
        return self.W.shape[1]

    # ---- energy ----------------------------------------------------------------------------------------------
    def _scaled(self, v: Tensor) -> Tensor:
        return v / self.sigma if self.kind == "gaussian" else v

    def _visible_term(self, v: Tensor, b: Tensor) -> Tensor:
        """-b^T v (Bernoulli) or |v - b|^2 / (2 sigma^2) (Gaussian): the energy's visible part, (N,)."""
        if self.kind == "gaussian":
            return (v - b).pow(2).sum(1) / (2 * self.sigma**2)
        return -(v @ b)

    def energy(self, v: Tensor, h: Tensor) -> Tensor:
        """E(v, h), (N,)."""
        return self._visible_term(v, self.b) - h @ self.c - ((self._scaled(v) @ self.W) * h).sum(1)

    def hidden_logits(self, v: Tensor) -> Tensor:
        """c + (v / sigma)^T W: the logits of p(h = 1 | v), (N, H)."""
        return self.c + self._scaled(v) @ self.W

    def free_energy(self, v: Tensor) -> Tensor:
        """F(v) = -log sum_h exp(-E(v, h)), (N,)."""
        return self._visible_term(v, self.b) - F.softplus(self.hidden_logits(v)).sum(1)

    def visible_mean(self, h: Tensor) -> Tensor:
        """E[v | h]: sigmoid(b + W h) (Bernoulli) or b + sigma W h (Gaussian), (N, D)."""
        if self.kind == "gaussian":
            return self.b + self.sigma * (h @ self.W.T)
        return torch.sigmoid(self.b + h @ self.W.T)

    def sample_h(self, v: Tensor, generator: torch.Generator | None = None) -> Tensor:
        return torch.bernoulli(torch.sigmoid(self.hidden_logits(v)), generator=generator)

    def sample_v(self, h: Tensor, generator: torch.Generator | None = None) -> Tensor:
        mean = self.visible_mean(h)
        if self.kind == "gaussian":
            return mean + self.sigma * torch.randn(mean.shape, generator=generator, dtype=mean.dtype,
                                                   device=mean.device)
        return torch.bernoulli(mean, generator=generator)

    @torch.no_grad()
    def gibbs(self, v: Tensor, steps: int, generator: torch.Generator | None = None) -> Tensor:
        """`steps` block Gibbs sweeps v -> h ~ p(h | v) -> v ~ p(v | h)."""
        for _ in range(steps):
            v = self.sample_v(self.sample_h(v, generator), generator)
        return v

    # ---- training --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def observe(self, v: Tensor, init_from_data: bool) -> None:
        """Training data seen: accumulate the base-rate statistics; on the first batch, the data-dependent init."""
        self.base_sum += v.sum(0).double()
        self.base_count += v.shape[0]
        if not bool(self.ready):
            if init_from_data:
                m = v.mean(0)
                self.b.copy_(m if self.kind == "gaussian" else torch.logit(m.clamp(0.01, 0.99)))
            idx = torch.arange(self.chains.shape[0], device=v.device) % v.shape[0]
            self.chains.copy_(v[idx])
            self.ready.fill_(True)

    def cd_loss(self, v: Tensor, mode: str, k: int, generator: torch.Generator | None,
                update_chains: bool) -> dict[str, Tensor]:
        """The CD-k / PCD surrogate mean F(v) - mean F(v_model) with v_model ~ k Gibbs sweeps from the data (CD)
        or from the persistent chains (PCD; the chains are advanced when `update_chains`)."""
        start = self.chains if mode == "pcd" and bool(self.ready) else v
        v_model = self.gibbs(start, k, generator)
        if mode == "pcd" and update_chains:
            self.chains.copy_(v_model)
        f_data = self.free_energy(v)
        loss = f_data.mean() - self.free_energy(v_model).mean()
        with torch.no_grad():
            recon = (self.visible_mean(torch.sigmoid(self.hidden_logits(v))) - v).pow(2).sum(1).mean()
        return {"loss": loss, "free_energy": f_data.mean().detach(), "recon": recon}

    # ---- partition function ----------------------------------------------------------------------------------
    def base_rate(self, mode: str = "data") -> Tensor:
        """Visible biases a of the base-rate RBM (W = 0, c = 0): logit of the clipped training marginals
        (Bernoulli) or the training mean (Gaussian); zeros for mode "zero" or before any training data."""
        if mode == "zero" or float(self.base_count) == 0:
            return torch.zeros(self.visible, dtype=torch.float64, device=self.W.device)
        m = self.base_sum / self.base_count
        return m if self.kind == "gaussian" else torch.logit(m.clamp(BASE_RATE_CLIP, 1 - BASE_RATE_CLIP))

    def base_log_partition(self, a: Tensor) -> float:
        """log Z_A = H log 2 + sum_i softplus(a_i) (Bernoulli) or H log 2 + D/2 log(2 pi sigma^2) (Gaussian)."""
        hid = self.hidden * math.log(2.0)
        if self.kind == "gaussian":
            return hid + 0.5 * self.visible * math.log(2 * math.pi * self.sigma**2)
        return hid + float(F.softplus(a).sum())

    def _path(self, a: Tensor):
        """log f_beta and the Gibbs transition of the geometric path from the base rate `a` to this RBM (float64)."""
        W, b, c = (t.detach().double() for t in (self.W, self.b, self.c))
        s = self.sigma
        gauss = self.kind == "gaussian"

        def log_f(v: Tensor, beta: float) -> Tensor:
            u = (v / s if gauss else v) @ W + c
            if gauss:
                vis = -((1 - beta) * (v - a).pow(2).sum(1) + beta * (v - b).pow(2).sum(1)) / (2 * s**2)
            else:
                vis = v @ ((1 - beta) * a + beta * b)
            return vis + F.softplus(beta * u).sum(1)

        def transition(v: Tensor, beta: float, g: torch.Generator | None) -> Tensor:
            h = torch.bernoulli(torch.sigmoid(beta * ((v / s if gauss else v) @ W + c)), generator=g)
            mean = (1 - beta) * a + beta * (b + (s if gauss else 1.0) * h @ W.T)
            if gauss:
                return mean + s * torch.randn(mean.shape, generator=g, dtype=mean.dtype, device=mean.device)
            return torch.bernoulli(torch.sigmoid(mean), generator=g)

        return log_f, transition

    def base_samples(self, a: Tensor, n: int, g: torch.Generator | None) -> Tensor:
        a = a.expand(n, -1)
        if self.kind == "gaussian":
            return a + self.sigma * torch.randn(a.shape, generator=g, dtype=a.dtype, device=a.device)
        return torch.bernoulli(torch.sigmoid(a), generator=g)

    @torch.no_grad()
    def ais(self, betas: int = 1000, runs: int = 100, base: str = "data", seed: int = 0,
            reverse: bool = True) -> dict[str, Any]:
        """AIS estimate of log Z (Salakhutdinov & Murray 2008) along `geometric_betas(betas)` with `runs` runs:
        {"log_z", "stderr" (delta method), "lower" (mean log w + log Z_A, <= log Z in expectation), "reverse" and
        "reverse_stderr" (reverse AIS from the forward runs' final states after one more Gibbs sweep: an upper
        estimate when those states are exact samples), "log_z_base", "ess", "betas", "runs", "base"}."""
        g = torch.Generator(device=self.W.device).manual_seed(int(seed))
        a = self.base_rate(base).double()
        log_za = self.base_log_partition(a)
        log_f, transition = self._path(a)
        schedule = geometric_betas(betas)
        fwd = annealed_importance_sampling(self.base_samples(a, runs, g), log_f, transition, schedule, g)
        out = {"log_z": float(fwd.log_ratio) + log_za, "stderr": float(fwd.stderr), "lower": float(fwd.lower) + log_za,
               "log_z_base": log_za, "ess": float(fwd.ess), "betas": int(betas), "runs": int(runs), "base": base}
        if reverse:
            start = transition(fwd.x, 1.0, g)
            rev = annealed_importance_sampling(start, log_f, transition, schedule.flip(0), g)
            out.update(reverse=log_za - float(rev.log_ratio), reverse_stderr=float(rev.stderr))
        return out

    def _key(self, *settings) -> tuple:
        ts = (self.W, self.b, self.c, self.base_sum, self.base_count)
        return (*((t.data_ptr(), t._version, t.device) for t in ts), *settings)

    def log_partition(self, betas: int = 1000, runs: int = 100, base: str = "data", seed: int = 0) -> dict[str, Any]:
        """`ais(...)`, cached until the parameters or the base-rate statistics change (optimiser step, load)."""
        key = self._key(betas, runs, base, seed)
        if self._cache is None or self._cache[0] != key:
            self._cache = (key, self.ais(betas, runs, base, seed))
        return self._cache[1]

    @torch.no_grad()
    def exact_log_partition(self) -> float:
        """log Z by enumerating the 2^H hidden states (H <= 20): sum_h e^{c^T h} prod_i (1 + e^{b_i + W_i h})
        (Bernoulli) or sum_h (2 pi sigma^2)^{D/2} e^{c^T h + b^T W h / sigma + |W h|^2 / 2} (Gaussian)."""
        if self.hidden > 20:
            raise ValueError(f"exact_log_partition enumerates 2^H states; H = {self.hidden} > 20")
        H = self.hidden
        h = ((torch.arange(2**H)[:, None] >> torch.arange(H)) & 1).double().to(self.W.device)
        W, b, c = self.W.double(), self.b.double(), self.c.double()
        u = h @ W.T  # (2^H, D)
        if self.kind == "gaussian":
            t = h @ c + u @ b / self.sigma + u.pow(2).sum(1) / 2
            t = t + 0.5 * self.visible * math.log(2 * math.pi * self.sigma**2)
        else:
            t = h @ c + F.softplus(b + u).sum(1)
        return float(torch.logsumexp(t, 0))


class CounterRNG(nn.Module):
    """A random stream as model state: a (seed, counter) int64 buffer; each `next()` returns a generator seeded from
    (seed, counter) and advances the counter, so checkpoints and resumes reproduce the stream exactly."""

    def __init__(self):
        super().__init__()
        seed = int(torch.randint(0, 2**62, (), dtype=torch.int64))  # from the global RNG: seeded runs repeat
        self.register_buffer("state", torch.tensor([seed, 0], dtype=torch.int64))

    def next(self, device: torch.device) -> torch.Generator:
        seed, count = (int(v) for v in self.state.tolist())
        self.state[1] += 1
        mixed = (seed ^ ((count + 1) * 0x9E3779B97F4A7C15)) & _MASK63
        return torch.Generator(device=device).manual_seed(mixed)


def preprocess_binary(x: Tensor, mode: str, name: str, generator: torch.Generator | None = None,
                      dtype: torch.dtype = torch.float32) -> Tensor:
    """Flattened binary visibles (in `dtype`) from data in [0, 1] through `genzoo.data.transforms.binarize`."""
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise DataError(f"{name}: Bernoulli visible units need data in [0, 1], got values in "
                        f"[{x.min().item():.4g}, {x.max().item():.4g}] (use visible='gaussian')")
    v = x.flatten(1).to(dtype)
    return (v if mode == "none" else binarize(v, mode, generator=generator)).to(dtype)


@register("rbm", family="energy")
class RBM(GenerativeModel):
    """Restricted Boltzmann machine trained by CD-k or PCD; log p(v) = -F(v) - log Z with log Z from AIS.

    Public API: `layer` (the RBMLayer: free_energy, energy, conditionals, gibbs, exact_log_partition),
    `free_energy(x)`, `log_partition() -> (log_z, stderr)`, `partition_summary()` (forward, lower-bound and reverse
    AIS figures), `base_rate()`, `sample(n, steps=None)`, `log_prob(x)`, `loss(batch)`."""

    likelihood = "exact"  # up to the AIS estimate of log Z
    Config = RBMConfig
    sample_options = ("steps",)
    loss_units = "nats/example"
    train_defaults = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.5}

    def __init__(self, config: RBMConfig):
        super().__init__(config)
        d = math.prod(config.data_shape)
        self.layer = RBMLayer(d, config.hidden, kind=config.visible, sigma=config.sigma, chains=config.chains,
                              init_std=config.init_std)
        self.rng = CounterRNG()

    @property
    def dequantizes(self) -> bool:
        return self.config.visible == "gaussian" and len(self.config.data_shape) == 3

    @property
    def bpd_bins(self) -> int:
        """1 for the Bernoulli pmf over binary images; 256 for the Gaussian density on dequantized images."""
        return 256 if self.dequantizes else 1

    def visibles(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Data -> flattened visible units (binarized, dequantized or as given)."""
        if self.config.visible == "bernoulli":
            return preprocess_binary(x, self.config.binarize, self.name, generator, self.layer.W.dtype)
        v = x.flatten(1).to(self.layer.W.dtype)
        return dequantize(v, generator) if self.dequantizes else v

    def free_energy(self, x: Tensor) -> Tensor:
        """F(v) of data x (after preprocessing), (N,)."""
        self.check_input(x)
        return self.layer.free_energy(self.visibles(x))

    def loss(self, batch: Batch, player: str = "model") -> dict[str, Tensor]:
        """CD-k / PCD surrogate {"loss": mean F(v) - mean F(v_model), "free_energy", "recon"} (nats/example; recon
        is the squared error of the mean-field reconstruction). Training mode uses the model's own random stream
        and advances the persistent chains; evaluation runs CD-k from the data and leaves every buffer alone."""
        cfg = self.config
        self.check_input(batch.x, batch.y)
        g = self.rng.next(self.device) if self.training else None
        v = self.visibles(batch.x, g)
        if self.training:
            self.layer.observe(v, cfg.init_from_data)
        mode = cfg.cd if self.training else "cd"
        return self.layer.cd_loss(v, mode, cfg.k, g, update_chains=self.training)

    def partition_summary(self) -> dict[str, Any]:
        """The AIS figures for the current parameters (cached; see RBMLayer.ais)."""
        c = self.config
        return self.layer.log_partition(c.ais_betas, c.ais_runs, c.ais_base, c.ais_seed)

    def log_partition(self) -> tuple[float, float]:
        """(log Z, its standard error) by AIS, recomputed whenever the parameters change."""
        s = self.partition_summary()
        return s["log_z"], s["stderr"]

    def base_rate(self) -> Tensor:
        """Visible biases of the AIS base-rate RBM."""
        return self.layer.base_rate(self.config.ais_base)

    def log_prob(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        """log p(v) = -F(v) - log Z (log Z by AIS), nats per example."""
        self.check_input(x, condition)
        with torch.no_grad():
            return -self.layer.free_energy(self.visibles(x)) - self.log_partition()[0]

    @torch.no_grad()
    def sample(self, n: int, condition: Tensor | None = None, steps: int | None = None) -> Tensor:
        """n samples after `steps` (default config.sample_steps) Gibbs sweeps from the base-rate RBM: the mean
        p(v = 1 | h) of the last sweep for Bernoulli visibles (like a VAE's decoder mean), a draw for Gaussian ones
        (clamped to [0, 1] on image data)."""
        self.sample_labels(n, condition)
        steps = self.config.sample_steps if steps is None else int(steps)
        if steps < 1:
            raise ConfigError(f"rbm.sample: steps must be >= 1, got {steps}")
        lay = self.layer
        v = lay.base_samples(self.base_rate().to(lay.W.dtype), n, None)
        v = lay.gibbs(v, steps - 1)
        h = lay.sample_h(v)
        out = lay.sample_v(h) if lay.kind == "gaussian" else lay.visible_mean(h)
        if len(self.config.data_shape) == 3:
            out = out.clamp(0, 1)
        return out.reshape(n, *self.config.data_shape)
