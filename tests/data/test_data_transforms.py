"""Transforms: ranges, inverses, and log-determinants against autograd Jacobians."""

import math

import pytest
import torch

from genzoo.data import (
    affine,
    binarize,
    dequantize,
    from_minus_one_one,
    inverse_logit_transform,
    logit_transform,
    to_float,
    to_minus_one_one,
)
from genzoo.data.transforms import _in_bins
from genzoo.errors import ConfigError, DataError


def test_dequantize_range_and_bins():
    k = torch.arange(256, dtype=torch.uint8).repeat(40).reshape(40, 1, 16, 16)
    g = torch.Generator().manual_seed(0)
    y, logdet = dequantize(k, generator=g, return_logdet=True)
    assert y.dtype == torch.float32 and y.shape == k.shape
    assert y.min() >= 0 and y.max() < 1
    assert torch.equal(torch.floor(256 * y).long(), k.long())  # floor(256 y) recovers k
    assert torch.allclose(logdet, torch.full((40,), -256 * math.log(256)))
    u = 256 * y.double() - k.double()  # the noise is uniform on [0, 1)
    assert abs(u.mean().item() - 0.5) < 0.01 and abs(u.var().item() - 1 / 12) < 0.005
    # floats in [0, 1] give the same levels; same generator seed, same draw
    y2 = dequantize(k.float() / 255, generator=torch.Generator().manual_seed(0))
    assert torch.equal(y, y2)
    assert not torch.equal(y, dequantize(k, generator=torch.Generator().manual_seed(1)))


def test_dequantize_extreme_noise_stays_in_bin():
    """float32 rounding of k + u for u just below 1 must not carry into the next bin."""
    k = torch.tensor([0, 1, 127, 254, 255])
    u = torch.full((5,), 1 - 1e-12, dtype=torch.float64)
    assert torch.equal((k.double() + u).float(), (k + 1).float())  # the naive float32 value is in the next bin
    y = _in_bins(k, u, 256)
    assert torch.equal(torch.floor(256 * y).long(), k) and y.max() < 1


def test_binarize_modes():
    x = torch.rand(64, 1, 8, 8)
    d1, d2 = binarize(x, "dynamic"), binarize(x, "dynamic")
    assert set(d1.unique().tolist()) <= {0.0, 1.0} and not torch.equal(d1, d2)
    s1, s2 = binarize(x, "static"), binarize(x, "static")
    assert torch.equal(s1, s2) and not torch.equal(s1, binarize(x, "static", seed=1))
    assert torch.equal(binarize(x, "threshold"), (x > 0.5).float())
    big = torch.full((200000,), 0.3)
    assert abs(binarize(big, "dynamic").mean().item() - 0.3) < 0.005  # E[b] = p
    assert torch.equal(binarize(torch.tensor([0, 255], dtype=torch.uint8), "threshold"), torch.tensor([0.0, 1.0]))
    with pytest.raises(ConfigError, match='unknown mode "stochastic"'):
        binarize(x, "stochastic")


def test_scaling_and_logdets():
    x = torch.rand(5, 3, 4, 4)
    y, ld = to_minus_one_one(x)
    assert torch.allclose(y, 2 * x - 1) and torch.allclose(ld, torch.full((5,), 48 * math.log(2)))
    x2, ld2 = from_minus_one_one(y)
    assert torch.allclose(x2, x, atol=1e-6) and torch.allclose(ld + ld2, torch.zeros(5))
    _, ld3 = affine(x, -3.0, 1.0)
    assert torch.allclose(ld3, torch.full((5,), 48 * math.log(3)))
    u8 = torch.tensor([[0, 255]], dtype=torch.uint8)
    assert to_float(u8).tolist() == [[0.0, 1.0]] and to_minus_one_one(u8)[0].tolist() == [[-1.0, 1.0]]
    with pytest.raises(DataError, match=r"expected float images in \[0, 1\]"):
        to_float(torch.tensor([2.0]))


@pytest.mark.parametrize("alpha", [0.05, 1e-6])
def test_logit_transform_logdet_against_autograd(alpha):
    x = torch.rand(1, 6, dtype=torch.float64)
    y, ld = logit_transform(x, alpha)
    s = alpha + (1 - 2 * alpha) * x
    assert torch.allclose(y, torch.log(s / (1 - s)))
    jac = torch.autograd.functional.jacobian(lambda v: logit_transform(v, alpha)[0], x).reshape(6, 6)
    assert torch.allclose(ld, torch.logdet(jac).reshape(1))
    assert torch.allclose(jac, torch.diag(torch.diagonal(jac)))  # elementwise map

    x_back, ld_inv = inverse_logit_transform(y, alpha)
    assert torch.allclose(x_back, x, atol=1e-9)
    assert torch.allclose(ld + ld_inv, torch.zeros(1, dtype=torch.float64), atol=1e-8)
    jac_inv = torch.autograd.functional.jacobian(lambda v: inverse_logit_transform(v, alpha)[0], y).reshape(6, 6)
    assert torch.allclose(ld_inv, torch.logdet(jac_inv).reshape(1))


