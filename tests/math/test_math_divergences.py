"""Two-sample divergences against scipy, brute-force sums and Gaussian closed forms (two-sided)."""

import math

import numpy as np
import pytest
import scipy.spatial.distance
import scipy.stats
import torch

from genzoo.math import gaussian_kl, knn_kl, median_bandwidth, mmd, sliced_wasserstein, wasserstein_1d

D = torch.float64


def gen(seed):
    return torch.Generator().manual_seed(seed)


def brute_mmd2(x, y, k, unbiased=True):
    """MMD^2 by explicit double loops over the definition (Gretton et al. 2012, eq. 3 and its biased eq. 5)."""
    x, y = x.numpy(), y.numpy()
    m, n = len(x), len(y)
    off = 1 if unbiased else 0
    sxx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j or not unbiased) / (m * (m - off))
    syy = sum(k(y[i], y[j]) for i in range(n) for j in range(n) if i != j or not unbiased) / (n * (n - off))
    sxy = sum(k(x[i], y[j]) for i in range(m) for j in range(n)) / (m * n)
    return sxx + syy - 2 * sxy


@pytest.mark.parametrize("kernel", ["rbf", "imq", "poly"])
def test_mmd_matches_brute_force_unbiased_sum(kernel):
    x = torch.randn(6, 3, dtype=D, generator=gen(0))
    y = torch.randn(5, 3, dtype=D, generator=gen(1)) + 0.5
    h = 1.3
    ks = {
        "rbf": lambda a, b: math.exp(-np.sum((a - b) ** 2) / (2 * h * h)),
        "imq": lambda a, b: (1 + np.sum((a - b) ** 2) / h**2) ** -0.5,
        "poly": lambda a, b: (a @ b / 3 + 1) ** 3,
    }
    got = mmd(x, y, kernel=kernel, bandwidth=h).item()
    assert got == pytest.approx(brute_mmd2(x, y, ks[kernel]), abs=1e-12)
    # the other side: the biased V-statistic (diagonal included) is a different number
    assert got != pytest.approx(brute_mmd2(x, y, ks[kernel], unbiased=False), abs=1e-4)


