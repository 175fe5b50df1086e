"""Noise schedules against closed forms computed independently here (numpy, float64, from the betas only).

Guards: `test_posterior_matches_bayes` catches an off-by-one previous cumulative alpha (abar_{k-1} with abar_{-1} = 1)
and a wrong posterior variance beta_tilde = beta (1 - abar_prev) / (1 - abar); the broken schedules below prove it.
"""

import math

import numpy as np
import pytest
import torch

from genzoo.models.diffusion.schedule import NoiseSchedule, cosine_alpha_bar

SCHEDULES = [NoiseSchedule.linear(1000), NoiseSchedule.cosine(1000), NoiseSchedule.sigmoid(1000),
             NoiseSchedule.linear(50), NoiseSchedule.cosine(20)]


def bayes_posterior(betas: np.ndarray, x0: float, xk: float):
    """q(x_{k-1} | x_k, x_0) for every k by the product of Gaussians: prior q(x_{k-1} | x_0) and likelihood
    q(x_k | x_{k-1}); at k = 0 the "previous" sample is x_0 itself (mean x_0, variance 0)."""
    alphas = 1 - betas
    ab = np.cumprod(alphas)
    means, variances = [x0], [0.0]
    for k in range(1, len(betas)):
        prior_m, prior_v = math.sqrt(ab[k - 1]) * x0, 1 - ab[k - 1]
        prec = 1 / prior_v + alphas[k] / betas[k]
        v = 1 / prec
        means.append(v * (prior_m / prior_v + math.sqrt(alphas[k]) * xk / betas[k]))
        variances.append(v)
    return np.array(means), np.array(variances)


def posterior_error(sched: NoiseSchedule) -> tuple[float, float]:
    """Max relative error of the schedule's posterior mean and variance against `bayes_posterior`."""
    betas = sched.betas.numpy()
    x0, xk = 0.7, -0.4
    m_ref, v_ref = bayes_posterior(betas, x0, xk)
    k = torch.arange(sched.T)
    m, v, _ = sched.q_posterior(torch.full((sched.T, 1), x0, dtype=torch.float64),
                                torch.full((sched.T, 1), xk, dtype=torch.float64), k)
    m, v = m[:, 0].numpy(), v[:, 0].numpy()
    merr = np.max(np.abs(m - m_ref) / (np.abs(m_ref) + 1e-3))
    verr = np.max(np.abs(v - v_ref) / (v_ref + 1e-12))
    return float(merr), float(verr)


@pytest.mark.parametrize("sched", SCHEDULES, ids=lambda s: f"{s.name}{s.T}")
def test_posterior_matches_bayes(sched):
    merr, verr = posterior_error(sched)
    assert merr < 1e-8 and verr < 1e-8
    # the clipped log-variance: log beta_tilde_1 at k = 0, log beta_tilde_k after
    lv = sched.posterior_log_variance_clipped
    assert torch.allclose(lv[1:], torch.log(sched.posterior_variance[1:]))
    assert lv[0] == lv[1] and torch.isfinite(lv).all()
    assert sched.alphas_cumprod_prev[0] == 1.0


class _OffByOne(NoiseSchedule):
    """A classic bug: abar_prev taken as abar_k (no shift)."""

    def __init__(self, betas):
        super().__init__(betas)
        self.alphas_cumprod_prev = self.alphas_cumprod.clone()
        den = 1 - self.alphas_cumprod
        self.posterior_variance = self.betas * (1 - self.alphas_cumprod_prev) / den
        self.posterior_mean_coef1 = self.betas * self.alphas_cumprod_prev.sqrt() / den
        self.posterior_mean_coef2 = (1 - self.alphas_cumprod_prev) * self.alphas.sqrt() / den


class _WrongVariance(NoiseSchedule):
    """Another: beta_tilde with the ratio inverted, beta (1 - abar) / (1 - abar_prev)."""

    def __init__(self, betas):
        super().__init__(betas)
        self.posterior_variance = self.betas * (1 - self.alphas_cumprod) / (1 - self.alphas_cumprod_prev).clamp_min(
            1e-20)


def test_broken_schedules_fail_the_posterior_test():
    betas = NoiseSchedule.linear(100).betas
    assert max(posterior_error(_OffByOne(betas))) > 1e-3
    assert posterior_error(_WrongVariance(betas))[1] > 1e-3


def _marginal_z(sample, ab: np.ndarray, k: int, n: int = 20000) -> float:
    """Largest |z| of the sample mean and variance of `sample(x0, k)` against sqrt(abar_k) x0 and 1 - abar_k."""
    x0 = torch.full((n, 1), 0.8, dtype=torch.float64)
    x = sample(x0, k)
    m, v = math.sqrt(ab[k]) * 0.8, 1 - ab[k]
    return max(abs(x.mean().item() - m) / math.sqrt(v / n), abs(x.var().item() / v - 1) / math.sqrt(2 / n))


