"""GMM math: EM iterates equal scikit-learn's from the same start (float64, 1e-6), the log-likelihood never
decreases, log_prob equals scipy's mixture density, sampling moments within Monte-Carlo error, the 2-D density
integrates to 1, k-means++ draws by D^2, and the Trainer's step is the stepwise-EM update."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from genzoo.models import create
from genzoo.models.classical import kmeans_plusplus
from genzoo.train import TrainConfig, Trainer


def blobs(n=600, seed=0):
    g = torch.Generator().manual_seed(seed)
    centres = torch.tensor([[0.0, 0.0], [3.0, 1.0], [-1.0, 3.0]], dtype=torch.float64)
    a = torch.tensor([[1.0, 0.6], [0.0, 0.5]], dtype=torch.float64)
    x = centres[torch.arange(n) % 3] + torch.randn(n, 2, generator=g, dtype=torch.float64) @ a
    return x


def init_params(cov_type, k=3, d=2, seed=1):
    g = np.random.default_rng(seed)
    w = g.uniform(0.5, 1.5, k)
    w /= w.sum()
    mu = g.normal(0, 2, (k, d))
    if cov_type == "full":
        m = g.normal(0, 0.5, (k, d, d))
        cov = m @ m.transpose(0, 2, 1) + np.eye(d)
    else:
        cov = g.uniform(0.5, 2.0, (k, d))
    return w, mu, cov


@pytest.mark.parametrize("cov_type", ["diag", "full"])
def test_em_iterates_equal_scikit_learn(cov_type):
    from sklearn.mixture import GaussianMixture

    x = blobs()
    w, mu, cov = init_params(cov_type)
    prec = np.linalg.inv(cov) if cov_type == "full" else 1.0 / cov
    sk = GaussianMixture(3, covariance_type=cov_type, max_iter=1, tol=0.0, weights_init=w, means_init=mu,
                         precisions_init=prec, warm_start=True, init_params="random_from_data", reg_covar=1e-6)
    m = create("gmm", components=3, covariance=cov_type, data_shape=(2,)).double()
    m.set_parameters(torch.from_numpy(w), torch.from_numpy(mu), torch.from_numpy(cov))
    lls = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ConvergenceWarning: one iteration per call, by design
        for _ in range(15):
            sk.fit(x.numpy())
            trace = m.fit(x, 1)
            ll = float(m.log_prob(x).mean())
            assert ll == pytest.approx(sk.score(x.numpy()), abs=1e-6)
            assert trace[-1] == pytest.approx(ll, abs=1e-12)
            np.testing.assert_allclose(m.weights.detach().numpy(), sk.weights_, atol=1e-6)
            np.testing.assert_allclose(m.means.detach().numpy(), sk.means_, atol=1e-6)
            np.testing.assert_allclose(m.covariances.detach().numpy(), sk.covariances_, atol=1e-6)
            lls.append(ll)
    assert all(b >= a - 1e-12 for a, b in zip(lls, lls[1:])), lls


def test_a_wrong_m_step_is_caught():
    """The comparison above can fail: a GMM whose reg_covar differs from scikit-learn's drifts beyond 1e-6."""
    from sklearn.mixture import GaussianMixture

    x = blobs()
    w, mu, cov = init_params("full")
    sk = GaussianMixture(3, max_iter=3, tol=0.0, weights_init=w, means_init=mu, precisions_init=np.linalg.inv(cov),
                         init_params="random_from_data", reg_covar=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        sk.fit(x.numpy())
    m = create("gmm", components=3, data_shape=(2,), reg_covar=1e-2).double()
    m.set_parameters(torch.from_numpy(w), torch.from_numpy(mu), torch.from_numpy(cov))
    m.fit(x, 3)
    assert abs(float(m.log_prob(x).mean()) - sk.score(x.numpy())) > 1e-6


@pytest.mark.parametrize("cov_type", ["diag", "full"])
def test_fit_from_kmeans_plusplus_never_decreases(cov_type):
    x = blobs(seed=3).float()
    m = create("gmm", components=4, covariance=cov_type, data_shape=(2,), seed=2)
    trace = m.fit(x, 30)
    assert all(b >= a - 1e-4 for a, b in zip(trace, trace[1:])), trace
    assert trace[-1] > trace[0]


@pytest.mark.parametrize("cov_type", ["diag", "full"])
def test_log_prob_equals_scipy_mixture(cov_type):
    from scipy.stats import multivariate_normal

    w, mu, cov = init_params(cov_type, k=4, d=3, seed=5)
    m = create("gmm", components=4, covariance=cov_type, data_shape=(3,)).double()
    m.set_parameters(torch.from_numpy(w), torch.from_numpy(mu), torch.from_numpy(cov))
    x = np.random.default_rng(0).normal(0, 2, (50, 3))
    full = cov if cov_type == "full" else np.stack([np.diag(c) for c in cov])
    ref = np.log(sum(w[k] * multivariate_normal(mu[k], full[k]).pdf(x) for k in range(4)))
    np.testing.assert_allclose(m.log_prob(torch.from_numpy(x)).detach().numpy(), ref, rtol=0, atol=1e-9)
    r = m.responsibilities(torch.from_numpy(x)).detach().numpy()
    ref_r = np.stack([w[k] * multivariate_normal(mu[k], full[k]).pdf(x) for k in range(4)], 1)
    np.testing.assert_allclose(r, ref_r / ref_r.sum(1, keepdims=True), atol=1e-9)


@pytest.mark.parametrize("cov_type", ["diag", "full"])
def test_sample_moments_within_monte_carlo_error(cov_type):
    w, mu, cov = init_params(cov_type, seed=7)
    m = create("gmm", components=3, covariance=cov_type, data_shape=(2,)).double()
    m.set_parameters(torch.from_numpy(w), torch.from_numpy(mu), torch.from_numpy(cov))
    n = 40000
    s = m.sample(n, generator=torch.Generator().manual_seed(0)).numpy()
    full = cov if cov_type == "full" else np.stack([np.diag(c) for c in cov])
    mean = (w[:, None] * mu).sum(0)
    second = sum(w[k] * (full[k] + np.outer(mu[k], mu[k])) for k in range(3))
    var = np.diag(second) - mean**2
    assert np.all(np.abs(s.mean(0) - mean) < 4 * np.sqrt(var / n))
    # the covariance: each entry's standard error from the fourth moments, estimated from the sample
    c = s - s.mean(0)
    cov_hat = c.T @ c / n
    prod = c[:, :, None] * c[:, None, :]
    se = prod.std(0) / np.sqrt(n)
    assert np.all(np.abs(cov_hat - (second - np.outer(mean, mean))) < 5 * se)
    # mixing proportions: E_p[r_k(x)] = pi_k exactly, with variance at most pi_k (1 - pi_k) / n
    r = m.responsibilities(torch.from_numpy(s)).mean(0).detach().numpy()
    assert np.all(np.abs(r - w) < 4 * np.sqrt(w * (1 - w) / n))


@pytest.mark.parametrize("cov_type", ["diag", "full"])
def test_density_integrates_to_one_on_a_grid(cov_type):
    w, mu, cov = init_params(cov_type, seed=9)
    m = create("gmm", components=3, covariance=cov_type, data_shape=(2,)).double()
    m.set_parameters(torch.from_numpy(w), torch.from_numpy(mu), torch.from_numpy(cov))
    lo, hi, n = -14.0, 14.0, 701
    t = torch.linspace(lo, hi, n, dtype=torch.float64)
    grid = torch.cartesian_prod(t, t)
    h = (hi - lo) / (n - 1)
    mass = float(m.log_prob(grid).exp().sum()) * h * h
    assert mass == pytest.approx(1.0, abs=1e-6)


def test_kmeans_plusplus_draws_by_squared_distance():
    """Second centre: P(x_n) = D(x_n)^2 / sum D^2 given the first; checked over seeds with binomial errors."""
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [0.0, 2.0]])
    hits = torch.zeros(4, 4)
    firsts = torch.zeros(4)
    trials = 4000
    for seed in range(trials):
        c = kmeans_plusplus(x, 2, torch.Generator().manual_seed(seed))
        i, j = [int((x == r).all(1).nonzero()) for r in c]
        firsts[i] += 1
        hits[i, j] += 1
    assert torch.all((firsts / trials - 0.25).abs() < 4 * math.sqrt(0.25 * 0.75 / trials))
    d2 = torch.cdist(x, x).pow(2)
    for i in range(4):
        p = d2[i] / d2[i].sum()
        f = hits[i] / firsts[i]
        assert torch.all((f - p).abs() <= 4 * torch.sqrt(p * (1 - p) / firsts[i]) + 1e-9), (i, f, p)
    assert hits.diagonal().sum() == 0  # a chosen point (D = 0) is never drawn again


