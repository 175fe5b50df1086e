"""Likelihoods against closed forms: the PF-ODE log-likelihood of Gaussian data (exact trace) equals the Gaussian
log-density within 0.01 nats; Hutchinson's trace is unbiased; the VLB is a bound that becomes tight with the exact
reverse variances; the discretised decoder is a distribution over the 256 bins."""

import math

import pytest
import torch
from closed_form import GaussianMixture, gaussian

from genzoo.math import bits_per_dim
from genzoo.models.diffusion import VESDE, VPSDE, NoiseSchedule, SubVPSDE
from genzoo.models.diffusion.likelihood import (
    discretized_gaussian_log_likelihood,
    exact_divergence,
    hutchinson_divergence,
    hutchinson_noise,
    ode_log_likelihood,
    vlb,
)
from genzoo.models.diffusion.samplers import Prediction

DATA = gaussian()


@pytest.fixture(autouse=True)
def _f64():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


@pytest.mark.parametrize("sde", [VPSDE(), SubVPSDE(), VESDE(0.01, 10.0), NoiseSchedule.linear(1000).sde()],
                         ids=["vp", "subvp", "ve", "ddpm-linear"])
def test_pf_ode_log_likelihood_is_exact(sde):
    x = DATA.sample(16, torch.Generator().manual_seed(0))
    exact = DATA.log_prob(x)
    one = torch.ones(1)
    p1 = lambda z: DATA.log_prob(z, *sde.marginal(one))  # the true p_1 (the model's prior differs by ~1e-2)
    ll = ode_log_likelihood(sde, lambda x, t: DATA.score(x, *sde.marginal(t)), x, exact_trace=True, prior_logp=p1)
    assert (ll - exact).abs().max() < 0.01
    wrong = ode_log_likelihood(sde, lambda x, t: 1.2 * DATA.score(x, *sde.marginal(t)), x, prior_logp=p1)
    assert (wrong - exact).abs().max() > 0.1
    # bits/dim through the one audited conversion
    assert torch.allclose(bits_per_dim(-ll, 2, n_bins=1), -ll / (2 * math.log(2)))


def test_pf_ode_mixture_with_model_prior():
    mix = GaussianMixture([[-1.5, 0.0], [1.5, 0.5]], [[[0.3, 0.1], [0.1, 0.2]], [[0.2, 0.0], [0.0, 0.4]]], [0.3, 0.7])
    x = mix.sample(16, torch.Generator().manual_seed(1))
    sde = VPSDE(beta_max=30.0)  # abar(1) ~ 4e-7: N(0, I) is the prior to within 1e-3 nats
    ll = ode_log_likelihood(sde, lambda x, t: mix.score(x, *sde.marginal(t)), x)
    assert (ll - mix.log_prob(x)).abs().max() < 0.01


def test_hutchinson_is_unbiased():
    torch.manual_seed(0)
    A = torch.randn(10, 10)
    fn = lambda x: torch.tanh(x @ A.T) + 0.3 * x**2
    x = torch.randn(4, 10)
    _, exact = exact_divergence(fn, x)
    # the exact trace against autograd's full Jacobian
    J = torch.stack([torch.autograd.functional.jacobian(fn, x[i : i + 1])[0, :, 0] for i in range(4)])
    assert torch.allclose(exact, torch.diagonal(J, dim1=1, dim2=2).sum(-1))
    for kind in ("rademacher", "gaussian"):
        m = 4000
        xs = x.repeat(m, 1)
        _, est = hutchinson_divergence(fn, xs, hutchinson_noise(xs.shape, kind))
        est = est.reshape(m, 4)
        se = est.std(0) / math.sqrt(m)
        assert ((est.mean(0) - exact).abs() < 4 * se).all()
        assert (se > 0).all()
    # a probe with E[v v^T] = 2 I (Gaussian noise of variance 2) is biased, and the same check rejects it
    _, est = hutchinson_divergence(fn, xs, 2**0.5 * hutchinson_noise(xs.shape, "gaussian"))
    est = est.reshape(m, 4)
    assert ((est.mean(0) - exact).abs() > 4 * est.std(0) / math.sqrt(m)).any()


def test_ode_likelihood_hutchinson_path():
    sde = VPSDE()
    x = DATA.sample(400, torch.Generator().manual_seed(2))
    exact = DATA.log_prob(x)
    one = torch.ones(1)
    ll = ode_log_likelihood(sde, lambda x, t: DATA.score(x, *sde.marginal(t)), x, exact_trace=False,
                            prior_logp=lambda z: DATA.log_prob(z, *sde.marginal(one)), rtol=1e-4, atol=1e-4)
    d = ll - exact
    assert d.mean().abs() < 4 * d.std() / 20 + 0.01