@pytest.mark.parametrize("sched", SCHEDULES[:3], ids=lambda s: s.name)
def test_forward_marginal_samples(sched):
    """q_sample at a few k: sample mean and variance match sqrt(abar) x0 and 1 - abar (independent cumprod); an
    off-by-one abar and a variance used as a standard deviation are rejected."""
    torch.manual_seed(0)
    ab = np.cumprod(1 - sched.betas.numpy())
    for k in (0, 10, sched.T // 2, sched.T - 1):
        assert _marginal_z(sched.q_sample, ab, k) < 4.5
        mean, var = sched.q_mean_var(torch.full((1, 1), 0.8, dtype=torch.float64), k)
        assert math.isclose(mean.item(), math.sqrt(ab[k]) * 0.8, rel_tol=1e-10)
        assert math.isclose(var.item(), 1 - ab[k], rel_tol=1e-10)
    shifted = lambda x0, k: sched.q_sample(x0, k + 1)
    as_std = lambda x0, k: sched.extract(sched.sqrt_alphas_cumprod, k, x0) * x0 + sched.extract(
        1 - sched.alphas_cumprod, k, x0) * torch.randn_like(x0)
    assert _marginal_z(shifted, ab, 10) > 4.5
    assert _marginal_z(as_std, ab, sched.T // 2) > 4.5


@pytest.mark.parametrize("sched", SCHEDULES, ids=lambda s: f"{s.name}{s.T}")
def test_schedule_properties(sched):
    ab = sched.alphas_cumprod
    assert (ab[1:] < ab[:-1]).all() and (ab > 0).all() and (ab < 1).all()
    assert (sched.snr[1:] < sched.snr[:-1]).all()
    assert torch.allclose(sched.snr, ab / (1 - ab))
    assert torch.allclose(ab, torch.cumprod(1 - sched.betas, 0))


def test_cosine_and_sigmoid_match_their_formulas():
    T, s = 1000, 0.008
    sched = NoiseSchedule.cosine(T, s)
    f = lambda t: math.cos((t / T + s) / (1 + s) * math.pi / 2) ** 2
    ref = torch.tensor([f(k + 1) / f(0) for k in range(T)], dtype=torch.float64)
    unclipped = sched.betas < 0.999
    assert torch.allclose(sched.alphas_cumprod[unclipped], ref[unclipped], rtol=1e-9, atol=1e-12)
    assert torch.allclose(cosine_alpha_bar(0.5, s), torch.tensor(f(T / 2) / f(0), dtype=torch.float64))
    # sigmoid (Chen 2023, alg. 1), recomputed here from the formula
    sig = lambda u: 1 / (1 + math.exp(-u))
    g = lambda t: (sig(3.0) - sig(t * 6.0 - 3.0)) / (sig(3.0) - sig(-3.0))
    sched = NoiseSchedule.sigmoid(T)
    ref = torch.tensor([g((k + 1) / T) / g(0.0) for k in range(T)], dtype=torch.float64)
    unclipped = sched.betas < 0.999
    assert torch.allclose(sched.alphas_cumprod[unclipped], ref[unclipped], rtol=1e-9, atol=1e-12)
    # linear: Ho et al.'s endpoints
    lin = NoiseSchedule.linear(1000)
    assert math.isclose(lin.betas[0].item(), 1e-4) and math.isclose(lin.betas[-1].item(), 0.02)


def test_prediction_round_trips():
    sched = NoiseSchedule.cosine(100)
    x0 = torch.randn(64, 3, dtype=torch.float64)
    eps = torch.randn(64, 3, dtype=torch.float64)
    k = torch.randint(0, 100, (64,))
    xk = sched.q_sample(x0, k, eps)
    v = sched.v_target(x0, eps, k)
    for pred, out in (("eps", eps), ("x0", x0), ("v", v)):
        a, b = sched.to_x0_eps(out, xk, k, pred)
        assert torch.allclose(a, x0, atol=1e-8) and torch.allclose(b, eps, atol=1e-8)
        assert torch.allclose(sched.target(pred, x0, eps, k), out)
    assert torch.allclose(sched.eps_to_x0(xk, k, eps), x0, atol=1e-8)
    assert torch.allclose(sched.x0_to_eps(xk, k, x0), eps, atol=1e-8)
    assert torch.allclose(sched.v_to_x0(xk, k, v), x0, atol=1e-8)
    assert torch.allclose(sched.v_to_eps(xk, k, v), eps, atol=1e-8)
    score = sched.eps_to_score(xk, k, eps)
    assert torch.allclose(sched.score_to_eps(xk, k, score), eps)
    # v is the velocity d x / d phi on the circle x = cos(phi) x_0 + sin(phi) eps, phi = atan(s / m)
    # (Salimans & Ho 2022), computed here by a finite difference; a sign-flipped v fails it
    phi = torch.atan2(sched.sqrt_one_minus_alphas_cumprod[k], sched.sqrt_alphas_cumprod[k])[:, None]
    h = 1e-6
    fd = ((torch.cos(phi + h) - torch.cos(phi - h)) * x0 + (torch.sin(phi + h) - torch.sin(phi - h)) * eps) / (2 * h)
    assert torch.allclose(v, fd, atol=1e-7) and not torch.allclose(-v, fd, atol=1e-3)
    # the score of q(x_k | x_0) is -(x_k - sqrt(abar) x_0) / (1 - abar)
    m, var = sched.q_mean_var(x0, k)
    assert torch.allclose(score, -(xk - m) / var, atol=1e-8)


def test_continuous_time_interpolates_the_schedule():
    sched = NoiseSchedule.linear(100)
    sde = sched.sde()
    t = (torch.arange(100, dtype=torch.float64) + 1) / 100
    m, s = sde.marginal(t)
    assert torch.allclose(m, sched.sqrt_alphas_cumprod) and torch.allclose(s, sched.sqrt_one_minus_alphas_cumprod)
    # beta(t) is the derivative of -log abar(t)
    tt = torch.tensor([0.123, 0.5037, 0.871], dtype=torch.float64)
    h = 1e-7
    deriv = -(sched.log_alpha_bar_t(tt + h) - sched.log_alpha_bar_t(tt - h)) / (2 * h)
    assert torch.allclose(deriv, sched.beta_t(tt), rtol=1e-5)
