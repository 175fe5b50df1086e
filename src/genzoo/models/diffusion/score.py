"""Score-based models: `ncsn` (Song & Ermon 2019) and `score-sde` (Song et al. 2021).

ncsn: noise levels sigma_1 > ... > sigma_L (geometric); the network's score s(x, i) = -net(x, i) / sigma_i is
trained by denoising score matching weighted by sigma^2:
    L = E_i E_{x, z} [ sigma_i^2 || s(x + sigma_i z, i) + z / sigma_i ||^2 ] = E || net(x + sigma_i z, i) - z ||^2
(mean over dimensions) and sampled by annealed Langevin dynamics. No likelihood (likelihood = "none").

score-sde: an SDE ("vp", "subvp", "ve"), t ~ U[t_min, 1], x_t = m(t) x_0 + s(t) z, score = -net(x_t, t) / s(t),
weighted DSM lambda(t) = s(t)^2 (the same eps-regression). Sampling by the PC sampler (default), the reverse SDE or
the PF-ODE; log_prob is the exact PF-ODE log-likelihood (likelihood = "exact").
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.models.base import Batch
from genzoo.models.diffusion import likelihood as lik
from genzoo.models.diffusion import samplers as S
from genzoo.models.diffusion.base import DiffusionBase, DiffusionNetConfig
from genzoo.models.diffusion.sde import geometric_sigmas, make_sde
from genzoo.models.registry import register


@dataclass
class NCSNConfig(DiffusionNetConfig):
    """sigma_max, sigma_min, num_levels: the geometric noise levels (on the [-1, 1] scale for images).
    steps_per_level, step_lr: annealed Langevin (step a_i = step_lr sigma_i^2 / sigma_L^2); denoise: a final
    Tweedie step at sigma_L."""

    sigma_max: float = 10.0
    sigma_min: float = 0.01
    num_levels: int = 10
    steps_per_level: int = 100
    step_lr: float = 2e-5
    denoise: bool = True

    def checks(self) -> list[tuple[bool, str]]:
        return [
            *super().checks(),
            (0 < self.sigma_min < self.sigma_max and self.num_levels >= 2,
             "need 0 < sigma_min < sigma_max and num_levels >= 2"),
            (self.steps_per_level >= 1 and self.step_lr > 0, "steps_per_level >= 1 and step_lr > 0"),
        ]


@register("ncsn", family="diffusion")
class NCSN(DiffusionBase):
    """Noise-conditional score network (Song & Ermon 2019): denoising score matching over geometric noise levels
    weighted by sigma^2, sampled by annealed Langevin dynamics."""

    likelihood = "none"
    Config = NCSNConfig

    def __init__(self, config: NCSNConfig):
        super().__init__(config)
        self.register_buffer("sigmas", geometric_sigmas(config.sigma_max, config.sigma_min, config.num_levels).float())

    def _t(self, i: Tensor, x: Tensor) -> Tensor:
        # the network's "time": the level index spread over [0, 1000)
        return (i.to(x.device, x.dtype) * (1000.0 / self.config.num_levels))

    def score(self, x: Tensor, i: int | Tensor, y: Tensor | None = None) -> Tensor:
        i = torch.as_tensor(i, device=x.device).long()
        if i.dim() == 0:
            i = i.expand(x.shape[0])
        sig = self.sigmas[i].to(x.dtype).reshape(-1, *([1] * (x.dim() - 1)))
        return -self.guided_net(x, self._t(i, x), y) / sig

    def loss(self, batch: Batch, player: str = "model") -> dict[str, Tensor]:
        x = self.preprocess(batch.x.to(self.device))
        n = x.shape[0]
        i = torch.randint(0, self.config.num_levels, (n,), device=x.device)
        sig = self.sigmas[i].reshape(-1, *([1] * (x.dim() - 1)))
        z = torch.randn_like(x)
        out = self.net(x + sig * z, self._t(i, x), self._train_labels(batch.y, n))
        loss = F.mse_loss(out, z)
        return {"loss": loss, "dsm": loss.detach()}

    @torch.no_grad()
    def sample(self, n: int, condition: Tensor | None = None) -> Tensor:
        y_all = self._sample_labels(condition, n)
        cfg = self.config

        def one(i0, m):
            y = None if y_all is None else y_all[i0 : i0 + m]
            x0 = torch.rand(m, *cfg.data_shape, device=self.device) * 2 - 1 if self.is_image else (
                float(self.sigmas[0]) * torch.randn(m, *cfg.data_shape, device=self.device))
            x = S.annealed_langevin(lambda x, i: self.score(x, i, y), self.sigmas.double(), x0,
                                    cfg.steps_per_level, cfg.step_lr, cfg.denoise)
            return self.postprocess(x)

        return self._batched(n, one)


@dataclass
class ScoreSDEConfig(DiffusionNetConfig):
    """sde: "vp" | "subvp" (beta_min, beta_max) | "ve" (sigma_min, sigma_max). t_min: smallest time in training,
    sampling and likelihood. sampler: "pc" | "sde" | "pf-ode"; sample_steps; snr (PC corrector's target
    signal-to-noise). exact_trace (None: exact in <= 16 dimensions); ode_tol (rtol = atol of dopri5)."""

    sde: Literal["vp", "subvp", "ve"] = "vp"
    beta_min: float = 0.1
    beta_max: float = 20.0
    sigma_min: float = 0.01
    sigma_max: float = 50.0
    t_min: float = 1e-5
    sampler: Literal["pc", "sde", "pf-ode"] = "pc"
    sample_steps: int = 500
    snr: float = 0.16
    exact_trace: bool | None = None
    ode_tol: float = 1e-5

    def checks(self) -> list[tuple[bool, str]]:
        beta = 0 < self.beta_min < self.beta_max if self.sde != "ve" else 0 < self.sigma_min < self.sigma_max
        return [
            *super().checks(),
            (0 < self.t_min < 1 and self.sample_steps >= 1, "need 0 < t_min < 1 and sample_steps >= 1"),
            (beta, "need 0 < beta_min < beta_max (vp, subvp) or 0 < sigma_min < sigma_max (ve)"),
            (self.snr > 0 and self.ode_tol > 0, "snr and ode_tol must be > 0"),
        ]


@register("score-sde", family="diffusion")
class ScoreSDE(DiffusionBase):
    """Score-based SDE model (Song et al. 2021): VP, sub-VP or VE SDE, reverse-SDE / predictor-corrector /
    probability-flow ODE samplers, and the exact PF-ODE log-likelihood (instantaneous change of variables)."""

    likelihood = "exact"
    Config = ScoreSDEConfig
    capabilities = frozenset({"score"})

    def __init__(self, config: ScoreSDEConfig):
        super().__init__(config)
        kw = (dict(sigma_min=config.sigma_min, sigma_max=config.sigma_max) if config.sde == "ve"
              else dict(beta_min=config.beta_min, beta_max=config.beta_max))
        self.sde = make_sde(config.sde, t_min=config.t_min, **kw)

    @property
    def bpd_bins(self) -> int:
        return 256 if self.is_image else 1

    def score(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        _, s = self.sde.marginal(t)
        return -self.guided_net(x, t * 1000, y) / S._col(s, x)

    def loss(self, batch: Batch, player: str = "model") -> dict[str, Tensor]:
        x0 = self.preprocess(batch.x.to(self.device))
        n = x0.shape[0]
        t = torch.rand(n, device=x0.device) * (1 - self.config.t_min) + self.config.t_min
        z = torch.randn_like(x0)
        xt = self.sde.marginal_sample(x0, t, z)
        out = self.net(xt, t * 1000, self._train_labels(batch.y, n))
        loss = F.mse_loss(out, z)
        return {"loss": loss, "dsm": loss.detach()}

    @torch.no_grad()
    def sample(self, n: int, condition: Tensor | None = None) -> Tensor:
        y_all = self._sample_labels(condition, n)
        cfg = self.config

        def one(i0, m):
            y = None if y_all is None else y_all[i0 : i0 + m]
            x_T = self.sde.prior_sample((m, *cfg.data_shape), device=self.device)
            score = lambda x, t: self.score(x, t, y)
            if cfg.sampler == "pf-ode":
                x = S.pf_ode_sample(self.sde, score, x_T, rtol=cfg.ode_tol, atol=cfg.ode_tol)
            elif cfg.sampler == "sde":
                x = S.reverse_sde_sample(self.sde, score, x_T, cfg.sample_steps)
            else:
                x = S.predictor_corrector_sample(self.sde, score, x_T, cfg.sample_steps, snr=cfg.snr)
            # final Tweedie denoising at t_min: x0 = (x + s^2 score) / m
            t = torch.full((m,), cfg.t_min, device=x.device)
            mt, st = self.sde.marginal(t)
            x = (x + S._col(st, x) ** 2 * score(x, t)) / S._col(mt, x)
            return self.postprocess(x)

        return self._batched(n, one)

    def log_prob(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        self.check_input(x, condition)
        cfg = self.config
        y = None if condition is None else condition.to(self.device).long()

        def one(i0, m):
            z, logdet = self._dequantize_for_ode(x[i0 : i0 + m].to(self.device))
            yy = None if y is None else y[i0 : i0 + m]
            ll = lik.ode_log_likelihood(self.sde, lambda xx, t: self.score(xx, t, yy), z, cfg.exact_trace,
                                        cfg.ode_tol, cfg.ode_tol)
            return ll + logdet

        return self._batched(x.shape[0], one)
