"""The two audited diffusion fixes: one-step DDIM, and the decoder term L_0 far from the predicted mean."""

import math

import numpy as np
import pytest
import torch
from scipy.special import log_ndtr

from genzoo.models.diffusion.likelihood import (
    discretized_gaussian_log_likelihood,
    log_normal_bin_prob,
    log_normal_interval_prob,
)
from genzoo.models.diffusion.samplers import Prediction, ddim_sample, ddim_timesteps
from genzoo.models.diffusion.schedule import NoiseSchedule


def _oracle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)) in float64 by scipy, in the lower tail."""
    flip = (a + b) > 0
    lo, hi = np.where(flip, -b, a), np.where(flip, -a, b)
    lh, ll = log_ndtr(hi), log_ndtr(lo)
    return lh + np.log(-np.expm1(ll - lh))


@pytest.mark.parametrize("T,steps", [(10, 1), (10, 2), (10, 3), (1000, 1), (1000, 50), (1000, 1000), (7, 7)])
def test_ddim_timesteps_start_at_T_minus_1(T, steps):
    ks = ddim_timesteps(T, steps)
    assert ks[0] == T - 1 and len(ks) == steps
    assert all(a > b for a, b in zip(ks, ks[1:]))
    if steps > 1:
        assert ks[-1] == 0


def test_ddim_timesteps_for_every_short_schedule():
    for T in range(1, 61):
        for steps in range(1, T + 1):
            ks = ddim_timesteps(T, steps)
            assert len(ks) == steps and ks[0] == T - 1 and ks[-1] == (0 if steps > 1 else T - 1), (T, steps)
            assert all(a > b for a, b in zip(ks, ks[1:])), (T, steps)


def test_one_step_ddim_gives_the_posterior_mean_of_gaussian_data():
    """Data x0 ~ N(mu, s^2 I) with the exact denoiser E[x0 | x_k]: one DDIM step from x_T returns it, whose mean
    over x_T is mu (the old [0] timestep returned x_T itself, mean 0)."""
    sch = NoiseSchedule.make("linear", 100)
    mu, s, n = 0.7, 0.5, 20000
    ab_all = sch.alphas_cumprod

    def denoise(x, k):
        ab = ab_all[k].to(x.dtype).view(-1, 1)
        var = ab * s**2 + (1 - ab)  # x_k = sqrt(ab) x0 + sqrt(1 - ab) eps
        x0 = mu + ab.sqrt() * s**2 / var * (x - ab.sqrt() * mu)
        eps = (x - ab.sqrt() * x0) / (1 - ab).sqrt()
        return Prediction(x0, eps, None)

    g = torch.Generator().manual_seed(0)
    abT = float(ab_all[-1])
    x_T = math.sqrt(abT) * (mu + s * torch.randn(n, 1, generator=g, dtype=torch.float64)) + math.sqrt(1 - abT) * \
        torch.randn(n, 1, generator=g, dtype=torch.float64)
    out = ddim_sample(sch, denoise, x_T, steps=1)
    expected = denoise(x_T, torch.full((n,), 99)).x0
    assert torch.allclose(out, expected)
    sem = float(out.std()) / math.sqrt(n)
    assert abs(float(out.mean()) - mu) < 4 * sem + 1e-3
    assert abs(float(x_T.mean()) - mu) > 0.5  # the starting noise is far from the data mean: the old bug fails


@pytest.mark.parametrize("levels", [1, 2, 5, 10, 20, 40])
@pytest.mark.parametrize("sign", [1, -1])
@pytest.mark.parametrize("log_scale", [math.log(1 / 255), math.log(0.02), math.log(0.1)])
def test_bin_log_prob_matches_scipy_far_in_the_tails(levels, sign, log_scale):
    half = 1 / 255
    x = torch.tensor([0.1], dtype=torch.float32)
    mean = x + sign * levels * 2 * half
    got = discretized_gaussian_log_likelihood(x, mean, torch.tensor(log_scale, dtype=torch.float32))
    c = float(x) - float(mean)
    inv = math.exp(-log_scale)
    ref = _oracle(np.array([inv * (c - half)]), np.array([inv * (c + half)]))
    assert torch.isfinite(got).all()
    assert float(got) == pytest.approx(float(ref[0]), rel=2e-3, abs=1e-4)


def test_ten_levels_off_keeps_its_mass():
    """A pixel 10 levels from the predicted mean with std 2/255: log P = -48.3 nats by scipy; the old clamped
    difference of CDFs could not go below log(1e-12) = -27.6."""
    x = torch.tensor([0.0])
    mean = x + 10 * 2 / 255
    got = float(discretized_gaussian_log_likelihood(x, mean, torch.tensor(math.log(2 / 255))))
    old = math.log(max(0.5 * (math.erfc(-(x.item() - mean.item() + 1 / 255) * 255 / 2 / math.sqrt(2)))
                       - 0.5 * math.erfc(-(x.item() - mean.item() - 1 / 255) * 255 / 2 / math.sqrt(2)), 1e-12))
    assert got < -40 and old > -28  # the fixed value goes where the clamp could not
    a, b = (-10 * 2 / 255 - 1 / 255) * 255 / 2, (-10 * 2 / 255 + 1 / 255) * 255 / 2
    assert got == pytest.approx(float(_oracle(np.array([a]), np.array([b]))[0]), rel=1e-3)


@pytest.mark.parametrize("log_scale", [math.log(1e-3), math.log(1 / 255), math.log(0.3)])
@pytest.mark.parametrize("m", [-0.9, 0.0, 0.37, 1.0])
def test_the_256_bins_sum_to_one(log_scale, m):
    x = -1 + 2 * torch.arange(256, dtype=torch.float64) / 255
    lp = discretized_gaussian_log_likelihood(x, torch.full_like(x, m), torch.tensor(log_scale, dtype=torch.float64))
    assert torch.logsumexp(lp, 0).exp().item() == pytest.approx(1.0, abs=1e-9)


def test_log_normal_bin_prob_both_sides_and_float32():
    a = torch.tensor([-3.0, 5.0, -40.0, 30.0, -0.1], dtype=torch.float32)
    b = a + torch.tensor([0.5, 0.25, 1.0, 2.0, 0.2])
    got = log_normal_bin_prob(a, b).double().numpy()
    ref = _oracle(a.double().numpy(), b.double().numpy())
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref, rtol=1e-4)


# ---- L_0: the brief's figure, narrow bins, gradients --------------------------------------------------------------
def _old_decoder(x: torch.Tensor, mean: torch.Tensor, log_scale: torch.Tensor) -> torch.Tensor:
    """The replaced inner-bin formula: log of a float32 difference of CDFs, clamped at 1e-12."""
    cdf = lambda z: 0.5 * (1 + torch.erf(z / math.sqrt(2)))
    inv = torch.exp(-log_scale)
    return torch.log((cdf(inv * (x - mean + 1 / 255)) - cdf(inv * (x - mean - 1 / 255))).clamp_min(1e-12))


def test_ten_levels_off_at_the_smallest_decoder_scale():
    """The decoder std of a linear T = 1000 schedule, sqrt(beta_tilde_1) ~ 0.0074, and a pixel 10 levels off:
    log P = -54.1 nats (scipy), where the old formula stopped at log(1e-12) = -27.6."""
    log_scale = (0.5 * NoiseSchedule.linear(1000).posterior_log_variance_clipped[0]).float()
    x = torch.tensor([0.2])
    mean = x + 10 * 2 / 255
    got = float(discretized_gaussian_log_likelihood(x, mean, log_scale))
    inv, c = math.exp(-float(log_scale)), float(x) - float(mean)
    ref = float(_oracle(np.array([inv * (c - 1 / 255)]), np.array([inv * (c + 1 / 255)]))[0])
    assert ref == pytest.approx(-54.1, abs=0.1)
    assert got == pytest.approx(ref, rel=1e-5)
    assert float(_old_decoder(x, mean, log_scale)) == pytest.approx(math.log(1e-12), abs=1e-3)


def _oracle_mw(m: np.ndarray, w: np.ndarray) -> np.ndarray:
    return _oracle(m - w / 2, m + w / 2)


@pytest.mark.parametrize("w", [1e-7, 1e-4, 1e-2, 0.09, 0.11, 0.5, 2.0, 30.0])
def test_interval_prob_in_float32_for_any_width(w):
    """float32 centres from -60 to 60 and widths on both sides of the narrow-bin switch (w (|m| + 1) = 0.1)."""
    m = torch.linspace(-60, 60, 1201, dtype=torch.float32)
    got = log_normal_interval_prob(m, torch.full_like(m, w)).double().numpy()
    ref = _oracle_mw(m.double().numpy(), np.float64(np.float32(w)))
    assert np.all(np.isfinite(got))
    np.testing.assert_allclose(got, ref, rtol=1e-5, atol=1e-6)  # atol: bins holding almost all the mass, log P ~ 0


@pytest.mark.parametrize("log_scale", [-12.0, math.log(1e-3), 8.0, 20.0])
@pytest.mark.parametrize("m", [0.0, 0.37, -0.99])
def test_the_256_bins_sum_to_one_at_extreme_scales(log_scale, m):
    """Tiny and huge scales (the bin a million times narrower than the std): still a distribution over the bins."""
    x = -1 + 2 * torch.arange(256, dtype=torch.float64) / 255
    lp = discretized_gaussian_log_likelihood(x, torch.full_like(x, m), torch.tensor(log_scale, dtype=torch.float64))
    assert torch.isfinite(lp).all()
    assert torch.logsumexp(lp, 0).exp().item() == pytest.approx(1.0, abs=1e-9)


@pytest.mark.parametrize("log_scale,levels", [(math.log(1e-3), 1), (math.log(1e-3), 5), (math.log(0.0074), 40),
                                              (math.log(0.3), 3), (12.0, 2)])
def test_decoder_gradient_matches_the_closed_form(log_scale, levels):
    """d log P / d mean = -(phi(b) - phi(a)) / (sigma P) for a = (x - mean - h) / sigma, b = (x - mean + h) / sigma:
    finite and right to 1e-5 in float32, also ~1000 standard units out (torch's float32 log_ndtr gradient is ~4%
    off there, hence the float64 work)."""
    x = torch.tensor([0.1, 0.1])
    mean = (x + torch.tensor([1.0, -1.0]) * levels * 2 / 255).requires_grad_(True)
    discretized_gaussian_log_likelihood(x, mean, torch.tensor(log_scale)).sum().backward()
    inv, c = math.exp(-log_scale), (x.double() - mean.detach().double()).numpy()
    m, w = inv * c, inv * 2 / 255
    log_p = _oracle_mw(m, w)
    # phi(b) - phi(a) = phi(a) expm1(-(b - a)(b + a) / 2), with b - a = w and b + a = 2 m (no cancellation)
    log_phi_a = -0.5 * (m - w / 2) ** 2 - 0.5 * math.log(2 * math.pi)
    ref = -inv * np.exp(log_phi_a - log_p) * np.expm1(-w * m)  # d/dmean = -d/dc
    assert torch.isfinite(mean.grad).all()
    np.testing.assert_allclose(mean.grad.double().numpy(), ref, rtol=1e-5)


# ---- schedule tables on the device of x ---------------------------------------------------------------------------
def test_gathers_follow_the_device_of_x():
    """k and x on "meta" (no data, no CPU copy possible): every gather stays there (the old k.cpu() raised)."""
    sch = NoiseSchedule.make("cosine", 50)
    x = torch.empty(4, 3, 8, 8, device="meta")
    k = torch.zeros(4, dtype=torch.long, device="meta")
    for out in (sch.extract(sch.sqrt_alphas_cumprod, k, x), sch.q_sample(x, k), *sch.q_posterior(x, x, k),
                sch.eps_to_x0(x, k, x), sch.log_alpha_bar_t(torch.empty(4, device="meta")),
                sch.beta_t(torch.empty(4, device="meta"))):
        assert out.device.type == "meta"
    assert sch.extract(sch.sqrt_alphas_cumprod, k, x).shape == (4, 1, 1, 1)


def test_cpu_gathers_equal_the_previous_formula_and_the_cache_stays_small():
    sch = NoiseSchedule.make("linear", 100)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(6, 2, generator=g)
    k = torch.randint(0, 100, (6,), generator=g)
    for name in ("sqrt_alphas_cumprod", "posterior_log_variance_clipped", "one_minus_alphas_cumprod"):
        arr = getattr(sch, name)
        assert torch.equal(sch.extract(arr, k, x), arr[k.cpu()].to(x.dtype).reshape(6, 1))
    assert torch.equal(sch.q_mean_var(x, k)[1], (1.0 - sch.alphas_cumprod)[k].float().reshape(6, 1))
    meta = torch.empty(6, 2, device="meta")
    first = sch.on(sch.betas, meta.device)
    assert sch.on(sch.betas, meta.device) is first  # one copy per table and device
    for _ in range(20):  # a table computed by the caller is copied, not cached (it would pile up every step)
        sch.extract(torch.log(sch.betas), k.to("meta"), meta)
    assert len(sch.__dict__["_device_cache"]) == 1


def test_no_cpu_round_trip_left_in_the_diffusion_code():
    import pathlib

    import genzoo.models.diffusion as pkg

    for path in pathlib.Path(pkg.__file__).parent.glob("*.py"):
        assert ".cpu()" not in path.read_text(), path.name
