"""Errors of Monte Carlo averages over correlated samples: binning, the jackknife and the autocorrelation time.

A Markov chain's samples x_1..x_n are correlated, so the naive error sigma / sqrt(n) of their mean is too small by
sqrt(2 tau_int) (Sokal 1997, "Monte Carlo methods in statistical mechanics", eq. 2.19-2.21):

    Var(mean) ~ 2 tau_int sigma^2 / n,     tau_int = 1/2 + sum_{t >= 1} rho(t)

with rho(t) the normalised autocorrelation at lag t (tau_int = 1/2 for independent samples).

- `binning_error`: split the series into B consecutive bins; once a bin is much longer than tau_int the bin means
  are nearly independent and std(bin means) / sqrt(B) is the error of the mean (Flyvbjerg and Petersen 1989).
- `jackknife`: the error of a nonlinear function of averages (specific heat, susceptibility) from the B
  leave-one-bin-out estimates theta_b: sqrt((B - 1) / B sum_b (theta_b - mean theta)^2) (Efron 1982).
- `integrated_autocorrelation_time`: tau_int summed up to Sokal's self-consistent window, the smallest W with
  W >= c tau_int(W) (c = 5), autocorrelations from an FFT.

Pure numpy; series are 1-D arrays (a time series, chains laid end to end).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

DEFAULT_BINS = 32


def _series(x) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 1 or x.size < 2:
        raise ValueError(f"need a 1-D series of at least 2 values, got shape {x.shape}")
    return x


def _bins(n: int, n_bins: int) -> int:
    if n_bins < 2:
        raise ValueError(f"need at least 2 bins, got {n_bins}")
    if n < n_bins:
        raise ValueError(f"{n} samples are too few for {n_bins} bins")
    return n // n_bins  # bin length; the last n % n_bins samples are dropped


def naive_error(x) -> float:
    """sigma / sqrt(n) with the unbiased sample standard deviation: the error of the mean of independent samples."""
    x = _series(x)
    return float(x.std(ddof=1) / np.sqrt(x.size))


def binning_error(x, n_bins: int = DEFAULT_BINS) -> float:
    """The error of mean(x) from `n_bins` consecutive bins: std(bin means, ddof 1) / sqrt(n_bins). With n_bins = n
    (bins of one sample) this is exactly `naive_error`; the first n_bins * (n // n_bins) samples are used."""
    x = _series(x)
    size = _bins(x.size, n_bins)
    means = x[: size * n_bins].reshape(n_bins, size).mean(axis=1)
    return float(means.std(ddof=1) / np.sqrt(n_bins))


def jackknife(estimator: Callable[..., float], *series, n_bins: int = DEFAULT_BINS) -> tuple[float, float]:
    """(estimator(*series), jackknife error over `n_bins` bins). `estimator` maps 1-D arrays (the same samples of
    each series, e.g. E and |m|) to a number; it is evaluated on all the data and on each leave-one-bin-out set."""
    xs = [_series(s) for s in series]
    n = xs[0].size
    if any(s.size != n for s in xs):
        raise ValueError("jackknife: every series needs the same length")
    size = _bins(n, n_bins)
    xs_binned = [s[: size * n_bins].reshape(n_bins, size) for s in xs]
    keep = ~np.eye(n_bins, dtype=bool)
    theta = np.array([estimator(*(s[keep[b]].ravel() for s in xs_binned)) for b in range(n_bins)])
    err = np.sqrt((n_bins - 1) / n_bins * np.sum((theta - theta.mean()) ** 2))
    return float(estimator(*xs)), float(err)


def autocorrelation(x) -> np.ndarray:
    """Normalised autocorrelation rho(t), t = 0..n-1, of a series (FFT, zero-padded: no wrap-around)."""
    x = _series(x)
    d = x - x.mean()
    n = d.size
    f = np.fft.rfft(d, 2 * n)
    acov = np.fft.irfft(f * np.conj(f))[:n] / n
    if acov[0] == 0:
        raise ValueError("autocorrelation of a constant series is undefined")
    return acov / acov[0]


def integrated_autocorrelation_time(x, c: float = 5.0) -> float:
    """tau_int = 1/2 + sum_{t=1}^{W} rho(t) with Sokal's window, the smallest W >= c tau_int(W) (1/2 for independent
    samples; the error of the mean is sqrt(2 tau_int / n) sigma)."""
    rho = autocorrelation(x)
    tau = 0.5 + np.cumsum(rho[1:])  # tau[W - 1] = tau_int(W)
    w = np.arange(1, rho.size)
    ok = w >= c * tau
    return float(tau[np.argmax(ok)] if ok.any() else tau[-1])
