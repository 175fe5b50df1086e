"""Disentanglement scores of a representation against known generative factors: MIG and a linear probe.

`codes` are representations (N, D) of N examples (a VAE's posterior means, as in disentanglement_lib), `factors`
their ground-truth generative factors (N, K) (e.g. `genzoo.data.get("shapes").meta["factor_values"]`).

Mutual information gap (Chen et al. 2018, "Isolating sources of disentanglement in VAEs", eq. 4), with the
discretised estimator of disentanglement_lib (Locatello et al. 2019): every code dimension is cut into `n_bins`
equal-width bins over its range, factors are taken as discrete (one level per distinct value), and

    I_jk = I(bin(z_j); v_k)          from the joint frequency table (genzoo.math.mutual_information)
    MIG  = (1 / K) sum_k (I_(1)k - I_(2)k) / H(v_k),

with I_(1)k >= I_(2)k the two largest of I_1k, ..., I_Dk. A factor captured by exactly one dimension scores 1;
a factor spread evenly over two dimensions (or captured by none) scores 0. The plug-in estimate is biased upwards
by about (bins - 1)(levels - 1) / (2 N) nats (Miller 1955), so N should be large next to bins x levels.

Linear probe: a linear model from the codes to each factor, fitted on one set of examples and scored on another
(as the "linear evaluation" of representation learning; Locatello et al. 2019 use logistic regression for their
downstream task): a categorical factor by multinomial logistic regression (score: accuracy; chance: the majority
level's frequency), a continuous one by least squares (score: R^2; chance 0), a circular one (an angle theta) by
least squares on (cos theta, sin theta) (score: their mean R^2). Codes are standardised with the training set's
mean and deviation first.
"""

from __future__ import annotations

from typing import NamedTuple, Sequence

import numpy as np
import torch

from genzoo.errors import ConfigError, DataError, unknown_name
from genzoo.math import entropy, mutual_information

PROBE_KINDS = ("categorical", "continuous", "circular")


def _matrix(a, name: str) -> np.ndarray:
    """A finite 2-D float64 array (a 1-D one is one column)."""
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise DataError(f"{name} must be a non-empty (N, D) array, got shape {a.shape}")
    try:
        a = a.astype(np.float64)
    except (TypeError, ValueError):
        raise DataError(f"{name} must be numbers, got dtype {a.dtype}") from None
    if not np.isfinite(a).all():
        raise DataError(f"{name} contains NaN or inf")
    return a


def _pair(codes, factors) -> tuple[np.ndarray, np.ndarray]:
    codes, factors = _matrix(codes, "codes"), _matrix(factors, "factors")
    if len(codes) != len(factors):
        raise DataError(f"codes have {len(codes)} rows but factors {len(factors)}: one row per example in each")
    return codes, factors


def discretize(codes, n_bins: int = 20) -> np.ndarray:
    """Bin indices (N, D) int64 in [0, n_bins) of every column: `n_bins` equal-width bins over the column's range
    (`numpy.histogram_bin_edges`; the maximum falls in the last bin), as disentanglement_lib's histogram
    discretiser."""
    if isinstance(n_bins, bool) or not isinstance(n_bins, (int, np.integer)) or n_bins < 2:
        raise ConfigError(f"n_bins must be an integer >= 2, got {n_bins!r}")
    codes = _matrix(codes, "codes")
    out = np.empty(codes.shape, dtype=np.int64)
    for j in range(codes.shape[1]):
        edges = np.histogram_bin_edges(codes[:, j], bins=int(n_bins))
        out[:, j] = np.digitize(codes[:, j], edges[1:-1])  # interior edges: 0 .. n_bins - 1
    return out


def _levels(factors: np.ndarray) -> tuple[np.ndarray, list[int]]:
    """Each column's distinct values as indices 0 .. L_k - 1, and the L_k."""
    out = np.empty(factors.shape, dtype=np.int64)
    sizes = []
    for k in range(factors.shape[1]):
        values, out[:, k] = np.unique(factors[:, k], return_inverse=True)
        sizes.append(len(values))
    return out, sizes


def joint_table(a: np.ndarray, b: np.ndarray, na: int, nb: int) -> torch.Tensor:
    """Joint frequencies p(a = i, b = j) (na, nb) float64 of two integer label arrays with values in [0, na) and
    [0, nb)."""
    counts = np.bincount(np.asarray(a) * nb + np.asarray(b), minlength=na * nb).reshape(na, nb)
    return torch.from_numpy(counts / counts.sum())


class MIGResult(NamedTuple):
    mig: float  # the mean of per_factor
    per_factor: np.ndarray  # (K,) (I_(1)k - I_(2)k) / H(v_k)
    mutual_info: np.ndarray  # (D, K) I(bin(z_j); v_k) in nats
    entropy: np.ndarray  # (K,) H(v_k) in nats
    best_dim: np.ndarray  # (K,) the code dimension with the largest I_jk


