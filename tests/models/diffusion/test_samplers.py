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


def _mixture_ok(x, data=MIX):
    """Moments within MC error and 30% / 70% of the samples in the two modes (|z| < Z each)."""
    frac_z = abs(((x[:, 0] < 0).double().mean().item() - 0.3) / (0.21 / x.shape[0]) ** 0.5)
    return max(*moment_errors(x, data), frac_z) < Z


def _mixture_sample(sampler: str, scale: float, n: int) -> torch.Tensor:
    g = gen()
    if sampler in ("ddpm", "ddim"):
        sched = NoiseSchedule.linear(200 if sampler == "ddpm" else 1000)
        xT = torch.randn(n, 2, generator=g)
        if sampler == "ddpm":
            return ddpm_sample(sched, discrete(sched, MIX, scale), xT, generator=g)
        return ddim_sample(sched, discrete(sched, MIX, scale), xT, 50, 0.0, generator=g)
    if sampler == "langevin":
        sig = geometric_sigmas(5.0, 0.01, 10)
        x0 = 5 * torch.randn(n, 2, generator=g)
        return annealed_langevin(lambda x, i: scale * MIX.score(x, 1.0, sig[i]), sig, x0, 50, 1e-4, generator=g)
    sde = VPSDE()
    xT = torch.randn(n, 2, generator=g)
    if sampler == "pf-ode":
        return pf_ode_sample(sde, continuous(sde, MIX, scale), xT)
    if sampler == "sde":
        return reverse_sde_sample(sde, continuous(sde, MIX, scale), xT, 200, generator=g)
    return predictor_corrector_sample(sde, continuous(sde, MIX, scale), xT, 100, generator=g)


@pytest.mark.parametrize("sampler", ["ddpm", "ddim", "pf-ode", "sde", "pc", "langevin"])
def test_mixture_every_sampler(sampler):
    """Two-mode Gaussian mixture, exact score: every sampler matches the mean, the covariance and the 30/70 mode
    weights within MC error; the score scaled by 1.2 fails (4,000 samples for Langevin, whose wrong variant only
    shrinks the within-mode spread)."""
    n = 4000 if sampler == "langevin" else N
    assert _mixture_ok(_mixture_sample(sampler, 1.0, n))
    assert not _mixture_ok(_mixture_sample(sampler, 1.2, n))


def _respaced(sched: NoiseSchedule, ks: list[int]) -> NoiseSchedule:
    """The schedule on the subsequence ks (ascending): abar'_i = abar_{ks[i]}, beta'_i = 1 - abar'_i / abar'_{i-1}
    (Nichol & Dhariwal 2021, sec. 4), built independently of the DDIM code."""
    ab = sched.alphas_cumprod[torch.tensor(ks)]
    prev = torch.cat([torch.ones(1, dtype=ab.dtype), ab[:-1]])
    return NoiseSchedule(1 - ab / prev)


def _ddim_prev_bug(sched, denoise, x_T, steps, eta=0.0, generator=None):
    """A classic strided-DDIM bug (kept here to prove the tests catch it): the previous timestep taken as
    k - T // steps instead of the next index actually visited."""
    x, n = x_T, x_T.shape[0]
    for k in ddim_timesteps(sched.T, steps):
        p = denoise(x, torch.full((n,), k, dtype=torch.long))
        kp = k - sched.T // steps
        ab = sched.alphas_cumprod[k]
        ab_prev = sched.alphas_cumprod[kp] if kp >= 0 else torch.ones((), dtype=torch.float64)
        sigma = eta * torch.sqrt((1 - ab_prev) / (1 - ab) * (1 - ab / ab_prev))
        x = ab_prev.sqrt() * p.x0 + torch.sqrt((1 - ab_prev - sigma**2).clamp_min(0)) * p.eps
        if sigma > 0:
            x = x + sigma * torch.randn(x.shape, generator=generator)
    return x


@pytest.mark.parametrize("steps", [7, 50])
def test_strided_ddim_eta1_is_ddpm_on_the_respaced_schedule(steps):
    """DDIM(eta = 1) on a subsequence equals ancestral DDPM on the respaced schedule, draw for draw: this pins the
    previous timestep of every strided step (and abar_prev = 1 at the last); the k - T // steps bug differs."""
    sched = NoiseSchedule.linear(1000)
    ks = sorted(ddim_timesteps(1000, steps))
    base = discrete(sched, DATA)
    kmap = torch.tensor(ks)
    xT = torch.randn(200, 2, generator=gen())
    a = ddpm_sample(_respaced(sched, ks), lambda x, i: base(x, kmap[i]), xT, "posterior", generator=gen())
    b = ddim_sample(sched, base, xT, steps, 1.0, generator=gen())
    assert torch.allclose(a, b, atol=1e-8), (a - b).abs().max()
    c = _ddim_prev_bug(sched, base, xT, steps, 1.0, generator=gen())
    assert (a - c).abs().max() > 1e-3


def _ddim_marginal_z(sampler, steps: int, eta: float, n: int = 20000) -> float:
    """Point-mass data x_0 = mu (optimal denoiser exactly mu): started from q(x_{T-1}), every state DDIM visits at
    index k must be distributed exactly as q(x_k) = N(sqrt(abar_k) mu, 1 - abar_k), for any stride and eta.
    Returns the largest |z| of the recorded states' means and variances against it."""
    sched, mu = NoiseSchedule.linear(1000), 0.7
    seen = []

    def denoise(x, k):
        seen.append((int(k[0]), x.clone()))
        m, s = sched.sqrt_alphas_cumprod[k][:, None], sched.sqrt_one_minus_alphas_cumprod[k][:, None]
        return Prediction(torch.full_like(x, mu), (x - m * mu) / s)

    g = gen()
    k0 = sched.T - 1
    xT = sched.sqrt_alphas_cumprod[k0] * mu + sched.sqrt_one_minus_alphas_cumprod[k0] * torch.randn(n, 1, generator=g)
    sampler(sched, denoise, xT, steps, eta, generator=g)
    z = 0.0
    for k, x in seen:
        m, v = sched.sqrt_alphas_cumprod[k].item() * mu, 1 - sched.alphas_cumprod[k].item()
        z = max(z, abs(x.mean().item() - m) / (v / n) ** 0.5, abs(x.var().item() / v - 1) / (2 / n) ** 0.5)
    return z


@pytest.mark.parametrize("eta", [0.0, 1.0])
def test_ddim_visits_the_exact_marginals(eta):
    assert _ddim_marginal_z(ddim_sample, 50, eta) < Z
    assert _ddim_marginal_z(_ddim_prev_bug, 50, eta) > Z
