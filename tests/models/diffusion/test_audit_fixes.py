"""The two audited diffusion fixes: one-step DDIM, and the decoder term L_0 far from the predicted mean."""

import math

import numpy as np
import pytest
import torch
from scipy.special import log_ndtr

from genzoo.models.diffusion.likelihood import discretized_gaussian_log_likelihood, log_normal_bin_prob
from genzoo.models.diffusion.samplers import Prediction, ddim_sample, ddim_timesteps
from genzoo.models.diffusion.schedule import NoiseSchedule


def _oracle(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """log(Phi(b) - Phi(a)) in float64 by scipy, in the lower tail."""
    flip = (a + b) > 0
    lo, hi = np.where(flip, -b, a), np.where(flip, -a, b)
    lh, ll = log_ndtr(hi), log_ndtr(lo)
    return lh + np.log1p(-np.exp(ll - lh))


@pytest.mark.parametrize("T,steps", [(10, 1), (10, 2), (10, 3), (1000, 1), (1000, 50), (1000, 1000), (7, 7)])
def test_ddim_timesteps_start_at_T_minus_1(T, steps):
    ks = ddim_timesteps(T, steps)
    assert ks[0] == T - 1 and len(ks) == steps
    assert all(a > b for a, b in zip(ks, ks[1:]))
    if steps > 1:
        assert ks[-1] == 0


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
