"""Gaussian mixture model fitted by EM (Dempster, Laird & Rubin 1977; Bishop 2006, section 9.2.2).

    p(x) = sum_k pi_k N(x; mu_k, Sigma_k),     log p(x) = logsumexp_k [ log pi_k + log N(x; mu_k, Sigma_k) ]

E-step (Bishop eq. 9.23), in log space: log r_nk = log pi_k + log N(x_n; mu_k, Sigma_k) - log p(x_n).
M-step (eqs. 9.24-9.26) from the expected sufficient statistics, means over the N points:

    s0_k = 1/N sum_n r_nk,    s1_k = 1/N sum_n r_nk x_n,    s2_k = 1/N sum_n r_nk x_n x_n^T   (diag: x_n^2)
    pi_k = s0_k / sum_j s0_j,   mu_k = s1_k / s0_k,   Sigma_k = s2_k / s0_k - mu_k mu_k^T + reg_covar I

`reg_covar` is scikit-learn's floor on the covariances (added to the diagonal after every M-step). The statistics
are the model's parameters (stepwise.py: the Trainer's SGD step is a stepwise-EM step on them; `fit` is batch EM);
they are moments of x - origin, a buffer set to the data mean at initialisation, so float32 keeps the variances of
data far from 0. The Gaussian log-density uses the Cholesky factor Sigma = L L^T:
log N(x; mu, Sigma) = -1/2 [ D log 2 pi + 2 sum_i log L_ii + ||L^{-1}(x - mu)||^2 ] (full) and
genzoo.math.gaussian_log_prob (diag).

Initialisation (scikit-learn's init_params="k-means++"): centres by k-means++ (kmeans.py, seeded by `seed`), each
point assigned to its nearest centre (r_nk one-hot), then one M-step. It runs on the first batch the model trains
on (or the data given to `fit`) unless the parameters were set (`set_parameters`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from genzoo.errors import DataError
from genzoo.math import gaussian_log_prob
from genzoo.models.base import Batch, GenerativeModel, ModelConfig
from genzoo.models.classical.kmeans import kmeans_plusplus, nearest
from genzoo.models.classical.stepwise import EM_TRAIN_DEFAULTS, stepwise_em_loss
from genzoo.models.registry import register

LOG_2PI = math.log(2 * math.pi)


@dataclass
class GMMConfig(ModelConfig):
    """Configuration of `gmm`.

    components: K. covariance: "full" (Sigma_k any SPD matrix) or "diag". reg_covar: added to every variance after
    each M-step (scikit-learn's default 1e-6). seed: the k-means++ seed (and the placeholder means before any data).
    chunk: points per E-step chunk in `fit` / `log_prob` (memory, not results). data_shape is (D,).
    """

    components: int = 25
    covariance: Literal["full", "diag"] = "full"
    reg_covar: float = 1e-6
    seed: int = 0
    chunk: int = 65536

    positive: ClassVar[tuple[str, ...]] = ("components", "chunk")

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (len(self.data_shape) == 1, f"a GMM takes points (N, D); data_shape must be (D,), got {self.data_shape}"),
            (self.reg_covar >= 0, f"reg_covar must be >= 0, got {self.reg_covar}"),
        ]


@register("gmm", family="classical")
class GMM(GenerativeModel):
    """Gaussian mixture by EM: exact log_prob, sample, responsibilities, fit(x, iterations)."""

    likelihood = "exact"
    Config = GMMConfig
    data_kinds = ("points",)
    sample_options = ("generator",)
    loss_units = "nats/example"
    # batch EM steps on large batches (stepwise.py): plain SGD is the EM update, lr is the step size rho
    train_defaults: ClassVar[dict[str, Any]] = {**EM_TRAIN_DEFAULTS, "lr": 0.5, "batch_size": 4096, "steps": 200,
                                                "schedule": "linear", "min_lr_factor": 0.1}

    def __init__(self, config: GMMConfig):
        super().__init__(config)
        k, d = config.components, config.data_shape[0]
        g = torch.Generator().manual_seed(config.seed)
        self.s0 = nn.Parameter(torch.full((k,), 1.0 / k))
        self.s1 = nn.Parameter(torch.randn(k, d, generator=g) / k)  # placeholder means N(0, I), weights 1/K
        eye = torch.eye(d).expand(k, d, d) if config.covariance == "full" else torch.ones(k, d)
        self.s2 = nn.Parameter(self._second_moment(self.s0.data, self.s1.data / self.s0.data[:, None], eye))
        self.register_buffer("origin", torch.zeros(d))
        self.register_buffer("initialised", torch.tensor(False))

    @property
    def bpd_bins(self) -> int:
        return 1  # a density on the points themselves: bits/dim = -log2 p(x) / D

    # ---- parameters from the statistics (the M-step) ---------------------------------------------------
    def stats(self) -> dict[str, nn.Parameter]:
        return {"s0": self.s0, "s1": self.s1, "s2": self.s2}

    @property
    def weights(self) -> Tensor:
        """pi (K,)."""
        return self.s0 / self.s0.sum()

    @property
    def means(self) -> Tensor:
        """mu (K, D) in data space."""
        return self._centred_means() + self.origin

    def _centred_means(self) -> Tensor:
        return self.s1 / self._mass()[:, None]

    def _mass(self) -> Tensor:
        return self.s0.clamp_min(10 * torch.finfo(self.s0.dtype).eps)  # scikit-learn's guard for empty components

    @property
    def covariances(self) -> Tensor:
        """Sigma (K, D, D) for "full", the variances (K, D) for "diag", reg_covar included."""
        mu = self._centred_means()
        if self.config.covariance == "full":
            eye = torch.eye(mu.shape[1], dtype=mu.dtype, device=mu.device)
            cov = self.s2 / self._mass()[:, None, None] - mu[:, :, None] * mu[:, None, :]
            cov = 0.5 * (cov + cov.transpose(1, 2))
            if (torch.linalg.cholesky_ex(cov + self.config.reg_covar * eye).info > 0).any():
                # rounding in a nearly empty component (s2 / s0 - mu mu^T of tiny s0): project onto the PSD cone
                evals, evecs = torch.linalg.eigh(cov)
                cov = evecs @ torch.diag_embed(evals.clamp_min(0)) @ evecs.transpose(1, 2)
            return cov + self.config.reg_covar * eye
        return (self.s2 / self._mass()[:, None] - mu.pow(2)).clamp_min(0) + self.config.reg_covar

    def _second_moment(self, s0: Tensor, mu: Tensor, cov: Tensor) -> Tensor:
        """s2 of weights s0, centred means mu and covariances cov (reg_covar removed): the inverse of the M-step."""
        if self.config.covariance == "full":
            eye = torch.eye(mu.shape[1], dtype=mu.dtype, device=mu.device)
            return s0[:, None, None] * (cov - self.config.reg_covar * eye + mu[:, :, None] * mu[:, None, :])
        return s0[:, None] * (cov - self.config.reg_covar + mu.pow(2))

    @torch.no_grad()
    def set_parameters(self, weights: Tensor, means: Tensor, covariances: Tensor) -> None:
        """Set pi (K,), mu (K, D) and Sigma ((K, D, D) full, (K, D) diag; reg_covar included) and mark the model
        initialised (e.g. to start EM where another implementation starts)."""
        p = self.s0
        w = torch.as_tensor(weights, dtype=p.dtype, device=p.device)
        mu = torch.as_tensor(means, dtype=p.dtype, device=p.device) - self.origin
        cov = torch.as_tensor(covariances, dtype=p.dtype, device=p.device)
        if mu.shape != self.s1.shape or w.shape != p.shape or cov.shape != self.s2.shape:
            raise DataError(f"{self.name}: set_parameters expects shapes {tuple(p.shape)}, {tuple(self.s1.shape)}, "
                            f"{tuple(self.s2.shape)}; got {tuple(w.shape)}, {tuple(mu.shape)}, {tuple(cov.shape)}")
        w = w / w.sum()
        self.s0.copy_(w)
        self.s1.copy_(w[:, None] * mu)
        self.s2.copy_(self._second_moment(w, mu, cov))
        self.initialised.fill_(True)

    # ---- the E-step ------------------------------------------------------------------------------------
    def component_log_prob(self, x: Tensor) -> Tensor:
        """log N(x_n; mu_k, Sigma_k) (N, K) of centred points x - origin."""
        mu, cov = self._centred_means(), self.covariances
        if self.config.covariance == "diag":
            return gaussian_log_prob(x[:, None, :], mu, cov.log())
        chol = torch.linalg.cholesky(cov)  # (K, D, D)
        eye = torch.eye(x.shape[1], dtype=x.dtype, device=x.device).expand_as(chol)
        inv = torch.linalg.solve_triangular(chol, eye, upper=False)  # L^{-1}
        z = torch.einsum("kij,nj->kni", inv, x) - torch.einsum("kij,kj->ki", inv, mu)[:, None, :]
        logdet = 2 * chol.diagonal(dim1=1, dim2=2).log().sum(1)
        return (-0.5 * (x.shape[1] * LOG_2PI + logdet[:, None] + z.pow(2).sum(2))).T

    def _joint(self, x: Tensor) -> Tensor:
        """log pi_k + log N(x_n; mu_k, Sigma_k) (N, K) of data-space points."""
        return self.weights.log() + self.component_log_prob(x.to(self.s0.dtype) - self.origin)

    def responsibilities(self, x: Tensor) -> Tensor:
        """r_nk = p(k | x_n) (N, K)."""
        self.check_input(x)
        joint = self._joint(x)
        return (joint - joint.logsumexp(1, keepdim=True)).exp()

    def e_step(self, x: Tensor) -> tuple[dict[str, Tensor], Tensor]:
        """({s0, s1, s2}: the statistics s_hat of x under the current parameters, log p(x) (N,)), in chunks."""
        n = x.shape[0]
        sums = {k: torch.zeros_like(v) for k, v in self.stats().items()}
        logp = []
        for xc in x.split(self.config.chunk):
            joint = self._joint(xc)
            lp = joint.logsumexp(1)
            r = (joint - lp[:, None]).exp()
            xc = xc.to(r.dtype) - self.origin
            sums["s0"] += r.sum(0)
            sums["s1"] += r.T @ xc
            if self.config.covariance == "full":
                sums["s2"] += torch.einsum("nk,nd,ne->kde", r, xc, xc)
            else:
                sums["s2"] += r.T @ xc.pow(2)
            logp.append(lp)
        return {k: v / n for k, v in sums.items()}, torch.cat(logp)

    @torch.no_grad()
    def initialise(self, x: Tensor) -> None:
        """k-means++ centres (seeded), hard assignments to the nearest, one M-step (the module docstring)."""
        x = x.to(self.s0.dtype)
        k = self.config.components
        self.origin.copy_(x.mean(0))
        xc = x - self.origin
        g = torch.Generator().manual_seed(self.config.seed)
        centres = kmeans_plusplus(xc.cpu(), k, g).to(xc)
        r = nn.functional.one_hot(nearest(xc, centres), k).to(xc.dtype)
        n = x.shape[0]
        self.s0.copy_(r.mean(0))
        self.s1.copy_(r.T @ xc / n)
        if self.config.covariance == "full":
            self.s2.copy_(torch.einsum("nk,nd,ne->kde", r, xc, xc) / n)
        else:
            self.s2.copy_(r.T @ xc.pow(2) / n)
        self.initialised.fill_(True)

    @torch.no_grad()
    def fit(self, x: Tensor, iterations: int = 100) -> list[float]:
        """Batch EM on all of x (N, D): k-means++ initialisation unless already initialised, then `iterations`
        E- and M-steps. Returns the mean log-likelihood (nats/example) after 0, 1, ..., iterations steps."""
        self.check_input(x)
        x = x.to(self.device)
        if not bool(self.initialised):
            self.initialise(x)
        trace = []
        for _ in range(iterations):
            target, lp = self.e_step(x)
            trace.append(float(lp.mean()))
            for k, p in self.stats().items():
                p.copy_(target[k])
        trace.append(float(self.log_prob(x).mean()))
        return trace

    # ---- the contract ----------------------------------------------------------------------------------
    def loss(self, batch: Batch, player: str = "model") -> dict[str, Tensor]:
        """NLL (nats/example) in value; the gradient of the stepwise-EM surrogate (stepwise.py)."""
        x = batch.x
        self.check_input(x, batch.y)
        if self.training and not bool(self.initialised):
            self.initialise(x)
        with torch.no_grad():
            target, lp = self.e_step(x)
        return {"loss": stepwise_em_loss(-lp.mean(), self.stats(), target)}

    def log_prob(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        """log p(x) (N,) in nats: logsumexp_k [log pi_k + log N(x; mu_k, Sigma_k)]."""
        self.check_input(x, condition)
        return torch.cat([self._joint(xc).logsumexp(1) for xc in x.split(self.config.chunk)])

    @torch.no_grad()
    def sample(self, n: int, condition: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """n points: k ~ Categorical(pi), x = mu_k + L_k eps (full) or mu_k + sigma_k * eps (diag), eps ~ N(0, I)."""
        self.sample_labels(n, condition)
        k = torch.multinomial(self.weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.s1.shape[1], generator=generator, dtype=self.s0.dtype).to(self.device)
        if self.config.covariance == "full":
            x = self.means[k] + torch.einsum("nij,nj->ni", torch.linalg.cholesky(self.covariances)[k], eps)
        else:
            x = self.means[k] + self.covariances[k].sqrt() * eps
        return x
