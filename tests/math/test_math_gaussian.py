"""Diagonal-Gaussian closed forms against torch.distributions, scipy and Monte Carlo (two-sided)."""

import math

import numpy as np
import pytest
import scipy.stats
import torch
from torch.distributions import Independent, Normal, kl_divergence

from genzoo.math import gaussian_entropy, gaussian_kl, gaussian_log_prob, kl_mc, reparameterize


def close(a, b, tol=1e-10):
    return bool(torch.allclose(torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64),
                               rtol=tol, atol=tol))


def diag(mu, logvar):
    return Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)


def test_gaussian_kl_standard_prior_matches_torch():
    mu, logvar = torch.randn(5, 3, dtype=torch.float64), torch.randn(5, 3, dtype=torch.float64)
    ref = kl_divergence(diag(mu, logvar), diag(torch.zeros_like(mu), torch.zeros_like(logvar)))
    got = gaussian_kl(mu, logvar)
    assert got.shape == (5,) and close(got, ref)
    # the other side: a sign slip in the variance term is caught
    wrong = -0.5 * (1 + logvar - mu.pow(2) + logvar.exp()).sum(-1)
    assert not close(wrong, ref, tol=1e-3)


def test_gaussian_kl_nonstandard_prior_matches_torch_and_mc():
    g = torch.Generator().manual_seed(1)
    mu_q, lv_q, mu_p, lv_p = (torch.randn(4, 2, dtype=torch.float64, generator=g) for _ in range(4))
    ref = kl_divergence(diag(mu_q, lv_q), diag(mu_p, lv_p))
    got = gaussian_kl(mu_q, lv_q, mu_p, lv_p)
    assert close(got, ref)
    est = kl_mc(diag(mu_q, lv_q), diag(mu_p, lv_p), 20_000)
    assert est.mean.shape == (4,)
    assert bool(((est.mean - got).abs() < 4 * est.stderr).all())
    # the other side: the reversed KL is a different number, outside the Monte Carlo error
    rev = gaussian_kl(mu_p, lv_p, mu_q, lv_q)
    assert not bool(((est.mean - rev).abs() < 4 * est.stderr).all())
    assert not close(got, rev, tol=1e-3)


def test_gaussian_entropy_matches_torch():
    logvar = torch.randn(6, 4, dtype=torch.float64)
    ref = diag(torch.zeros_like(logvar), logvar).entropy()
    assert close(gaussian_entropy(logvar), ref)
    assert not close(gaussian_entropy(logvar), ref + 0.5, tol=1e-3)


def test_gaussian_log_prob_matches_scipy():
    x, mu, logvar = (torch.randn(7, 3, dtype=torch.float64) for _ in range(3))
    got = gaussian_log_prob(x, mu, logvar)
    ref = [scipy.stats.multivariate_normal(m, np.diag(np.exp(v))).logpdf(xi)
           for xi, m, v in zip(x.numpy(), mu.numpy(), logvar.numpy())]
    assert close(got, ref)
    # scalar logvar broadcasts
    assert close(gaussian_log_prob(x, mu, 0.0), scipy.stats.multivariate_normal(np.zeros(3)).logpdf(
        (x - mu).numpy()))
    # the other side: logvar is a log-variance, not a log-std
    wrong = [scipy.stats.multivariate_normal(m, np.diag(np.exp(2 * v))).logpdf(xi)
             for xi, m, v in zip(x.numpy(), mu.numpy(), logvar.numpy())]
    assert not close(got, wrong, tol=1e-3)


def test_reparameterize_moments_and_gradient():
    mu = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    logvar = torch.tensor([0.0, 2.0 * np.log(3.0)], dtype=torch.float64, requires_grad=True)
    n = 200_000
    z = reparameterize(mu.expand(n, 2), logvar.expand(n, 2), generator=torch.Generator().manual_seed(0))
    m, v = z.mean(0).detach(), z.var(0).detach()
    se_m = torch.sqrt(torch.tensor([1.0, 9.0], dtype=torch.float64) / n)
    assert bool(((m - mu.detach()).abs() < 4 * se_m).all())
    assert close(v, [1.0, 9.0], tol=2e-2)
    assert not close(v, [1.0, 3.0], tol=2e-2)  # std 3, variance 9
    z.mean(0).sum().backward()
    assert close(mu.grad, [1.0, 1.0])  # dz/dmu = 1
    assert logvar.grad is not None and logvar.grad.abs().max().item() < 0.05  # d E[z] / d logvar = 0
    # d/dlogvar E[z^2] = var: the gradient of the second moment flows through the noise
    mu.grad, logvar.grad = None, None
    z2 = reparameterize(mu.expand(n, 2), logvar.expand(n, 2), generator=torch.Generator().manual_seed(1))
    z2.pow(2).mean(0).sum().backward()
    assert close(logvar.grad, [1.0, 9.0], tol=3e-2)


def test_gaussian_kl_stable_for_large_log_variances_in_float32():
    # equal large log-variances: KL is exactly the mean term; e^100 overflows float32, the ratio e^0 does not
    lv = torch.full((3,), 100.0)
    mu_q, mu_p = torch.zeros(3), torch.zeros(3)
    assert gaussian_kl(mu_q, lv, mu_p, lv).item() == 0.0
    ref = gaussian_kl(mu_q.double(), lv.double() + 1.0, mu_p.double(), lv.double())  # ratio e^1 per dim
    got = gaussian_kl(mu_q, lv + 1.0, mu_p, lv)
    assert got.dtype == torch.float32 and torch.isfinite(got)
    assert got.item() == pytest.approx(ref.item(), rel=1e-6)
    assert ref.item() == pytest.approx(1.5 * (math.e - 2.0), rel=1e-12)  # 3 * 1/2 (e - 1 - 1)
    # the other side: the naive product form overflows
    naive = 0.5 * (lv - (lv + 1.0) + (lv + 1.0).exp() * torch.exp(-lv) - 1.0).sum()
    assert not torch.isfinite(naive) or abs(naive.item() - ref.item()) > 1e-3
    # and tiny differences keep their precision: KL ~ d^2 / 4 per dim for logvar_q - logvar_p = d
    d = 1e-4
    small = gaussian_kl(torch.zeros(1, dtype=torch.float64), torch.full((1,), d, dtype=torch.float64))
    assert small.item() == pytest.approx(0.5 * (math.expm1(d) - d), rel=1e-9)


def test_reparameterize_broadcasts_independent_noise():
    # a shared mean (2,) with a batch of log-variances (n, 2): every row must get its own noise
    n = 20_000
    mu = torch.tensor([0.5, -1.0], dtype=torch.float64)
    logvar = torch.zeros(n, 2, dtype=torch.float64)
    z = reparameterize(mu, logvar, generator=torch.Generator().manual_seed(0))
    assert z.shape == (n, 2)
    assert close(z.var(0), [1.0, 1.0], tol=0.05)
    assert not close(z.var(0), [0.0, 0.0], tol=0.05)  # the other side: one noise vector shared by all rows
    z2 = reparameterize(mu.expand(n, 2), torch.zeros(2, dtype=torch.float64), generator=torch.Generator())
    assert z2.shape == (n, 2) and z2.var(0).min().item() > 0.9
