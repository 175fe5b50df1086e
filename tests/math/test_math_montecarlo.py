"""Monte Carlo, importance sampling and ESS against known expectations (two-sided)."""

import math

import pytest
import torch
from torch.distributions import Independent, MultivariateNormal, Normal

from genzoo.math import effective_sample_size, importance_sampling, kl_mc, log_mean_exp, mc_estimate


def within(est, exact, k=4.0):
    return bool(((est.mean - exact).abs() < k * est.stderr).all())


def test_mc_estimate_callable_and_distribution():
    # E[X^2] = 1 + mu^2 for X ~ N(mu, 1)
    dist = Normal(torch.tensor(1.5, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    est = mc_estimate(lambda x: x.pow(2), dist, 20_000)
    mean, stderr = est  # unpacks
    assert within(est, 1 + 1.5**2)
    assert stderr.item() == pytest.approx(math.sqrt(2 + 4 * 1.5**2) / math.sqrt(20_000), rel=0.05)
    assert not within(est, 1.5**2)  # the other side: forgetting the variance is detected
    g = torch.Generator().manual_seed(3)
    est2 = mc_estimate(lambda x: x.sum(-1), lambda n: torch.rand(n, 3, dtype=torch.float64, generator=g), 10_000)
    assert within(est2, 1.5) and not within(est2, 1.4)


def test_log_mean_exp_stable():
    x = torch.tensor([[1000.0, 1000.0], [-1000.0, -1000.0 + math.log(3.0)]], dtype=torch.float64)
    got = log_mean_exp(x, dim=1)
    assert torch.allclose(got, torch.tensor([1000.0, -1000.0 + math.log(2.0)], dtype=torch.float64))
    assert torch.isfinite(got).all()


def test_importance_sampling_plain_and_self_normalised_unbiased():
    # target p = N(1, 0.5^2); E_p[X] = 1, E_p[X^2] = 1.25; proposal q = N(0, 1.5^2) covers p
    p = Normal(torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64))
    q = Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.5, dtype=torch.float64))
    n = 20_000
    est = importance_sampling(lambda x: x.pow(2), p.log_prob, q, n)
    assert within(est, 1.25)
    assert not within(est, 1.0)
    assert 0.1 * n < est.ess.item() < n
    # self-normalised with an unnormalised target (constant dropped): same expectation
    log_p_unnorm = lambda x: -0.5 * ((x - 1.0) / 0.5).pow(2) + 7.0
    sn = importance_sampling(lambda x: x, log_p_unnorm, q, n, self_normalized=True)
    assert within(sn, 1.0)
    assert not within(sn, 1.1)
    # the other side: the plain estimator needs a normalised target, the unnormalised one is off by e^7 * const
    bad = importance_sampling(lambda x: x, log_p_unnorm, q, n)
    assert not within(bad, 1.0)


def test_importance_sampling_multivariate_batched_f():
    p = MultivariateNormal(torch.tensor([0.5, -1.0], dtype=torch.float64), torch.eye(2, dtype=torch.float64) * 0.3)
    q = Independent(Normal(torch.zeros(2, dtype=torch.float64), torch.full((2,), 1.2, dtype=torch.float64)), 1)
    est = importance_sampling(lambda x: x, p.log_prob, q, 30_000, self_normalized=True)
    assert est.mean.shape == (2,)
    assert within(est, torch.tensor([0.5, -1.0], dtype=torch.float64))


def test_ess_equal_and_dominant_weights():
    n = 1000
    assert effective_sample_size(torch.zeros(n)).item() == pytest.approx(n, rel=1e-5)
    assert effective_sample_size(torch.full((n,), -5000.0, dtype=torch.float64)).item() == pytest.approx(n)
    lw = torch.full((n,), -50.0, dtype=torch.float64)
    lw[3] = 0.0
    assert effective_sample_size(lw).item() == pytest.approx(1.0, abs=1e-6)
    assert effective_sample_size(lw).item() != pytest.approx(n, rel=0.5)
    # two equal dominant weights: 2; batched over rows
    lw2 = torch.stack([lw, lw.clone().index_fill_(0, torch.tensor([7]), 0.0)])
    assert torch.allclose(effective_sample_size(lw2), torch.tensor([1.0, 2.0], dtype=torch.float64), atol=1e-6)


def test_kl_mc_matches_closed_form_for_distributions():
    q = Normal(torch.tensor([0.0, 1.0], dtype=torch.float64), torch.tensor([1.0, 0.5], dtype=torch.float64))
    p = Normal(torch.tensor([0.5, 0.0], dtype=torch.float64), torch.tensor([2.0, 1.0], dtype=torch.float64))
    exact = torch.distributions.kl_divergence(q, p)
    est = kl_mc(q, p, 20_000)
    assert est.mean.shape == (2,)
    assert within(est, exact)
    assert not within(est, torch.distributions.kl_divergence(p, q))


R = 20_000  # independent replicates, drawn in one batched call


def _replicates():
    p = Normal(torch.tensor(1.0, dtype=torch.float64), torch.tensor(0.5, dtype=torch.float64))
    q = Normal(torch.zeros(R, dtype=torch.float64), torch.full((R,), 1.5, dtype=torch.float64))
    return p, q


def test_plain_importance_sampling_is_unbiased_and_self_normalised_is_not():
    """Averaged over 20,000 replicates of n = 4 samples, the plain estimator's mean is E_p[X] = 1 within its
    standard error; the self-normalised ratio estimator has an O(1/n) bias that the same check detects."""
    torch.manual_seed(0)
    p, q = _replicates()
    plain = importance_sampling(lambda x: x, p.log_prob, q, 4).mean
    assert plain.shape == (R,)
    assert abs(plain.mean().item() - 1.0) < 4 * plain.std().item() / math.sqrt(R)
    sn = importance_sampling(lambda x: x, p.log_prob, q, 4, self_normalized=True).mean
    assert abs(sn.mean().item() - 1.0) > 10 * sn.std().item() / math.sqrt(R)


def test_standard_errors_are_calibrated():
    """The reported stderr^2 averages to the actual variance of the estimate across replicates (plain Monte Carlo
    and plain IS: s^2 / n is unbiased for it), and the self-normalised delta-method stderr gives ~95% coverage."""
    torch.manual_seed(1)
    mc = mc_estimate(lambda x: x.pow(2), Normal(torch.zeros(R, dtype=torch.float64), 1.0), 10)
    assert mc.stderr.pow(2).mean().item() == pytest.approx(mc.mean.var().item(), rel=0.05)
    assert mc.mean.var().item() == pytest.approx(2 / 10, rel=0.05)  # Var(X^2) / n = 2 / n
    p, q = _replicates()
    plain = importance_sampling(lambda x: x, p.log_prob, q, 50)
    assert plain.stderr.pow(2).mean().item() == pytest.approx(plain.mean.var().item(), rel=0.05)
    # the other side: a stderr of s / n instead of s / sqrt(n) is far from calibrated
    assert (plain.stderr.pow(2) / 50).mean().item() != pytest.approx(plain.mean.var().item(), rel=0.5)
    sn = importance_sampling(lambda x: x, p.log_prob, q, 50, self_normalized=True)
    coverage = ((sn.mean - 1.0).abs() < 1.96 * sn.stderr).double().mean().item()
    assert 0.92 < coverage < 0.97
    assert not 0.92 < ((sn.mean - 1.0).abs() < 1.96 * sn.stderr / 2).double().mean().item() < 0.97  # the other side