def test_logit_transform_batched_and_stable():
    x = torch.rand(4, 1, 3, 3)
    x[0] = 0.0
    x[1] = 1.0  # the endpoints stay finite thanks to alpha
    y, ld = logit_transform(x, 0.05)
    assert ld.shape == (4,) and torch.isfinite(y).all() and torch.isfinite(ld).all()
    per = torch.stack([logit_transform(x[i:i + 1], 0.05)[1][0] for i in range(4)])
    assert torch.allclose(ld, per)
    _, ld_big = inverse_logit_transform(torch.tensor([[100.0, -100.0]]), 0.05)
    assert torch.isfinite(ld_big).all()
    with pytest.raises(ConfigError, match=r"alpha must lie in \(0, 0.5\)"):
        logit_transform(x, 0.5)
    with pytest.raises(DataError, match=r"logit_transform: expected data in \[0, 1\], got values in \[-1, 1\]"):
        logit_transform(2 * x - 1)  # data already scaled to [-1, 1]


def test_dequantize_logdet_makes_a_histogram_density_exact():
    """A density that is constant on every bin, p(y) = P(k) n_bins^D for y in bin k, is the pmf P spread
    uniformly over the bins. Change of variables with dequantize's logdet recovers the pmf exactly for every noise
    draw: log p(y) + logdet = log P(k); and bits_per_dim of the density equals the pmf's bits per dimension."""
    from genzoo.math import bits_per_dim

    g = torch.Generator().manual_seed(0)
    d = 3
    pmf = torch.rand(d, 256, dtype=torch.float64, generator=g) + 0.1  # independent per-dimension pmfs
    pmf = pmf / pmf.sum(-1, keepdim=True)
    k = torch.multinomial(pmf, 50, replacement=True, generator=g).T.to(torch.uint8)  # (50, d) levels
    y, logdet = dequantize(k, generator=g, return_logdet=True)
    bins = torch.floor(256 * y.double()).long()
    log_density = (pmf.log().gather(1, bins.T).T + math.log(256)).sum(1)  # log p(y) on [0, 1)^d
    log_pmf = pmf.log().gather(1, k.long().T).T.sum(1)
    assert torch.allclose(log_density + logdet.double(), log_pmf, atol=1e-5)
    assert torch.allclose(bits_per_dim(-log_density, d), bits_per_dim(-log_pmf, d, n_bins=1), atol=1e-6)
    # the other side: without the logdet, or with its sign flipped, the density is off by D ln 256 per example
    assert (log_density - log_pmf).min().item() > d * math.log(256) - 1e-5
    assert not torch.allclose(log_density - logdet.double(), log_pmf, atol=1.0)


def test_dequantization_bound_for_a_smooth_density():
    """For p(y) = 2y on [0, 1) (1-D) the bin masses are P(k) = (2k + 1) / 256^2, and Jensen gives
    E_u[ln p((k + u)/256)] - ln 256 <= ln P(k) (Theis et al. 2016), with a gap that vanishes as k grows."""
    n = 4000
    for k, strict in [(0, True), (200, False)]:
        levels = torch.full((n, 1), k, dtype=torch.uint8)
        y, logdet = dequantize(levels, generator=torch.Generator().manual_seed(k), return_logdet=True)
        vals = torch.log(2 * y.double())[:, 0] + logdet.double()
        mean, se = vals.mean().item(), vals.std().item() / math.sqrt(n)
        exact = math.log((2 * k + 1) / 256**2)
        # E_u ln(k + u) in closed form: (k+1) ln(k+1) - k ln k - 1
        e_log = ((k + 1) * math.log(k + 1) - (k * math.log(k) if k else 0.0) - 1.0)
        bound = math.log(2) + e_log - 2 * math.log(256)
        assert abs(mean - bound) < 4.5 * se
        assert bound <= exact + 1e-12
        if strict:
            assert exact - bound == pytest.approx(1 - math.log(2), abs=1e-12)  # the gap at k = 0: 1 - ln 2 nats
            assert abs(mean - exact) > 10 * se  # the other side: there the estimate is clearly below ln P(k)
        else:
            assert exact - bound < 1e-5  # tight when the density is nearly flat over the bin


def test_transforms_keep_float64():
    x = torch.rand(4, 1, 3, 3, dtype=torch.float64)
    for out in (dequantize(x), dequantize(x, return_logdet=True)[1], binarize(x, "static"), binarize(x),
                to_float(x), logit_transform(x)[0], to_minus_one_one(x)[1]):
        assert out.dtype == torch.float64
    assert dequantize(x.float()).dtype == torch.float32
    assert dequantize((x * 255).to(torch.uint8)).dtype == torch.float32
    # float64 keeps the bins too: u within 2^-53 of 1 would round k + u up to k + 1
    k = torch.tensor([1, 100, 255])
    u = torch.full((3,), 1 - 2.0**-53, dtype=torch.float64)
    assert torch.equal(k.double() + u, (k + 1).double())
    y = _in_bins(k, u, 256, torch.float64)
    assert y.dtype == torch.float64 and torch.equal(torch.floor(256 * y).long(), k) and y.max() < 1
