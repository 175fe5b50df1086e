"""Discrete noise schedules: the one source of truth every DDPM loss and sampler reads from.

Indexing. Timesteps are indexed k = 0, ..., T-1 (as in diffusers and improved-diffusion); index k is Ho et al.'s
t = k + 1. With alpha_k = 1 - beta_k and abar_k = prod_{j <= k} alpha_j:

    forward marginal     q(x_k | x_0)        = N( sqrt(abar_k) x_0, (1 - abar_k) I )
    previous cumulative  abar_prev_k         = abar_{k-1}, and abar_prev_0 := 1 (x_{-1} is the data x_0)
    posterior            q(x_{k-1} | x_k, x_0) = N( c1_k x_0 + c2_k x_k, beta_tilde_k I )
        c1_k = beta_k sqrt(abar_prev_k) / (1 - abar_k),   c2_k = (1 - abar_prev_k) sqrt(alpha_k) / (1 - abar_k)
        beta_tilde_k = beta_k (1 - abar_prev_k) / (1 - abar_k)       (Ho et al. 2020, eqs. 6-7)
    beta_tilde_0 = 0, so its log is clipped to log beta_tilde_1 (Nichol & Dhariwal 2021's "log variance clipped").
    signal-to-noise ratio SNR_k = abar_k / (1 - abar_k)           (Kingma et al. 2021)

Predictions: x_k = sqrt(abar) x_0 + sqrt(1 - abar) eps, v = sqrt(abar) eps - sqrt(1 - abar) x_0 (Salimans & Ho 2022),
score = grad log q(x_k) = -eps / sqrt(1 - abar) (Tweedie; Vincent 2011).

Continuous time. `log_alpha_bar_t(t)`, t in [0, 1], interpolates log abar linearly between the grid points
t_j = j / T (value 0 at t = 0, log abar_{j-1} at t_j). The VP SDE dx = -1/2 beta(t) x dt + sqrt(beta(t)) dW with
beta(t) = -d log abar / dt (piecewise constant, ~ T beta_k) then has the marginals N(sqrt(abar(t)) x_0, 1 - abar(t))
that agree with the discrete schedule at every grid point, so DDPM networks drive the PF-ODE and SDE samplers
of the same schedule (`sde()`). A network's time input is Ho's t = k + 1, i.e. t * T in continuous time.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

SCHEDULES = ("linear", "cosine", "sigmoid")
PREDICTIONS = ("eps", "x0", "v")


def cosine_alpha_bar(t: Tensor | float, s: float = 0.008) -> Tensor:
    """Nichol & Dhariwal (2021, eq. 17): abar(t) = f(t) / f(0), f(t) = cos^2((t + s) / (1 + s) pi / 2), t in [0, 1]."""
    t = torch.as_tensor(t, dtype=torch.float64)
    f = lambda u: torch.cos((u + s) / (1 + s) * math.pi / 2) ** 2
    return f(t) / f(torch.zeros((), dtype=torch.float64))


def sigmoid_alpha_bar(t: Tensor | float, start: float = -3.0, end: float = 3.0, tau: float = 1.0) -> Tensor:
    """Chen (2023, "On the importance of noise scheduling", alg. 1): abar(t) = (-sigmoid((t (end - start) + start)
    / tau) + sigmoid(end / tau)) / (sigmoid(end / tau) - sigmoid(start / tau))."""
    t = torch.as_tensor(t, dtype=torch.float64)
    f64 = dict(dtype=torch.float64)
    v_start, v_end = torch.sigmoid(torch.tensor(start / tau, **f64)), torch.sigmoid(torch.tensor(end / tau, **f64))
    out = (-torch.sigmoid((t * (end - start) + start) / tau) + v_end) / (v_end - v_start)
    return out.to(torch.float64)


def betas_for_alpha_bar(alpha_bar, T: int, max_beta: float = 0.999) -> Tensor:
    """beta_k = min(1 - abar((k+1)/T) / abar(k/T), max_beta) for a continuous abar(t) (Nichol & Dhariwal 2021)."""
    t = torch.arange(T + 1, dtype=torch.float64) / T
    ab = alpha_bar(t)
    return torch.clamp(1 - ab[1:] / ab[:-1], min=0.0, max=max_beta)


def to_x0_eps(out: Tensor, x: Tensor, m: Tensor, s: Tensor, pred: str) -> tuple[Tensor, Tensor]:
    """(x0_hat, eps_hat) from a network output predicting `pred` at a noisy x = m x_0 + s eps (m = sqrt(abar),
    s = sqrt(1 - abar), broadcastable): eps -> x_0 = (x - s eps) / m; x0 -> eps = (x - m x_0) / s;
    v = m eps - s x_0 -> x_0 = m x - s v, eps = s x + m v (m^2 + s^2 = 1). The one place these are written:
    the discrete schedule and the continuous-time score of `ddpm` both call it."""
    if pred == "eps":
        return (x - s * out) / m, out
    if pred == "x0":
        return out, (x - m * out) / s
    if pred == "v":
        return m * x - s * out, s * x + m * out
    raise ValueError(f"pred must be one of {PREDICTIONS}, got {pred!r}")


def _bcast(v: Tensor, x: Tensor) -> Tensor:
    """A per-example vector (N,) or scalar as x's dtype/device, shaped (N, 1, ..., 1) to broadcast against x."""
    v = v.to(device=x.device, dtype=x.dtype)
    if v.dim() == 0:
        return v
    return v.reshape(v.shape[0], *([1] * (x.dim() - 1)))


