"""Samplers. Each takes the schedule (or SDE) and a prediction function, so a trained network and a closed-form
score (the tests' Gaussian data) are sampled by the same code.

Discrete-time (a `NoiseSchedule`, `denoise(x, k) -> Prediction(x0, eps, logvar or None)`, k: (N,) long indices):
    ddpm_sample   ancestral: x_{k-1} ~ N( posterior mean(x0_hat, x_k), sigma_k^2 )      (Ho et al. 2020, alg. 2)
    ddim_sample   x_{k'} = sqrt(abar_k') x0_hat + sqrt(1 - abar_k' - s^2) eps_hat + s z,
                  s = eta sqrt((1 - abar_k') / (1 - abar_k)) sqrt(1 - abar_k / abar_k')   (Song, Meng, Ermon 2021)
    ddim_invert   the eta = 0 update solved for x_k given x_k': data x_0 -> the latent x_T that ddim_sample maps
                  back to x_0 (DDIM inversion, Song et al. 2021, sec. 4.3), by fixed-point iteration
Continuous-time (an `SDE`, `score(x, t) -> grad log p_t(x)`, t: (N,) float):
    pf_ode_sample            dx/dt = f - 1/2 g^2 score, t: 1 -> t_min, adaptive dopri5 (torchdiffeq)
    reverse_sde_sample       Euler-Maruyama on dx = [f - g^2 score] dt + g dW_bar
    predictor_corrector      reverse-diffusion predictor + Langevin corrector with target SNR r (Song et al. 2021)
Noise-conditional (a list of sigmas, `score(x, i)` at level i):
    annealed_langevin        x <- x + a_i / 2 score + sqrt(a_i) z, a_i = eps sigma_i^2 / sigma_L^2 (Song & Ermon 2019)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

from genzoo.models.diffusion.schedule import NoiseSchedule
from genzoo.models.diffusion.sde import SDE, _col


class Prediction(NamedTuple):
    x0: Tensor
    eps: Tensor
    logvar: Tensor | None = None  # a learned log-variance of p(x_{k-1} | x_k), else the sampler's fixed choice


def _randn(shape, generator, like: Tensor | None = None, device=None, dtype=torch.float32) -> Tensor:
    if like is not None:
        device, dtype = like.device, like.dtype
    if generator is not None and generator.device.type != torch.device(device or "cpu").type:
        return torch.randn(shape, generator=generator, dtype=dtype).to(device)
    return torch.randn(shape, generator=generator, device=device, dtype=dtype)


def fixed_logvar(schedule: NoiseSchedule, k, x: Tensor, var_type: str = "posterior") -> Tensor:
    """log sigma_k^2: "posterior" beta_tilde_k (clipped at k = 0) or "beta" beta_k (Ho's two choices)."""
    arr = schedule.posterior_log_variance_clipped if var_type == "posterior" else schedule.log_betas_clipped
    return schedule.extract(arr, k, x)


@torch.no_grad()
def ddpm_sample(
    schedule: NoiseSchedule,
    denoise: Callable[[Tensor, Tensor], Prediction],
    x_T: Tensor,
    var_type: str = "posterior",
    generator: torch.Generator | None = None,
) -> Tensor:
    """Ancestral sampling over all T steps from x_T; no noise is added at the last step (k = 0)."""
    x = x_T
    n = x.shape[0]
    for k in reversed(range(schedule.T)):
        kk = torch.full((n,), k, dtype=torch.long)
        p = denoise(x, kk)
        mean, _, _ = schedule.q_posterior(p.x0, x, kk)
        if k == 0:
            x = mean
            break
        logvar = p.logvar if p.logvar is not None else fixed_logvar(schedule, kk, x, var_type)
        x = mean + torch.exp(0.5 * logvar) * _randn(x.shape, generator, like=x)
    return x


def ddim_timesteps(T: int, steps: int) -> list[int]:
    """`steps` indices in [0, T), evenly spaced, descending from T - 1; more than one step ends at 0. One step is
    [T - 1]: DDIM then maps x_T straight to x0_hat (the old linspace(0, T - 1, 1) gave [0] and returned the noise)."""
    steps = max(1, min(steps, T))
    if steps == 1:
        return [T - 1]
    ks = torch.linspace(0, T - 1, steps).round().long().unique().tolist()
    return sorted(ks, reverse=True)


@torch.no_grad()
def ddim_sample(
    schedule: NoiseSchedule,
    denoise: Callable[[Tensor, Tensor], Prediction],
    x_T: Tensor,
    steps: int = 50,
    eta: float = 0.0,
    generator: torch.Generator | None = None,
) -> Tensor:
    """DDIM on a subsequence of `steps` timesteps; eta = 0 is deterministic, eta = 1 DDPM-like. The last step
    returns x0_hat (abar_prev := 1)."""
    x = x_T
    n = x.shape[0]
    ks = ddim_timesteps(schedule.T, steps)
    for i, k in enumerate(ks):
        kk = torch.full((n,), k, dtype=torch.long)
        p = denoise(x, kk)
        ab = schedule.alphas_cumprod[k]
        ab_prev = schedule.alphas_cumprod[ks[i + 1]] if i + 1 < len(ks) else torch.ones((), dtype=torch.float64)
        sigma = eta * torch.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
        dir_coef = torch.sqrt((1 - ab_prev - sigma**2).clamp_min(0))
        x = ab_prev.sqrt().to(x.dtype) * p.x0 + dir_coef.to(x.dtype) * p.eps
        if sigma > 0:
            x = x + sigma.to(x.dtype) * _randn(x.shape, generator, like=x)
    return x


@torch.no_grad()
def ddim_invert(
    schedule: NoiseSchedule,
    denoise: Callable[[Tensor, Tensor], Prediction],
    x0: Tensor,
    steps: int = 50,
    refine: int = 5,
) -> Tensor:
    """DDIM inversion (Song, Meng & Ermon 2021, sec. 4.3 and 5.4): the latent x_T from which `ddim_sample(...,
    steps, eta=0)` returns x0, on the same timesteps run upwards from the data (abar := 1) to k = T - 1.

    One eta = 0 step from x_k (abar_k) down to x' (abar') is x' = sqrt(abar') x0_hat + sqrt(1 - abar') eps_hat
    with x0_hat = (x_k - sqrt(1 - abar_k) eps_hat) / sqrt(abar_k), eps_hat = eps(x_k, k). Solved for x_k:

        x_k = sqrt(abar_k / abar') (x' - sqrt(1 - abar') eps(x_k, k)) + sqrt(1 - abar_k) eps(x_k, k).

    eps(x_k, k) depends on the unknown x_k: the usual inversion takes eps(x', k) (exact only as the step -> 0);
    `refine` fixed-point iterations x_k <- the right-hand side at eps(x_k, k) then solve the step's equation
    (Pan et al. 2023, "Effective real image editing with accelerated iterative diffusion inversion"), so the
    round trip x0 -> x_T -> x0 is exact up to the iteration's convergence (tests: an analytic Gaussian denoiser,
    50 steps, error < 1e-4 with refine = 5 where refine = 0 leaves > 1e-2). `denoise` must not clip x0_hat
    (clipping is not invertible)."""
    x = x0
    n = x.shape[0]
    ab_cur = torch.ones((), dtype=torch.float64)
    for k in reversed(ddim_timesteps(schedule.T, steps)):
        kk = torch.full((n,), k, dtype=torch.long)
        ab = schedule.alphas_cumprod[k]
        a = (ab / ab_cur).sqrt()
        c = ((1 - ab).sqrt() - a * (1 - ab_cur).sqrt()).to(x.dtype)
        a = a.to(x.dtype)
        x_next = a * x + c * denoise(x, kk).eps
        for _ in range(refine):
            x_next = a * x + c * denoise(x_next, kk).eps
        x, ab_cur = x_next, ab
    return x


def _tvec(t: float | Tensor, x: Tensor) -> Tensor:
    return torch.full((x.shape[0],), float(t), dtype=x.dtype, device=x.device)


@torch.no_grad()
def pf_ode_sample(
    sde: SDE,
    score: Callable[[Tensor, Tensor], Tensor],
    x_T: Tensor,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    method: str = "dopri5",
    t_min: float | None = None,
) -> Tensor:
    """Integrate the probability-flow ODE from t = 1 to t_min (torchdiffeq, adaptive by default)."""
    from torchdiffeq import odeint

    t_min = sde.t_min if t_min is None else t_min
    shape = x_T.shape

    def f(t, y):
        x = y.reshape(shape)
        tv = _tvec(min(max(float(t), t_min), sde.T), x)
        return sde.reverse_drift(x, tv, score(x, tv), probability_flow=True).reshape(-1)

    ts = torch.tensor([sde.T, t_min], dtype=x_T.dtype, device=x_T.device)
    # step_t: land exactly on t_min (dopri5 otherwise steps past the end, where beta(t) may be undefined)
    opts = dict(step_t=ts) if method in ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun") else None
    out = odeint(f, x_T.reshape(-1), ts, rtol=rtol, atol=atol, method=method, options=opts)
    return out[-1].reshape(shape)


@torch.no_grad()
def reverse_sde_sample(
    sde: SDE,
    score: Callable[[Tensor, Tensor], Tensor],
    x_T: Tensor,
    steps: int = 500,
    generator: torch.Generator | None = None,
    t_min: float | None = None,
) -> Tensor:
    """Euler-Maruyama on the reverse SDE over `steps` uniform steps from 1 to t_min; the last step adds no noise
    (the predictor of `predictor_corrector_sample`, without corrector steps)."""
    return predictor_corrector_sample(sde, score, x_T, steps, corrector_steps=0, generator=generator, t_min=t_min)


@torch.no_grad()
def predictor_corrector_sample(
    sde: SDE,
    score: Callable[[Tensor, Tensor], Tensor],
    x_T: Tensor,
    steps: int = 500,
    corrector_steps: int = 1,
    snr: float = 0.16,
    generator: torch.Generator | None = None,
    t_min: float | None = None,
) -> Tensor:
    """Song et al. (2021), alg. 2-5: per step, `corrector_steps` Langevin moves at time t with step size
    a = 2 (r ||z|| / ||score||)^2 (norms averaged over the batch), then a reverse-diffusion (Euler-Maruyama)
    predictor step to the next time. The last predictor step adds no noise."""
    t_min = sde.t_min if t_min is None else t_min
    ts = torch.linspace(sde.T, t_min, steps + 1, dtype=torch.float64)
    x = x_T
    for i in range(steps):
        t, dt = ts[i], ts[i] - ts[i + 1]
        tv = _tvec(t, x)
        for _ in range(corrector_steps):
            s = score(x, tv)
            z = _randn(x.shape, generator, like=x)
            s_norm = s.flatten(1).norm(dim=1).mean()
            z_norm = z.flatten(1).norm(dim=1).mean()
            a = 2 * (snr * z_norm / s_norm.clamp_min(1e-12)) ** 2
            x = x + a * s + torch.sqrt(2 * a) * z
        mean = x - sde.reverse_drift(x, tv, score(x, tv)) * dt.to(x.dtype)
        if i == steps - 1:
            x = mean
        else:
            g = _col(sde.diffusion(tv), x)
            x = mean + g * dt.sqrt().to(x.dtype) * _randn(x.shape, generator, like=x)
    return x


@torch.no_grad()
def annealed_langevin(
    score: Callable[[Tensor, int], Tensor],
    sigmas: Tensor,
    x_init: Tensor,
    steps_per_level: int = 100,
    step_lr: float = 2e-5,
    denoise: bool = True,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Annealed Langevin dynamics (Song & Ermon 2019, alg. 1) over sigmas in decreasing order; with `denoise`,
    a final Tweedie step x + sigma_L^2 score(x, L) removes the last level's noise (Jolicoeur-Martineau 2021)."""
    sigmas = torch.as_tensor(sigmas, dtype=torch.float64)
    x = x_init
    last = float(sigmas[-1])
    for i, sig in enumerate(sigmas.tolist()):
        a = step_lr * (sig / last) ** 2
        for _ in range(steps_per_level):
            z = _randn(x.shape, generator, like=x)
            x = x + 0.5 * a * score(x, i) + a**0.5 * z
    if denoise:
        x = x + last**2 * score(x, len(sigmas) - 1)
    return x