def test_trainer_step_is_the_stepwise_em_update():
    """One Trainer step with lr rho moves the statistics to (1 - rho) s + rho s_hat(batch)."""
    x = blobs(64).float()
    m = create("gmm", components=3, data_shape=(2,))
    m.initialise(x)
    before = {k: v.detach().clone() for k, v in m.stats().items()}
    target, lp = m.e_step(x)
    t = Trainer(m, x, TrainConfig(steps=1, batch_size=64, lr=0.3, progress=False, device="cpu", seed=0,
                                  schedule="constant"))
    t.fit()
    for k, p in m.stats().items():
        torch.testing.assert_close(p.detach(), 0.7 * before[k] + 0.3 * target[k], rtol=1e-5, atol=1e-6)
    assert t.history[-1]["model/loss"] == pytest.approx(float(-lp.mean()), rel=1e-6)


def test_trainer_fits_grid25():
    from genzoo.data import get

    ds = get("grid25", n=20000, seed=0)
    m = create("gmm", components=25, data_shape=(2,))
    Trainer(m, ds, TrainConfig(steps=40, progress=False, device="cpu")).fit()
    ll = float(m.log_prob(ds.x[:4000]).mean())
    # the true density: 25 equal isotropic Gaussians, std 0.05 -> entropy log 25 + log(2 pi e 0.05^2)
    h = math.log(25) + math.log(2 * math.pi * math.e * 0.05**2)
    assert ll > -h - 0.5, (ll, -h)