class NoiseSchedule:
    """A discrete variance-preserving schedule, built from its betas (float64). Every derived quantity is a
    property of `betas`, computed once here (see the module docstring for the formulas and the indexing)."""

    def __init__(self, betas: Tensor, name: str = "custom"):
        betas = torch.as_tensor(betas, dtype=torch.float64).flatten()
        if betas.numel() < 1 or not ((betas > 0) & (betas < 1)).all():
            raise ValueError("betas must lie in (0, 1)")
        self.name = name
        self.T = int(betas.numel())
        self.betas = betas
        self.alphas = 1.0 - betas
        self.log_alphas_cumprod = torch.cumsum(torch.log(self.alphas), 0)
        self.alphas_cumprod = torch.exp(self.log_alphas_cumprod)
        # abar_{k-1}, with abar_{-1} := 1 at the first step (the previous "noisy" sample is the data itself)
        self.alphas_cumprod_prev = torch.cat([torch.ones(1, dtype=torch.float64), self.alphas_cumprod[:-1]])
        self.sqrt_alphas_cumprod = self.alphas_cumprod.sqrt()
        self.one_minus_alphas_cumprod = 1.0 - self.alphas_cumprod
        self.sqrt_one_minus_alphas_cumprod = self.one_minus_alphas_cumprod.sqrt()
        self.snr = self.alphas_cumprod / (1.0 - self.alphas_cumprod)
        self.log_snr = torch.log(self.snr)
        den = 1.0 - self.alphas_cumprod
        self.posterior_variance = betas * (1.0 - self.alphas_cumprod_prev) / den
        # beta_tilde_0 = 0: clip its log to beta_tilde_1 (for T = 1 there is nothing else: use beta_0)
        first = self.posterior_variance[1] if self.T > 1 else betas[0]
        self.posterior_log_variance_clipped = torch.log(torch.cat([first.view(1), self.posterior_variance[1:]]))
        self.posterior_mean_coef1 = betas * self.alphas_cumprod_prev.sqrt() / den
        self.posterior_mean_coef2 = (1.0 - self.alphas_cumprod_prev) * self.alphas.sqrt() / den
        # Ho's "fixed large" variance sigma_k^2 = beta_k, with beta_tilde_1 at k = 0 (improved-diffusion)
        self.log_betas_clipped = torch.log(torch.cat([first.view(1), betas[1:]]))
        self.log_betas = torch.log(betas)
        # continuous time: log abar on the grid j / T (0 at t = 0) and beta(t) = -T log alpha_k on each interval
        self.grid_log_abar = torch.cat([torch.zeros(1, dtype=torch.float64), self.log_alphas_cumprod])
        self.beta_rates = -self.T * torch.log(self.alphas)

    # ---- constructors ------------------------------------------------------------------------------------------
    @classmethod
    def linear(cls, T: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02) -> NoiseSchedule:
        """Ho et al. (2020): betas linear from beta_start to beta_end for T = 1000; for other T both ends are
        scaled by 1000 / T so the total noise (and abar_T) stays about the same (improved-diffusion); clipped at
        0.999 for very short schedules (T < ~21)."""
        scale = 1000.0 / T
        betas = torch.linspace(beta_start * scale, beta_end * scale, T, dtype=torch.float64)
        return cls(betas.clamp(max=0.999), "linear")

    @classmethod
    def cosine(cls, T: int = 1000, s: float = 0.008) -> NoiseSchedule:
        """Nichol & Dhariwal (2021): abar from `cosine_alpha_bar`, betas clipped at 0.999."""
        return cls(betas_for_alpha_bar(lambda t: cosine_alpha_bar(t, s), T), "cosine")

    @classmethod
    def sigmoid(cls, T: int = 1000, start: float = -3.0, end: float = 3.0, tau: float = 1.0) -> NoiseSchedule:
        """Chen (2023): abar from `sigmoid_alpha_bar`, betas clipped at 0.999."""
        return cls(betas_for_alpha_bar(lambda t: sigmoid_alpha_bar(t, start, end, tau), T), "sigmoid")

    @classmethod
    def make(cls, name: str, T: int = 1000) -> NoiseSchedule:
        if name not in SCHEDULES:
            from genzoo.errors import unknown_name

            raise unknown_name("noise schedule", name, SCHEDULES)
        return getattr(cls, name)(T)

    # ---- gathering ---------------------------------------------------------------------------------------------
    @staticmethod
    def _k(k: Tensor | int, x: Tensor) -> Tensor:
        """Indices k as a (N,) long tensor on x's device (an int or a 0-d tensor is repeated for every example)."""
        k = torch.as_tensor(k, dtype=torch.long, device=x.device)
        if k.dim() == 0:
            k = k.expand(x.shape[0])
        return k.to(x.device)

    def on(self, arr: Tensor, device: torch.device | str) -> Tensor:
        """`arr` on `device`. The schedule's own tables (its tensor attributes) are copied there once and cached
        per device, so the per-step gathers run on the model's device with no round trip through the CPU; any
        other tensor (one a caller computed) is copied and not cached (so temporaries cannot pile up). On "mps",
        which has no float64, the copy is float32."""
        device = torch.device(device)
        if arr.device == device:
            return arr
        dtype = torch.float32 if device.type == "mps" and arr.dtype == torch.float64 else arr.dtype
        name = next((n for n, v in vars(self).items() if v is arr), None)
        if name is None:
            return arr.to(device=device, dtype=dtype)
        cache = self.__dict__.setdefault("_device_cache", {})
        hit = cache.get((name, device))
        if hit is None or hit[0] is not arr:  # first use on this device, or the attribute was replaced
            hit = cache[(name, device)] = (arr, arr.to(device=device, dtype=dtype))
        return hit[1]

    def extract(self, arr: Tensor, k: Tensor | int, x: Tensor) -> Tensor:
        """arr[k] as x's dtype and device, shaped to broadcast against x (k: int or (N,) long, on any device)."""
        return _bcast(self.on(arr, x.device)[self._k(k, x)], x)

    # ---- forward process ---------------------------------------------------------------------------------------
    def q_mean_var(self, x0: Tensor, k) -> tuple[Tensor, Tensor]:
        """Mean sqrt(abar_k) x_0 and variance (1 - abar_k) of q(x_k | x_0)."""
        return self.extract(self.sqrt_alphas_cumprod, k, x0) * x0, self.extract(self.one_minus_alphas_cumprod, k, x0)

    def q_sample(self, x0: Tensor, k, noise: Tensor | None = None) -> Tensor:
        """x_k = sqrt(abar_k) x_0 + sqrt(1 - abar_k) eps."""
        if noise is None:
            noise = torch.randn_like(x0)
        return self.extract(self.sqrt_alphas_cumprod, k, x0) * x0 + self.extract(
            self.sqrt_one_minus_alphas_cumprod, k, x0
        ) * noise

    def q_posterior(self, x0: Tensor, xk: Tensor, k) -> tuple[Tensor, Tensor, Tensor]:
        """Mean, variance and clipped log-variance of q(x_{k-1} | x_k, x_0)."""
        c1, c2 = self.extract(self.posterior_mean_coef1, k, xk), self.extract(self.posterior_mean_coef2, k, xk)
        var = self.extract(self.posterior_variance, k, xk)
        return c1 * x0 + c2 * xk, var, self.extract(self.posterior_log_variance_clipped, k, xk)

    # ---- conversions between predictions (all through `to_x0_eps`) -----------------------------------------------
    def _ms(self, k, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.extract(self.sqrt_alphas_cumprod, k, x), self.extract(self.sqrt_one_minus_alphas_cumprod, k, x)

    def eps_to_x0(self, xk: Tensor, k, eps: Tensor) -> Tensor:
        return to_x0_eps(eps, xk, *self._ms(k, xk), "eps")[0]

    def x0_to_eps(self, xk: Tensor, k, x0: Tensor) -> Tensor:
        return to_x0_eps(x0, xk, *self._ms(k, xk), "x0")[1]

    def v_target(self, x0: Tensor, eps: Tensor, k) -> Tensor:
        """v = sqrt(abar) eps - sqrt(1 - abar) x_0."""
        m, s = self._ms(k, x0)
        return m * eps - s * x0

    def v_to_x0(self, xk: Tensor, k, v: Tensor) -> Tensor:
        """x_0 = sqrt(abar) x_k - sqrt(1 - abar) v."""
        return to_x0_eps(v, xk, *self._ms(k, xk), "v")[0]

    def v_to_eps(self, xk: Tensor, k, v: Tensor) -> Tensor:
        """eps = sqrt(1 - abar) x_k + sqrt(abar) v."""
        return to_x0_eps(v, xk, *self._ms(k, xk), "v")[1]

    def eps_to_score(self, xk: Tensor, k, eps: Tensor) -> Tensor:
        """score = -eps / sqrt(1 - abar_k)."""
        return -eps / self.extract(self.sqrt_one_minus_alphas_cumprod, k, xk)

    def score_to_eps(self, xk: Tensor, k, score: Tensor) -> Tensor:
        return -score * self.extract(self.sqrt_one_minus_alphas_cumprod, k, xk)

    def target(self, pred: str, x0: Tensor, eps: Tensor, k) -> Tensor:
        """The regression target of a network predicting `pred` ("eps", "x0" or "v")."""
        if pred == "eps":
            return eps
        if pred == "x0":
            return x0
        if pred == "v":
            return self.v_target(x0, eps, k)
        raise ValueError(f"pred must be one of {PREDICTIONS}, got {pred!r}")

    def to_x0_eps(self, out: Tensor, xk: Tensor, k, pred: str) -> tuple[Tensor, Tensor]:
        """(x0_hat, eps_hat) from a network output that predicts `pred` (module-level `to_x0_eps`)."""
        return to_x0_eps(out, xk, *self._ms(k, xk), pred)

    # ---- continuous time ---------------------------------------------------------------------------------------
    def _grid_log_abar(self) -> Tensor:
        return self.grid_log_abar

    def log_alpha_bar_t(self, t: Tensor) -> Tensor:
        """log abar(t), t in [0, 1]: linear interpolation of (j / T, log abar_{j-1}), log abar at t = 0 is 0."""
        t = torch.as_tensor(t)
        grid = self.on(self.grid_log_abar, t.device)
        u = (t.to(torch.float64) * self.T).clamp(0, self.T)
        j = u.floor().long().clamp(max=self.T - 1)
        w = u - j
        return ((1 - w) * grid[j] + w * grid[j + 1]).to(t.dtype if t.is_floating_point() else torch.float64)

    def beta_t(self, t: Tensor) -> Tensor:
        """beta(t) = -d log abar(t) / dt = -T log(alpha_k) on ((k) / T, (k+1) / T]."""
        t = torch.as_tensor(t)
        rates = self.on(self.beta_rates, t.device)
        k = (torch.ceil(t.to(torch.float64) * self.T) - 1).long().clamp(0, self.T - 1)
        return rates[k].to(t.dtype if t.is_floating_point() else torch.float64)

    def sde(self):
        """The VP SDE whose marginals interpolate this schedule (see the module docstring)."""
        from genzoo.models.diffusion.sde import ScheduleVPSDE

        return ScheduleVPSDE(self)

    def __repr__(self) -> str:
        return f"NoiseSchedule({self.name!r}, T={self.T})"
