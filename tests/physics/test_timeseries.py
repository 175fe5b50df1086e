"""Errors of correlated averages: binning, jackknife and tau_int against i.i.d. and AR(1) series with known answers."""

import numpy as np
import pytest

from genzoo.physics import autocorrelation, binning_error, integrated_autocorrelation_time, jackknife, naive_error


def ar1(n, phi, rng):
    """x_t = phi x_{t-1} + e_t, started in equilibrium: rho(t) = phi^t, tau_int = (1 + phi) / (2 (1 - phi))."""
    e = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = e[0] / np.sqrt(1 - phi**2)
    for t in range(1, n):
        x[t] = phi * x[t - 1] + e[t]
    return x


def test_bins_of_one_sample_give_the_naive_error():
    x = np.random.default_rng(0).standard_normal(1000)
    assert binning_error(x, n_bins=1000) == pytest.approx(naive_error(x), rel=1e-12)
    assert naive_error(x) == pytest.approx(x.std(ddof=1) / np.sqrt(1000), rel=1e-12)


def test_binning_error_of_iid_data_equals_the_naive_error():
    rng = np.random.default_rng(1)
    ratios = np.array([binning_error(x) ** 2 / naive_error(x) ** 2 for x in rng.standard_normal((400, 3200))])
    # each ratio ~ chi^2_31 / 31: mean 1, standard deviation sqrt(2 / 31) = 0.25; the mean of 400 has SE 0.013
    assert abs(ratios.mean() - 1) < 4 * 0.254 / np.sqrt(400)


def test_binning_sees_correlation_that_the_naive_error_misses():
    x = ar1(64_000, 0.8, np.random.default_rng(2))
    tau = (1 + 0.8) / (2 * (1 - 0.8))  # 4.5
    ratio = binning_error(x) / naive_error(x)
    assert ratio == pytest.approx(np.sqrt(2 * tau), rel=0.2)  # 32 bins: the estimate itself has ~13% spread
    assert ratio > 2.0  # the naive error is 3x too small here


def test_autocorrelation_and_tau_int_of_ar1():
    x = ar1(100_000, 0.8, np.random.default_rng(3))
    rho = autocorrelation(x)
    assert rho[0] == 1.0
    assert rho[1:6] == pytest.approx(0.8 ** np.arange(1, 6), abs=0.02)
    tau = integrated_autocorrelation_time(x)
    # Madras-Sokal: SE(tau) ~ tau sqrt(2 (2 W + 1) / n) ~ 0.15 with W ~ 25
    assert tau == pytest.approx(4.5, abs=4 * 0.15)
    iid = integrated_autocorrelation_time(np.random.default_rng(4).standard_normal(20_000))
    assert iid == pytest.approx(0.5, abs=0.05)


def test_jackknife_error_of_a_variance():
    """For N(0, 1) data Var(sample variance) = 2 / n: the jackknife over bins estimates sqrt(2 / n)."""
    rng = np.random.default_rng(5)
    n = 4000
    out = [jackknife(lambda a: float(a.var()), x) for x in rng.standard_normal((100, n))]
    values, errors = np.array(out).T
    assert np.mean(errors**2) / (2 / n) == pytest.approx(1.0, abs=0.1)
    assert values.std() == pytest.approx(np.sqrt(2 / n), rel=0.2)
    with pytest.raises(ValueError, match="same length"):
        jackknife(lambda a, b: 0.0, np.zeros(64), np.zeros(65))
