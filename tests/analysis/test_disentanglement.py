"""MIG and the linear probe: the discretised mutual information against scikit-learn, closed-form MIG values on
the full shapes grid (where the factors are exactly independent), and probe scores at 1 and at chance."""

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import mutual_info_score

from genzoo.analysis import linear_probe, mig, mutual_info_matrix
from genzoo.analysis.disentanglement import discretize, joint_table
from genzoo.data import shapes as S
from genzoo.errors import ConfigError, DataError, UnknownNameError
from genzoo.math import mutual_information


@pytest.fixture(scope="module")
def grid():
    """Factor values (9216, 5) of every shapes combination: each factor uniform, all exactly independent."""
    return S.factor_values(torch.from_numpy(S.factor_grid())).numpy()


def _standard(v):
    return (v - v.mean(0)) / v.std(0)


def test_discretize_matches_numpy_histogram():
    rng = np.random.default_rng(0)
    z = rng.normal(size=(1000, 3)) * [1, 10, 0.1]
    b = discretize(z, 7)
    assert b.min() == 0 and b.max() == 6
    for j in range(3):
        counts, _ = np.histogram(z[:, j], bins=7)
        assert np.array_equal(np.bincount(b[:, j], minlength=7), counts)  # the same bins as numpy's histogram
    with pytest.raises(ConfigError, match="n_bins"):
        discretize(z, 1)


def test_mutual_information_of_the_table_equals_sklearn():
    rng = np.random.default_rng(1)
    a = rng.integers(0, 6, 3000)
    b = (a + rng.integers(0, 3, 3000)) % 5  # dependent on a
    table = joint_table(a, b, 6, 5)
    assert math.isclose(float(mutual_information(table)), mutual_info_score(a, b), rel_tol=1e-10)
    z = rng.normal(size=(3000, 4)) + a[:, None] * [1.0, 0.0, 0.5, -2.0]
    f = np.stack([a, b], 1)
    mi, h = mutual_info_matrix(z, f, n_bins=20)
    zb = discretize(z, 20)
    oracle = np.array([[mutual_info_score(f[:, k], zb[:, j]) for k in range(2)] for j in range(4)])
    assert np.allclose(mi, oracle, rtol=1e-9, atol=1e-12)
    assert np.allclose(h, [mutual_info_score(f[:, k], f[:, k]) for k in range(2)], rtol=1e-10)
    assert not np.allclose(mi, oracle[:, ::-1], rtol=0.01)  # swapped factors would fail


def test_mig_is_one_for_the_factors_themselves_permuted_and_rescaled(grid):
    perm = [3, 0, 4, 1, 2]
    codes = grid[:, perm] * np.array([2.0, -1.0, 0.5, 3.0, 7.0]) + 1.0
    r = mig(codes, grid)
    assert r.mig == pytest.approx(1.0, abs=1e-12) and np.allclose(r.per_factor, 1.0, atol=1e-12)
    assert list(r.best_dim) == [perm.index(k) for k in range(5)]
    assert np.allclose(r.entropy, np.log([3, 6, 8, 8, 8]))
    # the same with an extra dimension of pure noise: still 1 up to the plug-in bias (~ 19 x 7 / (2 N) nats)
    noise = np.random.default_rng(0).normal(size=(len(grid), 1))
    assert mig(np.hstack([codes, noise]), grid).mig > 0.99


def test_mig_closed_forms_for_coarsened_duplicated_and_rotated_codes(grid):
    # x seen only to 4 of its 8 levels (pairs merged): I = ln 4, the other dimensions 0, H = ln 8: (ln 4) / ln 8
    coarse = grid.copy()
    coarse[:, 3] = np.floor(np.round((grid[:, 3] * 64 + 35) / 10) / 2)
    r = mig(coarse, grid)
    assert r.per_factor[3] == pytest.approx(2 / 3, abs=1e-12) and r.mig == pytest.approx((4 + 2 / 3) / 5, abs=1e-12)
    # every factor in two identical dimensions: the gap is 0
    assert mig(np.repeat(grid, 2, axis=1), grid).mig == pytest.approx(0.0, abs=1e-12)
    # a 45-degree rotation of the (x, y) plane: both dimensions carry x (and y) equally, by symmetry gap 0
    z = _standard(grid)
    xy = z.copy()
    xy[:, 3], xy[:, 4] = (z[:, 3] + z[:, 4]) / math.sqrt(2), (z[:, 3] - z[:, 4]) / math.sqrt(2)
    r = mig(xy, grid)
    assert np.allclose(r.per_factor[:3], 1.0) and r.per_factor[3] < 0.05 and r.per_factor[4] < 0.05
    # a dense random rotation mixing all five factors in every dimension
    q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(5, 5)))
    assert mig(z @ q, grid).mig < 0.4


def test_mig_errors(grid):
    with pytest.raises(DataError, match="rows"):
        mig(grid[:10], grid[:11])
    with pytest.raises(DataError, match="single value"):
        mig(grid[:50], np.zeros((50, 1)))
    with pytest.raises(DataError, match="two most informative"):
        mig(grid[:, :1], grid)
    with pytest.raises(DataError, match="NaN"):
        mig(np.full((5, 2), np.nan), grid[:5])


def _split(n, seed=0):
    perm = np.random.default_rng(seed).permutation(n)
    return perm[: int(0.8 * n)], perm[int(0.8 * n) :]


def test_probe_is_one_on_a_linear_code_and_chance_on_noise(grid):
    tr, te = _split(len(grid))
    rng = np.random.default_rng(0)
    onehot = np.eye(3)[grid[:, 0].astype(int)]
    linear = np.hstack([onehot, grid[:, 1:2], np.cos(grid[:, 2:3]), np.sin(grid[:, 2:3]), grid[:, 3:]])
    linear = linear @ rng.normal(size=(8, 8)) + 0.001 * rng.normal(size=(len(grid), 8))  # mixed: still linear
    p = linear_probe(linear[tr], grid[tr], linear[te], grid[te], kinds=S.FACTOR_KINDS)
    assert p.kinds == S.FACTOR_KINDS and p.scores.min() > 0.99 and p.mean > 0.99
    # rotation as a plain number is not a linear function of (cos, sin): the circular kind is what makes it 1
    assert linear_probe(linear[tr], grid[tr, 2], linear[te], grid[te, 2], "continuous").mean < 0.9
    noise = rng.normal(size=(len(grid), 8))
    p = linear_probe(noise[tr], grid[tr], noise[te], grid[te], kinds=S.FACTOR_KINDS)
    n_te = len(te)
    se = math.sqrt(p.chance[0] * (1 - p.chance[0]) / n_te)
    assert abs(p.scores[0] - 1 / 3) < 5 * se + 0.02 and p.chance[0] == pytest.approx(1 / 3, abs=0.03)
    # R^2 of 9 fitted coefficients on pure noise: about -(9 / N_train) + O(1 / sqrt N_test); never near 1
    assert np.all(np.abs(p.scores[1:]) < 0.03)


def test_probe_errors(grid):
    with pytest.raises(UnknownNameError):
        linear_probe(grid, grid, grid, grid, kinds="ordinal")
    with pytest.raises(ConfigError, match="kinds"):
        linear_probe(grid, grid, grid, grid, kinds=["continuous"] * 4)
    with pytest.raises(DataError, match="width"):
        linear_probe(grid, grid, grid[:, :4], grid)