def test_median_heuristic_is_median_pooled_distance():
    x, y = torch.randn(30, 2, dtype=D, generator=gen(0)), torch.randn(20, 2, dtype=D, generator=gen(1))
    ref = np.median(scipy.spatial.distance.pdist(torch.cat([x, y]).numpy()))
    # an even count of pairs: torch's median is the lower of the two middle values
    pd = np.sort(scipy.spatial.distance.pdist(torch.cat([x, y]).numpy()))
    assert median_bandwidth(x, y).item() == pytest.approx(pd[(len(pd) - 1) // 2], abs=1e-12)
    assert abs(median_bandwidth(x, y).item() - ref) < 0.05
    assert mmd(x, y).item() == pytest.approx(mmd(x, y, bandwidth=median_bandwidth(x, y)).item(), abs=1e-12)


def test_mmd_rbf_gaussian_closed_form_same_and_shifted():
    # x ~ N(0, I_2), y ~ N(delta, I_2), rbf bandwidth h: MMD^2 = 2 c (1 - exp(-|delta|^2 / (2 (h^2 + 2)))),
    # c = (h^2 / (h^2 + 2))^(d/2). With h = 1, |delta| = 1: 2/3 (1 - e^(-1/6)).
    exact = 2 / 3 * (1 - math.exp(-1 / 6))
    shift = torch.tensor([1.0, 0.0], dtype=D)
    same, shifted = [], []
    for s in range(10):
        x = torch.randn(300, 2, dtype=D, generator=gen(2 * s))
        y = torch.randn(300, 2, dtype=D, generator=gen(2 * s + 1))
        same.append(mmd(x, y, bandwidth=1.0).item())
        shifted.append(mmd(x, y + shift, bandwidth=1.0).item())
    same, shifted = np.array(same), np.array(shifted)
    se_same, se_shift = same.std(ddof=1) / math.sqrt(10), shifted.std(ddof=1) / math.sqrt(10)
    assert abs(same.mean()) < 4 * se_same  # unbiased: centred on 0 ...
    assert (same < 0).any()  # ... so some estimates are negative
    assert abs(shifted.mean() - exact) < 4 * se_shift
    assert shifted.min() > same.max()  # the other side: a unit shift is always clearly separated
    assert abs(shifted.mean() - 0.0) > 4 * se_shift
    # and the median-heuristic default sees the shift too
    x, y = torch.randn(400, 2, dtype=D, generator=gen(50)), torch.randn(400, 2, dtype=D, generator=gen(51))
    assert abs(mmd(x, y).item()) < 0.01 and mmd(x, y + shift).item() > 0.05
    assert mmd(x, y + shift, kernel="poly").item() > 10 * abs(mmd(x, y, kernel="poly").item())


def test_mmd_rejects_bad_input():
    with pytest.raises(ValueError, match="unknown kernel"):
        mmd(torch.randn(4, 2), torch.randn(4, 2), kernel="rbff")
    with pytest.raises(ValueError, match="feature size"):
        mmd(torch.randn(4, 2), torch.randn(4, 3))


@pytest.mark.parametrize("n,m", [(50, 50), (37, 80), (1, 9)])
def test_wasserstein_1d_matches_scipy(n, m):
    rng = np.random.default_rng(n + m)
    x, y = rng.normal(size=n), rng.gamma(2.0, size=m)
    got = wasserstein_1d(torch.tensor(x), torch.tensor(y)).item()
    assert got == pytest.approx(scipy.stats.wasserstein_distance(x, y), abs=1e-12)
    # the other side: a perturbed sample gives a different distance
    assert got != pytest.approx(scipy.stats.wasserstein_distance(x, y + 0.1), abs=1e-4)


def test_wasserstein_1d_batched_and_p2():
    x = torch.randn(4, 30, dtype=D, generator=gen(0))
    y = torch.randn(4, 45, dtype=D, generator=gen(1))
    ref = [scipy.stats.wasserstein_distance(a, b) for a, b in zip(x.numpy(), y.numpy())]
    assert np.allclose(wasserstein_1d(x, y).numpy(), ref, atol=1e-12)
    # a pure shift moves every quantile by c: W_p = |c| for every p
    assert wasserstein_1d(x[0], x[0] + 0.7, p=2).item() == pytest.approx(0.7, abs=1e-12)
    # W_2 of two two-point samples by hand: quantiles {0, 1} vs {0, 3} -> sqrt((0 + 4) / 2)
    assert wasserstein_1d(torch.tensor([0.0, 1.0]), torch.tensor([3.0, 0.0]), p=2).item() == pytest.approx(math.sqrt(2))
    assert wasserstein_1d(torch.tensor([0.0, 1.0]), torch.tensor([3.0, 0.0]), p=1).item() == pytest.approx(1.0)


def test_sliced_wasserstein_of_shifted_gaussian():
    # N(0, I_d) vs N(delta, I_d): every projection is a shift by theta . delta, so SW_2^2 = E (theta . delta)^2
    # = |delta|^2 / d
    d, delta = 3, torch.tensor([2.0, 0.0, 0.0], dtype=D)
    exact = delta.norm().item() / math.sqrt(d)
    x = torch.randn(2000, d, dtype=D, generator=gen(0))
    sw = sliced_wasserstein(x, x + delta, n_proj=1000, generator=gen(1)).item()  # only projection noise
    assert sw == pytest.approx(exact, rel=0.03)
    y = torch.randn(1500, d, dtype=D, generator=gen(2)) + delta  # independent samples, unequal sizes
    sw2 = sliced_wasserstein(x, y, n_proj=500, generator=gen(3)).item()
    assert sw2 == pytest.approx(exact, rel=0.06)
    assert sw2 != pytest.approx(delta.norm().item(), rel=0.06)  # the other side: not |delta|
    # SW_1 = |delta| E|theta_1| = |delta| Gamma(d/2) / (sqrt(pi) Gamma((d+1)/2)) = |delta| / 2 for d = 3
    sw1 = sliced_wasserstein(x, x + delta, n_proj=1000, p=1, generator=gen(1)).item()
    assert sw1 == pytest.approx(1.0, rel=0.03) and sw1 != pytest.approx(exact, rel=0.03)


def test_knn_kl_approaches_closed_form():
    mu, s = torch.tensor([1.0, 0.0], dtype=D), 1.5
    exact = gaussian_kl(torch.zeros(2, dtype=D), torch.zeros(2, dtype=D), mu,
                        torch.full((2,), 2 * math.log(s), dtype=D)).item()
    errors = {}
    for n in (200, 3000):
        ests = []
        for seed in range(3):
            x = torch.randn(n, 2, dtype=D, generator=gen(10 * seed))
            y = mu + s * torch.randn(n, 2, dtype=D, generator=gen(10 * seed + 1))
            ests.append(knn_kl(x, y, k=5).item())
        errors[n] = float(np.sqrt(np.mean((np.array(ests) - exact) ** 2)))
        if n == 3000:
            assert abs(np.mean(ests) - exact) < 0.05
            assert abs(np.mean(ests) - (exact + 0.15)) > 0.05  # the other side: a 0.15 nat error is seen
    assert errors[3000] < errors[200]
    # identical distributions: close to zero
    x, y = torch.randn(2000, 2, dtype=D, generator=gen(7)), torch.randn(2000, 2, dtype=D, generator=gen(8))
    assert abs(knn_kl(x, y, k=5).item()) < 0.05
    with pytest.raises(ValueError, match="k must"):
        knn_kl(x[:3], y, k=3)


def test_float32_far_from_origin_matches_float64():
    """Data offset by 1000 in float32: the matrix-product distance |a|^2 + |b|^2 - 2 a.b cancels catastrophically
    (squared norms ~2e6, float32 spacing there ~0.1), which turned knn_kl into NaN and perturbed the MMD. The
    estimators centre the data and knn_kl uses exact distances, so float32 agrees with float64."""
    x = torch.randn(3000, 2, dtype=D, generator=gen(0))
    y = 1.5 * torch.randn(3000, 2, dtype=D, generator=gen(1)) + 0.3
    off = 1000.0
    ref_kl = knn_kl(x, y, k=5).item()
    got_kl = knn_kl((x + off).float(), (y + off).float(), k=5).item()
    assert math.isfinite(got_kl) and got_kl == pytest.approx(ref_kl, abs=2e-3)
    xs, ys = x[:500], y[:500]
    ref_mmd = mmd(xs, ys, bandwidth=1.0).item()
    assert mmd((xs + off).float(), (ys + off).float(), bandwidth=1.0).item() == pytest.approx(ref_mmd, rel=1e-3)
    assert median_bandwidth((xs + off).float(), (ys + off).float()).item() == pytest.approx(
        median_bandwidth(xs, ys).item(), rel=1e-5)
    # the other side: the uncentred matrix-product distances are visibly wrong at this offset
    a = (xs + off).float()
    naive = torch.cdist(a, a, compute_mode="use_mm_for_euclid_dist")
    exact = torch.cdist(xs, xs)
    assert (naive.double() - exact).abs().max().item() > 0.05


def test_knn_kl_rejects_duplicate_points():
    x = torch.randn(50, 2, dtype=D, generator=gen(0))
    dup = torch.cat([x, x[:3]])
    with pytest.raises(ValueError, match="6 point.s. of x have 1 or more exact duplicates"):
        knn_kl(dup, torch.randn(40, 2, dtype=D, generator=gen(1)))
    assert math.isfinite(knn_kl(dup, torch.randn(40, 2, dtype=D, generator=gen(1)), k=2))  # k=2 looks past one copy
    with pytest.raises(ValueError, match="coincide with 1 or more points of y"):
        knn_kl(x, torch.cat([x[:2], torch.randn(40, 2, dtype=D, generator=gen(1))]))


def test_mmd_median_bandwidth_is_a_constant_for_gradients():
    x = torch.randn(40, 2, dtype=D, generator=gen(0), requires_grad=True)
    y = torch.randn(40, 2, dtype=D, generator=gen(1)) + 0.5
    (g_default,) = torch.autograd.grad(mmd(x, y), x)
    h = median_bandwidth(x.detach(), y)
    (g_fixed,) = torch.autograd.grad(mmd(x, y, bandwidth=h), x)
    assert torch.allclose(g_default, g_fixed, atol=1e-12) and torch.isfinite(g_default).all()
    # the other side: letting the gradient flow through the heuristic changes it
    def through(xx):
        hh = torch.cdist(torch.cat([xx, y]), torch.cat([xx, y]))
        hh = hh[torch.triu_indices(80, 80, 1).unbind()].median()
        return mmd(xx, y, bandwidth=hh)
    (g_through,) = torch.autograd.grad(through(x), x)
    assert not torch.allclose(g_default, g_through, atol=1e-6)


def test_wasserstein_p_unequal_sizes_by_hand_and_by_duplication():
    # quantiles of {0, 1} and {0, 1, 2}: on (1/3, 1/2] they differ by 1, on (2/3, 1] by 1, elsewhere 0
    x, y = torch.tensor([1.0, 0.0], dtype=D), torch.tensor([2.0, 0.0, 1.0], dtype=D)
    assert wasserstein_1d(x, y, p=2).item() == pytest.approx(math.sqrt(1 / 6 + 1 / 3), abs=1e-12)
    assert wasserstein_1d(x, y, p=1).item() == pytest.approx(0.5, abs=1e-12)
    assert wasserstein_1d(x, y, p=2).item() != pytest.approx(0.5, abs=1e-3)  # W_2 is not W_1 here
    # repeating every point leaves the empirical distribution unchanged: the unequal-size path (n vs 3n) must
    # agree with the equal-size one (n vs n) for every p
    a = torch.randn(40, dtype=D, generator=gen(4))
    b = torch.randn(40, dtype=D, generator=gen(5)) * 2
    for p in (1.0, 2.0, 3.0):
        assert wasserstein_1d(a, b.repeat(3), p=p).item() == pytest.approx(wasserstein_1d(a, b, p=p).item(), abs=1e-12)
    assert wasserstein_1d(a, b[:39].repeat(3), p=2).item() != pytest.approx(wasserstein_1d(a, b, p=2).item(),
                                                                             abs=1e-6)