def mutual_info_matrix(codes, factors, n_bins: int = 20) -> tuple[np.ndarray, np.ndarray]:
    """I(bin(z_j); v_k) (D, K) in nats between discretised codes and discrete factors (see the module), and the
    factors' entropies H(v_k) (K,), through genzoo.math.mutual_information and entropy of frequency tables."""
    codes, factors = _pair(codes, factors)
    zb = discretize(codes, n_bins)
    v, sizes = _levels(factors)
    mi = np.empty((codes.shape[1], factors.shape[1]))
    for k, nk in enumerate(sizes):
        tables = torch.stack([joint_table(zb[:, j], v[:, k], n_bins, nk) for j in range(codes.shape[1])])
        mi[:, k] = mutual_information(tables).numpy()
    h = np.array([float(entropy(torch.from_numpy(np.bincount(v[:, k]) / len(v)))) for k in range(len(sizes))])
    return mi, h


def mig(codes, factors, n_bins: int = 20) -> MIGResult:
    """Mutual information gap (Chen et al. 2018) with disentanglement_lib's histogram estimator (see the module):
    MIG = mean_k (I_(1)k - I_(2)k) / H(v_k). Needs >= 2 code dimensions and no constant factor."""
    codes, factors = _pair(codes, factors)
    if codes.shape[1] < 2:
        raise DataError(f"MIG compares the two most informative code dimensions; codes have {codes.shape[1]}")
    mi, h = mutual_info_matrix(codes, factors, n_bins)
    if (h <= 0).any():
        raise DataError(f"factor(s) {np.flatnonzero(h <= 0).tolist()} take a single value: no information to gap")
    top = np.sort(mi, axis=0)[::-1]
    per = (top[0] - top[1]) / h
    return MIGResult(float(per.mean()), per, mi, h, mi.argmax(0))


class ProbeResult(NamedTuple):
    mean: float  # the mean of scores
    scores: np.ndarray  # (K,) test accuracy (categorical) or R^2 (continuous, circular)
    chance: np.ndarray  # (K,) a code with no information: majority frequency (categorical) or 0
    kinds: tuple[str, ...]


def _kinds(kinds, k: int) -> tuple[str, ...]:
    if kinds is None:
        return ("continuous",) * k
    kinds = (kinds,) * k if isinstance(kinds, str) else tuple(kinds)
    if len(kinds) != k:
        raise ConfigError(f"kinds names {len(kinds)} factor(s) but there are {k}")
    for kind in kinds:
        if kind not in PROBE_KINDS:
            raise unknown_name("probe kind", kind, PROBE_KINDS)
    return kinds


def linear_probe(codes_train, factors_train, codes_test, factors_test,
                 kinds: str | Sequence[str] | None = None, max_iter: int = 2000) -> ProbeResult:
    """Per factor, a linear model from standardised codes to the factor, fitted on (codes_train, factors_train)
    and scored on (codes_test, factors_test): accuracy of multinomial logistic regression for "categorical",
    R^2 of least squares for "continuous", mean R^2 of least squares on (cos, sin) for "circular" (radians).
    kinds: one per factor (or one for all; None: all "continuous"), e.g. the shapes set's meta["factor_kinds"]."""
    from sklearn.linear_model import LinearRegression, LogisticRegression
    from sklearn.metrics import r2_score

    ztr, ftr = _pair(codes_train, factors_train)
    zte, fte = _pair(codes_test, factors_test)
    if ztr.shape[1] != zte.shape[1] or ftr.shape[1] != fte.shape[1]:
        raise DataError(f"train and test differ in width: codes {ztr.shape[1]} / {zte.shape[1]}, factors "
                        f"{ftr.shape[1]} / {fte.shape[1]}")
    kinds = _kinds(kinds, ftr.shape[1])
    mu, sd = ztr.mean(0), ztr.std(0)
    sd = np.where(sd > 0, sd, 1.0)
    ztr, zte = (ztr - mu) / sd, (zte - mu) / sd
    scores, chance = np.empty(len(kinds)), np.zeros(len(kinds))
    for k, kind in enumerate(kinds):
        if kind == "categorical":
            ytr, yte = ftr[:, k], fte[:, k]
            if len(np.unique(ytr)) < 2:
                raise DataError(f"factor {k} takes a single value in the training set: nothing to classify")
            clf = LogisticRegression(max_iter=max_iter).fit(ztr, ytr)
            scores[k] = float((clf.predict(zte) == yte).mean())
            _, counts = np.unique(yte, return_counts=True)
            chance[k] = counts.max() / len(yte)
            continue
        if kind == "circular":
            ytr = np.stack([np.cos(ftr[:, k]), np.sin(ftr[:, k])], 1)
            yte = np.stack([np.cos(fte[:, k]), np.sin(fte[:, k])], 1)
        else:
            ytr, yte = ftr[:, k], fte[:, k]
        scores[k] = float(r2_score(yte, LinearRegression().fit(ztr, ytr).predict(zte)))
    return ProbeResult(float(scores.mean()), scores, chance, kinds)
