"""Stochastic differential equations of score-based generative modelling (Song et al. 2021), t in [0, 1]:

    forward   dx = f(x, t) dt + g(t) dW,   marginal x_t | x_0 ~ N( m(t) x_0, s(t)^2 I )
    reverse   dx = [f(x, t) - g(t)^2 grad log p_t(x)] dt + g(t) dW_bar          (Anderson 1982)
    PF-ODE    dx/dt = f(x, t) - 1/2 g(t)^2 grad log p_t(x)                        (same marginals, deterministic)

    VP      f = -1/2 beta(t) x,  g = sqrt(beta(t)),                 m = sqrt(abar(t)), s^2 = 1 - abar(t),
            abar(t) = exp(-int_0^t beta), beta(t) = beta_min + t (beta_max - beta_min); prior N(0, I)
    sub-VP  f = -1/2 beta(t) x,  g = sqrt(beta(t) (1 - abar(t)^2)),  m = sqrt(abar(t)), s = 1 - abar(t); prior N(0, I)
    VE      f = 0,  g = sigma(t) sqrt(2 log(sigma_max / sigma_min)), sigma(t) = sigma_min (sigma_max / sigma_min)^t,
            m = 1, s^2 = sigma(t)^2 - sigma_min^2 (exact for x(0) = x_0); prior N(0, sigma_max^2 I)

`ScheduleVPSDE` is the VP SDE of a discrete `NoiseSchedule` (its abar(t) interpolates the schedule's).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genzoo.math import gaussian_log_prob


def _col(v: Tensor, x: Tensor) -> Tensor:
    v = torch.as_tensor(v, dtype=x.dtype, device=x.device)
    if v.dim() == 0:
        return v
    return v.reshape(v.shape[0], *([1] * (x.dim() - 1)))


class SDE:
    """Base class: subclasses define `drift`, `diffusion`, `marginal` and the prior."""

    T: float = 1.0

    def __init__(self, t_min: float = 1e-5):
        self.t_min = t_min

    def drift(self, x: Tensor, t: Tensor) -> Tensor:
        raise NotImplementedError

    def diffusion(self, t: Tensor) -> Tensor:
        raise NotImplementedError

    def marginal(self, t: Tensor) -> tuple[Tensor, Tensor]:
        """(m(t), s(t)): x_t | x_0 ~ N(m x_0, s^2 I)."""
        raise NotImplementedError

    def prior_std(self) -> float:
        return 1.0

    def marginal_sample(self, x0: Tensor, t: Tensor, noise: Tensor | None = None) -> Tensor:
        m, s = self.marginal(t)
        if noise is None:
            noise = torch.randn_like(x0)
        return _col(m, x0) * x0 + _col(s, x0) * noise

    def prior_sample(self, shape, generator=None, device=None, dtype=torch.float32) -> Tensor:
        return self.prior_std() * torch.randn(shape, generator=generator, device=device, dtype=dtype)

    def prior_logp(self, z: Tensor) -> Tensor:
        """log N(z; 0, prior_std^2 I), summed over all non-batch dimensions."""
        z = z.flatten(1)
        return gaussian_log_prob(z, torch.zeros_like(z), 2 * math.log(self.prior_std()))

    def reverse_drift(self, x: Tensor, t: Tensor, score: Tensor, probability_flow: bool = False) -> Tensor:
        """f - g^2 score (reverse SDE) or f - 1/2 g^2 score (probability-flow ODE)."""
        g2 = _col(self.diffusion(t), x) ** 2
        return self.drift(x, t) - (0.5 if probability_flow else 1.0) * g2 * score


class VPSDE(SDE):
    """Variance-preserving SDE with linear beta(t) (the continuous limit of DDPM's linear schedule, T beta_k)."""

    def __init__(self, beta_min: float = 0.1, beta_max: float = 20.0, t_min: float = 1e-5):
        super().__init__(t_min)
        self.beta_min, self.beta_max = beta_min, beta_max

    def beta(self, t: Tensor) -> Tensor:
        return self.beta_min + t * (self.beta_max - self.beta_min)

    def log_alpha_bar(self, t: Tensor) -> Tensor:
        """log abar(t) = -int_0^t beta = -(beta_min t + 1/2 (beta_max - beta_min) t^2)."""
        return -(self.beta_min * t + 0.5 * (self.beta_max - self.beta_min) * t**2)

    def drift(self, x, t):
        return -0.5 * _col(self.beta(t), x) * x

    def diffusion(self, t):
        return self.beta(t).sqrt()

    def marginal(self, t):
        la = self.log_alpha_bar(t)
        return torch.exp(0.5 * la), torch.sqrt(-torch.expm1(la))


class SubVPSDE(VPSDE):
    """sub-VP SDE: the VP drift with diffusion g^2 = beta (1 - abar^2); variance (1 - abar)^2 <= VP's 1 - abar."""

    def diffusion(self, t):
        return torch.sqrt(self.beta(t) * -torch.expm1(2 * self.log_alpha_bar(t)))

    def marginal(self, t):
        la = self.log_alpha_bar(t)
        return torch.exp(0.5 * la), -torch.expm1(la)


class ScheduleVPSDE(VPSDE):
    """The VP SDE of a discrete schedule: abar(t) and beta(t) from `NoiseSchedule.log_alpha_bar_t` / `beta_t`."""

    def __init__(self, schedule, t_min: float = 1e-5):
        super().__init__(t_min=t_min)
        self.schedule = schedule

    def beta(self, t):
        return self.schedule.beta_t(t)

    def log_alpha_bar(self, t):
        return self.schedule.log_alpha_bar_t(t)


class VESDE(SDE):
    """Variance-exploding SDE (NCSN's continuous limit)."""

    def __init__(self, sigma_min: float = 0.01, sigma_max: float = 50.0, t_min: float = 1e-5):
        super().__init__(t_min)
        self.sigma_min, self.sigma_max = sigma_min, sigma_max

    def sigma(self, t: Tensor) -> Tensor:
        return self.sigma_min * (self.sigma_max / self.sigma_min) ** t

    def drift(self, x, t):
        return torch.zeros_like(x)

    def diffusion(self, t):
        return self.sigma(t) * math.sqrt(2 * math.log(self.sigma_max / self.sigma_min))

    def marginal(self, t):
        s2 = self.sigma(t) ** 2 - self.sigma_min**2
        return torch.ones_like(s2), s2.clamp_min(0).sqrt()

    def prior_std(self) -> float:
        return self.sigma_max


def make_sde(name: str, **kw) -> SDE:
    table = {"vp": VPSDE, "subvp": SubVPSDE, "ve": VESDE}
    if name not in table:
        from genzoo.errors import unknown_name

        raise unknown_name("SDE", name, table)
    return table[name](**kw)


def geometric_sigmas(sigma_max: float, sigma_min: float, n: int) -> Tensor:
    """NCSN noise levels sigma_1 > ... > sigma_n, a geometric sequence (Song & Ermon 2019)."""
    return torch.exp(torch.linspace(math.log(sigma_max), math.log(sigma_min), n, dtype=torch.float64))
