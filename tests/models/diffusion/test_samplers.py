"""Every sampler, driven by the exact score / optimal denoiser of Gaussian (and Gaussian-mixture) data, reproduces
the data's mean and covariance within Monte Carlo error (2,000 samples, |z| < 4.5 for each of the 2 means and
3 covariance entries); the same sampler with the score scaled by 1.2 fails (|z| > 4.5)."""

import pytest
import torch
from closed_form import GaussianMixture, gaussian, moment_errors

from genzoo.models.diffusion import (
    VESDE,
    VPSDE,
    NoiseSchedule,
    SubVPSDE,
    annealed_langevin,
    ddim_sample,
    ddpm_sample,
    geometric_sigmas,
    pf_ode_sample,
    predictor_corrector_sample,
    reverse_sde_sample,
)
from genzoo.models.diffusion.samplers import Prediction, ddim_timesteps

N = 2000
Z = 4.5
DATA = gaussian()
MIX = GaussianMixture([[-1.5, 0.0], [1.5, 0.5]], [[[0.3, 0.1], [0.1, 0.2]], [[0.2, 0.0], [0.0, 0.4]]], [0.3, 0.7])


def discrete(sched, data, scale=1.0):
    """The optimal denoiser of q(x_k) as a Prediction (x0 = E[x_0 | x_k] from the score scaled by `scale`)."""

    def f(x, k):
        m, s = sched.sqrt_alphas_cumprod[k][:, None], sched.sqrt_one_minus_alphas_cumprod[k][:, None]
        x0 = (x + s**2 * scale * data.score(x, m[:, 0], s[:, 0])) / m
        return Prediction(x0, (x - m * x0) / s)

    return f


def continuous(sde, data, scale=1.0):
    return lambda x, t: scale * data.score(x, *sde.marginal(t))


def ok(x, data):
    return max(moment_errors(x, data)) < Z


@pytest.fixture(autouse=True)
def _f64():
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(torch.float32)


def gen():
    return torch.Generator().manual_seed(1234)


@pytest.mark.parametrize("var_type", ["posterior", "beta"])
def test_ddpm_ancestral(var_type):
    sched = NoiseSchedule.linear(200)
    for scale, expect in ((1.0, True), (1.2, False)):
        g = gen()
        x = ddpm_sample(sched, discrete(sched, DATA, scale), torch.randn(N, 2, generator=g), var_type, generator=g)
        assert ok(x, DATA) == expect, moment_errors(x, DATA)


@pytest.mark.parametrize("eta,steps", [(0.0, 100), (1.0, 200)])
def test_ddim(eta, steps):
    sched = NoiseSchedule.linear(1000)
    for scale, expect in ((1.0, True), (1.2, False)):
        g = gen()
        x = ddim_sample(sched, discrete(sched, DATA, scale), torch.randn(N, 2, generator=g), steps, eta, generator=g)
        assert ok(x, DATA) == expect, moment_errors(x, DATA)


def test_ddim_eta1_all_steps_is_ddpm():
    sched = NoiseSchedule.cosine(100)
    xT = torch.randn(50, 2, generator=gen())
    a = ddpm_sample(sched, discrete(sched, DATA), xT, "posterior", generator=gen())
    b = ddim_sample(sched, discrete(sched, DATA), xT, 100, 1.0, generator=gen())
    assert torch.allclose(a, b, atol=1e-10)
    ks = ddim_timesteps(1000, 50)
    assert len(ks) == 50 and ks[0] == 999 and ks[-1] == 0


SDES = [VPSDE(), SubVPSDE(), VESDE(0.01, 10.0), NoiseSchedule.cosine(1000).sde()]


@pytest.mark.parametrize("sde", SDES, ids=["vp", "subvp", "ve", "cosine-vp"])
def test_pf_ode(sde):
    for scale, expect in ((1.0, True), (1.2, False)):
        g = gen()
        x = pf_ode_sample(sde, continuous(sde, DATA, scale), sde.prior_sample((N, 2), generator=g, dtype=torch.float64))
        assert ok(x, DATA) == expect, moment_errors(x, DATA)


@pytest.mark.parametrize("sde", SDES[:3], ids=["vp", "subvp", "ve"])
def test_reverse_sde_and_pc(sde):
    for scale, expect in ((1.0, True), (1.2, False)):
        g = gen()
        xT = sde.prior_sample((N, 2), generator=g, dtype=torch.float64)
        x = reverse_sde_sample(sde, continuous(sde, DATA, scale), xT, 300, generator=g)
        assert ok(x, DATA) == expect, ("sde", moment_errors(x, DATA))
        x = predictor_corrector_sample(sde, continuous(sde, DATA, scale), xT, 200, generator=g)
        assert ok(x, DATA) == expect, ("pc", moment_errors(x, DATA))


def test_annealed_langevin():
    sig = geometric_sigmas(5.0, 0.01, 10)
    for scale, expect in ((1.0, True), (1.2, False)):
        g = gen()
        x = annealed_langevin(lambda x, i: scale * DATA.score(x, 1.0, sig[i]), sig,
                              5 * torch.randn(N, 2, generator=g), 100, 4e-4, generator=g)
        assert ok(x, DATA) == expect, moment_errors(x, DATA)


def test_mixture_modes_and_moments():
    """Gaussian mixture: DDPM and the PF-ODE put 30% / 70% of the samples in the two modes and match the moments."""
    sched = NoiseSchedule.linear(200)
    g = gen()
    x = ddpm_sample(sched, discrete(sched, MIX), torch.randn(N, 2, generator=g), generator=g)
    sde = VPSDE()
    y = pf_ode_sample(sde, continuous(sde, MIX), torch.randn(N, 2, generator=g))
    for s in (x, y):
        assert ok(s, MIX), moment_errors(s, MIX)
        frac = (s[:, 0] < 0).double().mean().item()
        assert abs(frac - 0.3) < 4 * (0.21 / N) ** 0.5
