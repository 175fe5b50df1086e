"""Likelihoods of diffusion models: the variational bound (DDPM) and the exact probability-flow ODE likelihood.

VLB (Ho et al. 2020, eq. 5; Sohl-Dickstein et al. 2015), in nats per example, index k = 0..T-1:
    -log p(x_0) <= L_prior + sum_{k=1}^{T-1} L_k + L_0
    L_prior = KL( q(x_{T-1} | x_0) || N(0, I) )
    L_k     = KL( q(x_{k-1} | x_k, x_0) || p(x_{k-1} | x_k) ),  x_k ~ q(x_k | x_0)
    L_0     = -log p(x_0 | x_1): a discretised Gaussian over 256 bins of [-1, 1] for images (Ho et al. 2020, eq. 13),
              a Gaussian density for continuous data.

PF-ODE log-likelihood (Chen et al. 2018; Grathwohl et al. 2019; Song et al. 2021, app. D.2):
    log p_0(x_0) = log p_1(x_1) + int_{t_min}^1 div f~(x_t, t) dt,   f~ = f - 1/2 g^2 score,
with the divergence exact (one autograd pass per dimension) in low dimension, else Hutchinson's estimator
v^T (d f~ / dx) v with one fixed Rademacher/Gaussian v per example for the whole solve (unbiased); both from
`genzoo.math.trace`, shared with the continuous normalizing flows.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from genzoo.math import gaussian_kl, gaussian_log_prob
from genzoo.math.trace import exact_divergence, hutchinson_divergence, hutchinson_noise
from genzoo.models.diffusion.sde import SDE

_NARROW = 0.1  # a bin with w (|m| + 1) below this is narrow against the normal's local scale


def log_normal_interval_prob(m: Tensor, w: Tensor) -> Tensor:
    """log(Phi(m + w/2) - Phi(m - w/2)): the standard normal mass of a bin of width w > 0 centred at m, stable in
    both tails and in float32, with no clamp.

    By symmetry (Phi(b) - Phi(a) = Phi(-a) - Phi(-b)) the bin is moved to the lower tail, centre -|m|, ends lo < hi.
    Wide bins: log Phi(hi) + log(1 - exp(log Phi(lo) - log Phi(hi))) with torch.special.log_ndtr on both ends and
    log(1 - e^d) as log(-expm1(d)) for d > -ln 2, else log1p(-exp(d)) (Maechler 2012, "Accurately computing
    log(1 - exp(-|a|))"). Narrow bins (w (|m| + 1) < 0.1), where the two log_ndtr values agree to more digits than
    float32 holds: integrating phi(m + u) = phi(m) (1 - m u + (m^2 - 1) u^2 / 2 + ...) over |u| < w/2 gives
    log w + log phi(m) + log(1 + (m^2 - 1) w^2 / 24), off by at most ~ (w (|m| + 1))^4 / 1152 < 1e-7 there.
    Each branch is evaluated at safe inputs where it is not used, so gradients stay finite."""
    m = -m.abs()
    narrow = w * (1 - m) < _NARROW
    lo, hi = m - 0.5 * w, m + 0.5 * w
    log_hi = torch.special.log_ndtr(hi)
    d = torch.where(narrow, -1.0, torch.special.log_ndtr(lo) - log_hi)  # <= 0
    small = d > -math.log(2.0)
    log1mexp = torch.where(small, torch.log(-torch.expm1(torch.where(small, d, -1.0))),
                           torch.log1p(-torch.exp(torch.where(small, -1.0, d))))
    wn, mn = torch.where(narrow, w, _NARROW), torch.where(narrow, m, 0.0)
    series = torch.log(wn) - 0.5 * mn**2 - 0.5 * math.log(2 * math.pi) + torch.log1p((mn**2 - 1) * wn**2 / 24)
    return torch.where(narrow, series, log_hi + log1mexp)


def log_normal_bin_prob(a: Tensor, b: Tensor) -> Tensor:
    """log(Phi(b) - Phi(a)) for a < b (`log_normal_interval_prob` at centre (a + b) / 2, width b - a)."""
    return log_normal_interval_prob(0.5 * (a + b), b - a)


def discretized_gaussian_log_likelihood(x: Tensor, mean: Tensor, log_scale: Tensor, n_bins: int = 256) -> Tensor:
    """Elementwise log P(x) of a Gaussian N(mean, e^{2 log_scale}) discretised to `n_bins` bins of [-1, 1]:
    x = -1 + 2 i / (n_bins - 1); bin i covers [x - 1/(n_bins-1), x + 1/(n_bins-1)], the end bins extend to
    -inf and +inf, so the n_bins probabilities sum to 1 (Ho et al. 2020, eq. 13).

    Worked in float64 (then cast back) except on "mps": torch's float32 log_ndtr has a wrong gradient far in the
    tail (about 4% off at z = -1000, garbage beyond), and the decoder term is trained through."""
    out_dtype = torch.result_type(x, mean)
    if x.device.type != "mps":
        x, mean, log_scale = x.double(), mean.double(), torch.as_tensor(log_scale, device=x.device).double()
    half = 1.0 / (n_bins - 1)
    centered = x - mean
    inv_std = torch.exp(-log_scale)
    log_cdf_plus = torch.special.log_ndtr(inv_std * (centered + half))  # the first bin: (-inf, x + half]
    log_one_minus_cdf_min = torch.special.log_ndtr(-inv_std * (centered - half))  # the last bin: [x - half, inf)
    # the inner bins: centre and width in standard units, each from one product (no difference of close numbers)
    mid = log_normal_interval_prob(inv_std * centered, (2 * half) * inv_std)
    edge = 1e-6
    out = torch.where(x < -1 + edge, log_cdf_plus, torch.where(x > 1 - edge, log_one_minus_cdf_min, mid))
    return out.to(out_dtype)


def ode_log_likelihood(
    sde: SDE,
    score: Callable[[Tensor, Tensor], Tensor],
    x: Tensor,
    exact_trace: bool | None = None,
    rtol: float = 1e-5,
    atol: float = 1e-5,
    method: str = "dopri5",
    noise: str = "rademacher",
    generator: torch.Generator | None = None,
    t_min: float | None = None,
    prior_logp: Callable[[Tensor], Tensor] | None = None,
) -> Tensor:
    """log p_{t_min}(x) in nats per example under the probability-flow ODE (see the module docstring).
    exact_trace None: exact when the data have <= 16 dimensions, Hutchinson above. prior_logp: the density at t = 1
    (default the SDE's prior)."""
    from torchdiffeq import odeint

    t_min = sde.t_min if t_min is None else t_min
    shape = x.shape
    n, d = shape[0], math.prod(shape[1:])
    if exact_trace is None:
        exact_trace = d <= 16
    v = None if exact_trace else hutchinson_noise(shape, noise, generator, x.dtype, x.device)

    def drift(t_scalar):
        def fn(xx):
            tv = torch.full((n,), float(t_scalar), dtype=xx.dtype, device=xx.device)
            return sde.reverse_drift(xx, tv, score(xx, tv), probability_flow=True)

        return fn

    def f(t, state):
        t = min(max(float(t), t_min), sde.T)
        xs = state[: n * d].reshape(shape)
        if exact_trace:
            dx, div = exact_divergence(drift(t), xs)
        else:
            dx, div = hutchinson_divergence(drift(t), xs, v)
        return torch.cat([dx.reshape(-1), div])

    y0 = torch.cat([x.detach().reshape(-1), torch.zeros(n, dtype=x.dtype, device=x.device)])
    ts = torch.tensor([t_min, sde.T], dtype=x.dtype, device=x.device)
    with torch.no_grad():
        opts = dict(step_t=ts) if method in ("dopri5", "dopri8", "bosh3", "fehlberg2", "adaptive_heun") else None
        yT = odeint(f, y0, ts, rtol=rtol, atol=atol, method=method, options=opts)[-1]
    z = yT[: n * d].reshape(shape)
    delta = yT[n * d :]
    return (sde.prior_logp(z) if prior_logp is None else prior_logp(z)) + delta


def prior_kl(schedule, x0: Tensor) -> Tensor:
    """L_prior = KL( q(x_{T-1} | x_0) || N(0, I) ) per example (nats)."""
    k = schedule.T - 1
    mean, var = schedule.q_mean_var(x0, k)
    return gaussian_kl(mean.flatten(1), torch.log(var).expand_as(mean).flatten(1))


def vlb_term(schedule, x0: Tensor, xk: Tensor, k: Tensor, model_mean: Tensor, model_logvar: Tensor,
             discrete: bool) -> Tensor:
    """L_k per example (nats): the KL to the true posterior for k > 0, the decoder NLL -log p(x_0 | x_1) at k = 0
    (discretised over 256 bins when `discrete`, else a Gaussian density)."""
    true_mean, _, true_logvar = schedule.q_posterior(x0, xk, k)
    model_logvar = model_logvar.expand_as(model_mean)
    kl = gaussian_kl(true_mean.flatten(1), true_logvar.expand_as(true_mean).flatten(1),
                     model_mean.flatten(1), model_logvar.flatten(1))
    if discrete:
        nll = -discretized_gaussian_log_likelihood(x0, model_mean, 0.5 * model_logvar).flatten(1).sum(1)
    else:
        nll = -gaussian_log_prob(x0.flatten(1), model_mean.flatten(1), model_logvar.flatten(1))
    return torch.where(k.to(x0.device) == 0, nll, kl)


def vlb_plan(T: int, n: int, steps: int = 0) -> list[tuple[Tensor, float]]:
    """(indices (n,), weight) pairs covering the T terms: all of them (steps = 0), or k = 0 exactly plus one
    uniformly drawn k per stratum of [1, T), weighted by the stratum's size (an unbiased estimate of the sum).

    The at most `steps` strata have geometrically growing widths (edges round(T^(j / steps)), duplicates merged),
    so the large, fast-changing terms at small k sit in narrow strata (the first ones hold a single k and are
    exact) and the flat tail shares wide ones."""
    if steps == 0 or steps >= T - 1:
        return [(torch.full((n,), k, dtype=torch.long), 1.0) for k in range(T)]
    edges = sorted(set(torch.logspace(0, math.log10(T), steps + 1, dtype=torch.float64).round().long().tolist()))
    edges[0], edges[-1] = 1, T
    plan = [(torch.zeros(n, dtype=torch.long), 1.0)]
    for a, b in zip(edges[:-1], edges[1:]):
        if b > a:
            plan.append((torch.randint(a, b, (n,)), float(b - a)))
    return plan


@torch.no_grad()
def vlb_parts(schedule, denoise, x0: Tensor, discrete: bool, var_type: str = "posterior",
              steps: int = 0) -> dict[str, Tensor]:
    """The VLB's parts in nats per example: "prior" L_prior, "decoder" L_0, "middle" sum_{k >= 1} L_k (exact
    over all T - 1 terms for steps = 0, else the stratified estimate of `vlb_plan`) and their "total". The model
    is `denoise(x_k, k) -> Prediction` (its learned log-variance if any, else the fixed `var_type`); x_k ~ q(x_k |
    x_0) is drawn once per term."""
    from genzoo.models.diffusion.samplers import fixed_logvar

    prior = prior_kl(schedule, x0)
    decoder = torch.zeros_like(prior)
    middle = torch.zeros_like(prior)
    for k, w in vlb_plan(schedule.T, x0.shape[0], steps):
        xk = schedule.q_sample(x0, k)
        p = denoise(xk, k)
        mean, _, _ = schedule.q_posterior(p.x0, xk, k)
        logvar = p.logvar if p.logvar is not None else fixed_logvar(schedule, k, xk, var_type)
        term = w * vlb_term(schedule, x0, xk, k, mean, logvar, discrete)
        is0 = k.to(term.device) == 0
        decoder = decoder + torch.where(is0, term, 0.0)
        middle = middle + torch.where(is0, 0.0, term)
    return {"prior": prior, "decoder": decoder, "middle": middle, "total": prior + decoder + middle}


@torch.no_grad()
def vlb(schedule, denoise, x0: Tensor, discrete: bool, var_type: str = "posterior", steps: int = 0) -> Tensor:
    """-log p(x_0) <= L_prior + sum_k L_k (nats per example); see `vlb_parts`."""
    return vlb_parts(schedule, denoise, x0, discrete, var_type, steps)["total"]
