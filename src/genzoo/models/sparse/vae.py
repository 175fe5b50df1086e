"""`sparse-vae`: a VAE with a sparsity-inducing Laplace prior and an optional L1 term on the codes.

The model is the VAE of `genzoo.models.vae` (its encoders, decoders, importance-sampled `log_prob` and ELBO) with
the prior N(0, I) replaced by p(z) = prod_j exp(-|z_j| / b) / (2 b) (`prior="laplace"`, scale `prior_scale`), as
in sparse variational autoencoders with heavy-tailed priors (e.g. Barello, Charles & Pillow 2018). The ELBO keeps
its form, E_q log p(x | z) - KL(q(z | x) || p(z)), and the KL of the diagonal Gaussian q = N(mu, diag s^2) to the
Laplace prior is closed form (`genzoo.math.laplace_kl`):

    KL = sum_j [ log(2 b) - 1/2 log(2 pi e s_j^2) + E_q|z_j| / b ],
    E_q|z_j| = s_j sqrt(2 / pi) exp(-mu_j^2 / (2 s_j^2)) + mu_j erf(mu_j / (s_j sqrt 2))   (the folded normal).

`prior="gaussian"` keeps N(0, I). `l1` > 0 adds l1 * ||mu(x)||_1 to the loss (an L1 penalty on the posterior mean
code, Tibshirani 1996). The loss reports two sparsity measures of the posterior means: "zero_fraction", the share
with |mu_j| <= `sparsity_threshold`, and "hoyer", Hoyer's (sqrt(n) - ||mu||_1 / ||mu||_2) / (sqrt(n) - 1)
(Hoyer 2004).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from torch import Tensor

from genzoo.math import hoyer_sparsity, laplace_kl, laplace_log_prob, near_zero_fraction
from genzoo.models.base import Batch
from genzoo.models.registry import register
from genzoo.models.sparse.coding import laplace_draw
from genzoo.models.vae import VAE, VAEConfig


@dataclass
class SparseVAEConfig(VAEConfig):
    """VAEConfig plus prior: "laplace" | "gaussian"; prior_scale: b of the Laplace prior; l1: weight of
    ||mu(x)||_1 in the loss; sparsity_threshold: |mu_j| at or below it counts as zero in "zero_fraction"."""

    prior: Literal["laplace", "gaussian"] = "laplace"
    prior_scale: float = 1.0
    l1: float = 0.0
    sparsity_threshold: float = 0.1

    positive: ClassVar[tuple[str, ...]] = (*VAEConfig.positive, "prior_scale")

    def checks(self) -> list[tuple[bool, str]]:
        return [*super().checks(), (self.l1 >= 0, f"l1 must be >= 0, got {self.l1}"),
                (self.sparsity_threshold >= 0, f"sparsity_threshold must be >= 0, got {self.sparsity_threshold}")]


@register("sparse-vae", family="sparse")
class SparseVAE(VAE):
    """VAE with a Laplace prior (closed-form Gaussian-to-Laplace KL) and an optional L1 penalty on the codes."""

    Config = SparseVAEConfig
    capabilities = frozenset({"encode", "decode", "reconstruct"})  # no "latent": the prior is not N(0, I)

    def prior_log_prob(self, z: Tensor) -> Tensor:
        if self.config.prior == "gaussian":
            return super().prior_log_prob(z)
        return laplace_log_prob(z, self.config.prior_scale)

    def prior_kl(self, mu: Tensor, logvar: Tensor) -> Tensor:
        if self.config.prior == "gaussian":
            return super().prior_kl(mu, logvar)
        return laplace_kl(mu, logvar, self.config.prior_scale)

    def prior_sample(self, n: int) -> Tensor:
        if self.config.prior == "gaussian":
            return super().prior_sample(n)
        p = next(self.parameters())
        return laplace_draw((n, self.latent_dim), self.config.prior_scale, p.dtype, p.device)

    def loss(self, batch: Batch, player: str = "model") -> dict[str, Tensor]:
        """The VAE's parts ("loss", "recon", "kl" to the configured prior, "elbo", "beta", ...) plus "l1"
        (batch mean of ||mu||_1, added to the loss times `l1`), "zero_fraction" and "hoyer" of the means mu."""
        out, mu, _ = self._objective(batch)
        l1 = mu.abs().sum(-1).mean()
        if self.config.l1 > 0:
            out["loss"] = out["loss"] + self.config.l1 * l1
        m = mu.detach()
        out.update(l1=l1.detach(), zero_fraction=near_zero_fraction(m, self.config.sparsity_threshold).mean(),
                   hoyer=hoyer_sparsity(m).mean())
        return out

