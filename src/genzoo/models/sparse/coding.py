"""Sparse coding and dictionary learning: `sparse-coding` (likelihood = "bound"; see docs/models/sparse.md).

Olshausen & Field (1996) describe a signal x in R^d as a sparse combination of K atoms, the columns of a dictionary
D (d, K), read generatively as

    x = D z + b + eps,   eps ~ N(0, sigma^2 I),   p(z) = prod_i exp(-|z_i| / s) / (2 s)   (Laplace, scale s).

Inference: the code of x is the MAP code, argmax_z p(x | z) p(z) = argmin_z 1/2 ||x - b - D z||^2 + lam ||z||_1
with lam = sigma^2 / s, a lasso solved by FISTA or ISTA (`genzoo.math.fista`, Beck & Teboulle 2009). The prior
scale defaults to s = sigma^2 / lam, so the MAP code is exactly the lasso code of the configured lam.

Learning: minimise the lasso objective at the codes, E_x min_z F(x, z; D, b). The codes are computed with D and b
held fixed (no gradient through the solver); the gradient of F(x, z*; D, b) in D and b is then the gradient of the
value function min_z F (Danskin's theorem, Danskin 1967; Mairal et al. 2010, prop. 1), and the Trainer's
optimiser takes the step. `on_step_end` projects every atom back onto the unit sphere, d_j <- d_j / ||d_j||:
without it the scale is not identified (D z = (c D)(z / c)) and the L1 penalty would shrink the codes while the
atoms grow. This is projected stochastic gradient descent on the dictionary (Mairal et al. 2010, sec. 3).

Likelihood: log p(x) = log of the integral of p(x | z) p(z) over z has no closed form; `log_prob` returns the
importance-sampled bound log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i), z_i ~ q, whose expectation is <= log p(x)
by Jensen's inequality for any proposal q (Burda et al. 2016, theorem 1). The proposal is a defensive mixture
(Hesterberg 1995) around the MAP code z*,

    q = (1 - a) N(z*, P^-1) + a p(z),   P = D^T D / sigma^2 + I / (2 s^2),

P being the posterior precision when the Laplace prior is replaced by the Gaussian of the same variance 2 s^2. The
prior component bounds the weights, p(x | z) p(z) / q(z) <= p(x | z) / a <= (2 pi sigma^2)^(-d/2) / a, so the
estimator has finite variance for every x.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from genzoo.data.transforms import dequantize
from genzoo.math import fista, gaussian_log_prob, hoyer_sparsity, ista, laplace_log_prob, near_zero_fraction
from genzoo.models.base import Batch, GenerativeModel, ModelConfig
from genzoo.models.registry import register

_CHUNK_ELEMENTS = 2**22  # floats held at once by log_prob (samples x examples x (d + K))


@dataclass
class SparseCodingConfig(ModelConfig):
    """Configuration of `sparse-coding`.

    latent_dim: K, the number of atoms. lam: the lasso penalty lam of 1/2 ||x - b - D z||^2 + lam ||z||_1.
    solver: "fista" | "ista"; n_iter: its iterations (at most); tol: stop once no code moves by more than tol.
    noise_std: sigma of the Gaussian noise; prior_scale: s of the Laplace prior (None: sigma^2 / lam, whose MAP
    code is the lasso code). bias: learn an offset b (else b = 0). dequantize (log_prob only): the density is over
    (255 x + u) / 256, u ~ U[0, 1) (None: on for image shapes (C, H, W)). eval_k: importance samples of log_prob;
    defensive: the prior's weight a in the proposal (0 <= a < 1).
    """

    data_shape: tuple[int, ...] = (1, 28, 28)
    latent_dim: int = 64
    lam: float = 0.1
    solver: Literal["fista", "ista"] = "fista"
    n_iter: int = 100
    tol: float = 1e-6
    noise_std: float = 0.1
    prior_scale: float | None = None
    bias: bool = True
    dequantize: bool | None = None
    eval_k: int = 100
    defensive: float = 0.1

    positive: ClassVar[tuple[str, ...]] = ("latent_dim", "n_iter", "noise_std", "prior_scale", "eval_k")

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (self.lam >= 0, f"lam must be >= 0, got {self.lam}"),
            (self.tol >= 0, f"tol must be >= 0, got {self.tol}"),
            (self.lam > 0 or self.prior_scale is not None, "lam = 0 needs a prior_scale (default sigma^2 / lam)"),
            (0 <= self.defensive < 1, f"defensive must lie in [0, 1), got {self.defensive}"),
        ]


def laplace_draw(shape, scale: float, dtype, device, generator: torch.Generator | None = None) -> Tensor:
    """z ~ Laplace(0, s) by the inverse CDF: z = -s sign(u) log(1 - 2 |u|), u ~ U(-1/2, 1/2)."""
    u = torch.rand(shape, dtype=dtype, device=device, generator=generator) - 0.5
    r = (2 * u.abs()).clamp(max=1 - torch.finfo(dtype).eps)
    return -scale * torch.sign(u) * torch.log1p(-r)


@register("sparse-coding", family="sparse")
class SparseCoding(GenerativeModel):
    """Sparse coding / dictionary learning (Olshausen & Field 1996): lasso codes by FISTA or ISTA, unit-norm atoms.

    Public API: `code(x) -> (N, K)` lasso codes, `decode(z)`, `reconstruct(x)`, `atoms` (d, K), `prior_scale`,
    `loss(batch)`, `sample(n, noise=True)`, `log_prob(x, k, generator)` (importance-sampled bound).
    """

    likelihood = "bound"
    Config = SparseCodingConfig
    capabilities = frozenset({"decode", "reconstruct"})
    sample_options = ("noise",)
    log_prob_options = ("k", "generator")
    train_defaults = {"lr": 1e-3}
    loss_units = ""  # the lasso objective, in squared data units

    def __init__(self, config: SparseCodingConfig):
        super().__init__(config)
        d = math.prod(config.data_shape)
        self.data_dim, self.latent_dim = d, config.latent_dim
        self.atoms = nn.Parameter(torch.randn(d, config.latent_dim))
        if config.bias:
            self.offset = nn.Parameter(torch.zeros(d))
        else:
            self.register_buffer("offset", torch.zeros(d))
        self.project_atoms()

    # ---- the dictionary --------------------------------------------------------------------------------------
    @torch.no_grad()
    def project_atoms(self) -> None:
        """d_j <- d_j / ||d_j||: every atom back onto the unit sphere."""
        self.atoms.div_(self.atoms.norm(dim=0, keepdim=True).clamp_min(torch.finfo(self.atoms.dtype).tiny))

    def on_step_end(self, step: int) -> None:
        self.project_atoms()

    @property
    def prior_scale(self) -> float:
        """s of the Laplace prior: the configured one, else sigma^2 / lam (the prior whose MAP is the lasso)."""
        cfg = self.config
        return float(cfg.prior_scale) if cfg.prior_scale is not None else cfg.noise_std**2 / cfg.lam

    @property
    def dequantizes(self) -> bool:
        cfg = self.config
        return len(cfg.data_shape) == 3 if cfg.dequantize is None else bool(cfg.dequantize)

    @property
    def bpd_bins(self) -> int:
        """256 for the density on dequantized [0, 1) data; 1 for a density over the data's own values."""
        return 256 if self.dequantizes else 1

    # ---- inference -------------------------------------------------------------------------------------------
    @torch.no_grad()
    def _codes(self, centred: Tensor) -> Tensor:
        """Lasso codes of centred signals (N, d), D held fixed."""
        cfg = self.config
        solve = fista if cfg.solver == "fista" else ista
        return solve(centred, self.atoms.detach(), cfg.lam, n_iter=cfg.n_iter, tol=cfg.tol).z

    def code(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        """argmin_z 1/2 ||x - b - D z||^2 + lam ||z||_1 for data x (N, *data_shape) as given: (N, K)."""
        self.check_input(x, condition)
        return self._codes(x.flatten(1) - self.offset.detach())

    def decode(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        """The mean of p(x | z), D z + b, shaped like the data (clamped to [0, 1] for images)."""
        x = (z @ self.atoms.T + self.offset).reshape(*z.shape[:-1], *self.config.data_shape)
        return x.clamp(0, 1) if len(self.config.data_shape) == 3 else x

    def reconstruct(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        """decode(code(x))."""
        return self.decode(self.code(x, condition))

    # ---- learning --------------------------------------------------------------------------------------------
    def loss(self, batch: Batch, player: str = "model") -> dict[str, Tensor]:
        """The lasso objective at the codes, batch mean: {"loss", "recon" (1/2 ||x - b - D z||^2), "l1"
        (||z||_1), "mse" (per value), "zero_fraction" (codes exactly 0), "hoyer" (Hoyer's sparsity)}."""
        self.check_input(batch.x, batch.y)
        x = batch.x.flatten(1)
        z = self._codes(x - self.offset.detach())
        recon = 0.5 * (x - self.offset - z @ self.atoms.T).pow(2).sum(-1)
        l1 = z.abs().sum(-1)
        loss = (recon + self.config.lam * l1).mean()
        return {
            "loss": loss,
            "recon": recon.mean().detach(),
            "l1": l1.mean(),
            "mse": (2 * recon / self.data_dim).mean().detach(),
            "zero_fraction": near_zero_fraction(z).mean(),
            "hoyer": hoyer_sparsity(z).mean(),
        }

    # ---- the generative reading ------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, condition: Tensor | None = None, noise: bool = True) -> Tensor:
        """z ~ Laplace(0, s)^K, x = D z + b (+ sigma eps, eps ~ N(0, I), when `noise`); clamped to [0, 1] for
        images."""
        self.sample_labels(n, condition)  # an unconditional model: a condition is a DataError
        z = laplace_draw((n, self.latent_dim), self.prior_scale, self.atoms.dtype, self.atoms.device)
        x = z @ self.atoms.T + self.offset
        if noise:
            x = x + self.config.noise_std * torch.randn_like(x)
        x = x.reshape(n, *self.config.data_shape)
        return x.clamp(0, 1) if len(self.config.data_shape) == 3 else x

    def proposal_precision(self) -> Tensor:
        """P = D^T D / sigma^2 + I / (2 s^2), the precision of the Gaussian part of the importance proposal."""
        eye = torch.eye(self.latent_dim, dtype=self.atoms.dtype, device=self.atoms.device)
        return self.atoms.T @ self.atoms / self.config.noise_std**2 + eye / (2 * self.prior_scale**2)

    @torch.no_grad()
    def log_prob(self, x: Tensor, condition: Tensor | None = None, k: int | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        """Importance-sampled bound log (1/k) sum_i p(x | z_i) p(z_i) / q(z_i) in nats per example, z_i from the
        defensive mixture q = (1 - a) N(z*, P^-1) + a p(z) around the lasso code z* (module docstring); its
        expectation is <= log p(x). k = config.eval_k by default; dequantized first for images."""
        self.check_input(x, condition)
        cfg = self.config
        k = int(k or cfg.eval_k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        if self.dequantizes:
            x = dequantize(x, generator)
        x = x.flatten(1).to(self.atoms.dtype)
        centred = x - self.offset
        z_map = self._codes(centred)
        chol = torch.linalg.cholesky(self.proposal_precision())  # P = L L^T
        eye = torch.eye(self.latent_dim, dtype=chol.dtype, device=chol.device)
        chol_inv = torch.linalg.solve_triangular(chol, eye, upper=False)  # rows: e @ L^-1 ~ N(0, P^-1)
        half_logdet = torch.log(torch.diagonal(chol)).sum()
        log_var = torch.tensor(2 * math.log(cfg.noise_std), dtype=x.dtype, device=x.device)
        s, a, K = self.prior_scale, cfg.defensive, self.latent_dim
        per = self.data_dim + K
        nb = max(1, min(x.shape[0], _CHUNK_ELEMENTS // per))
        outs = []
        for i in range(0, x.shape[0], nb):
            xc, zc = centred[i : i + nb], z_map[i : i + nb]
            kc = max(1, min(k, _CHUNK_ELEMENTS // (xc.shape[0] * per)))
            lses = []
            for j in range(0, k, kc):
                m = min(kc, k - j)
                eps = torch.randn(m, *zc.shape, dtype=x.dtype, device=x.device, generator=generator)
                z = zc + eps @ chol_inv
                if a > 0:
                    z_prior = laplace_draw(z.shape, s, x.dtype, x.device, generator)
                    pick = torch.rand(m, zc.shape[0], 1, dtype=x.dtype, device=x.device, generator=generator) < a
                    z = torch.where(pick, z_prior, z)
                lpz = laplace_log_prob(z, s)
                lq = -0.5 * K * math.log(2 * math.pi) + half_logdet - 0.5 * ((z - zc) @ chol).pow(2).sum(-1)
                if a > 0:
                    lq = torch.logaddexp(math.log1p(-a) + lq, math.log(a) + lpz)
                lpx = gaussian_log_prob(xc, z @ self.atoms.T, log_var)
                lses.append(torch.logsumexp(lpx + lpz - lq, 0))
            outs.append(torch.logsumexp(torch.stack(lses), 0) - math.log(k))
        return torch.cat(outs)