def _optimal(sched, data, exact_var: bool):
    """Optimal denoiser; with exact_var, the exact per-dimension reverse variance of diagonal Gaussian data:
    Var[x_{k-1} | x_k] = beta_tilde_k + c1_k^2 Var[x_0 | x_k] (the true reverse process is then Gaussian)."""
    S = torch.diagonal(data.covs[0])

    def f(x, k):
        m, s = sched.sqrt_alphas_cumprod[k][:, None], sched.sqrt_one_minus_alphas_cumprod[k][:, None]
        x0 = data.denoiser(x, m[:, 0], s[:, 0])
        lv = None
        if exact_var:
            post = S * s**2 / (m**2 * S + s**2)
            lv = torch.log(sched.posterior_variance[k][:, None] + sched.posterior_mean_coef1[k][:, None] ** 2 * post)
        return Prediction(x0, (x - m * x0) / s, lv)

    return f


def test_vlb_is_a_bound_and_tight_with_the_exact_reverse():
    data = GaussianMixture([[0.8, -0.3]], [[[0.5, 0.0], [0.0, 0.3]]])
    sched = NoiseSchedule.linear(200)
    x = data.sample(2000, torch.Generator().manual_seed(3))
    logp = data.log_prob(x)
    n = x.shape[0]
    for var_type in ("posterior", "beta"):
        gap = -vlb(sched, _optimal(sched, data, False), x, discrete=False, var_type=var_type) - logp
        assert gap.mean() < 2 * gap.std() / math.sqrt(n)  # E[VLB] <= E[log p]
        assert gap.mean() < -0.05  # and strictly, for isotropic fixed variances
    gap = -vlb(sched, _optimal(sched, data, True), x, discrete=False) - logp
    assert gap.mean().abs() < 4 * gap.std() / math.sqrt(n) + 1e-3, (gap.mean(), gap.std() / math.sqrt(n))
    # bits/dim are consistent: the bound's bpd is >= the exact bpd
    assert bits_per_dim(-logp.mean() - gap.mean(), 2, 1) >= bits_per_dim(-logp.mean(), 2, 1) - 0.01


def test_vlb_stratified_estimate_is_unbiased(monkeypatch):
    """The stratified estimate of the middle sum agrees with the full sum over all T terms within MC error; an
    estimator whose stratum weights are off by one (b - a + 1) is rejected by the same comparison."""
    import genzoo.models.diffusion.likelihood as L

    data = gaussian()
    sched = NoiseSchedule.linear(200)
    x = data.sample(1, torch.Generator().manual_seed(4)).repeat(3000, 1)
    torch.manual_seed(0)
    full = vlb(sched, _optimal(sched, data, False), x, discrete=False)

    def z(est):
        return ((full.mean() - est.mean()).abs() / (full.var() / 3000 + est.var() / 3000).sqrt()).item()

    assert z(vlb(sched, _optimal(sched, data, False), x, discrete=False, steps=10)) < 4
    right = L.vlb_plan
    monkeypatch.setattr(L, "vlb_plan", lambda T, n, steps: [(k, w + (w > 1 or k.max() > 0)) for k, w in
                                                            right(T, n, steps)])
    assert z(vlb(sched, _optimal(sched, data, False), x, discrete=False, steps=10)) > 4
    # the plan covers [0, T): k = 0 alone, strata of [1, T) with weights summing to T - 1
    plan = right(200, 5, 10)
    assert plan[0][1] == 1.0 and (plan[0][0] == 0).all() and sum(w for _, w in plan[1:]) == 199


def test_vlb_parts_add_up():
    from genzoo.models.diffusion.likelihood import vlb_parts

    data = gaussian()
    sched = NoiseSchedule.linear(50)
    x = data.sample(64, torch.Generator().manual_seed(5))
    torch.manual_seed(1)
    p = vlb_parts(sched, _optimal(sched, data, False), x, discrete=False)
    torch.manual_seed(1)
    assert torch.allclose(p["total"], vlb(sched, _optimal(sched, data, False), x, discrete=False))
    assert torch.allclose(p["prior"] + p["decoder"] + p["middle"], p["total"])
    assert (p["prior"] > 0).all() and (p["middle"] > 0).all()


def test_discretized_decoder_sums_to_one():
    bins = -1 + 2 * torch.arange(256, dtype=torch.float64) / 255
    for mean, log_scale in ((0.0, -1.0), (0.93, -4.0), (-1.2, 0.5), (0.5, -7.0)):
        lp = discretized_gaussian_log_likelihood(bins, torch.tensor(mean), torch.tensor(log_scale))
        assert abs(lp.exp().sum().item() - 1) < 1e-6
    # one bin's mass against the Gaussian CDF
    from scipy.stats import norm

    lp = discretized_gaussian_log_likelihood(bins[100], torch.tensor(0.1), torch.tensor(math.log(0.2)))
    ref = norm.cdf(bins[100] + 1 / 255, 0.1, 0.2) - norm.cdf(bins[100] - 1 / 255, 0.1, 0.2)
    assert math.isclose(lp.exp().item(), ref, rel_tol=1e-6)
