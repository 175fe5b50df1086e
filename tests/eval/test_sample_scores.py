"""frechet_distance against closed forms (two-sided) and mnist_scores on real digits versus noise."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genzoo.errors import DataError
from genzoo.eval import frechet_distance, mnist_scores


def test_frechet_1d_and_diagonal_closed_forms():
    rng = np.random.default_rng(0)
    a, b = rng.normal(1.0, 2.0, (500, 1)), rng.normal(-0.5, 0.7, (400, 1))
    va, vb = a.var(ddof=1), b.var(ddof=1)
    # in 1-D (and per axis for diagonal covariances) W2^2 = (m_a - m_b)^2 + (s_a - s_b)^2
    exact = (a.mean() - b.mean()) ** 2 + (np.sqrt(va) - np.sqrt(vb)) ** 2
    assert frechet_distance(a, b) == pytest.approx(exact, rel=1e-9)
    assert abs(frechet_distance(a, b) - ((a.mean() - b.mean()) ** 2 + va + vb)) > 0.5  # no cross term: wrong
    assert frechet_distance(a, a) == pytest.approx(0.0, abs=1e-9)
    scale = np.array([1.0, 3.0, 0.2])
    x, y = rng.normal(size=(2000, 3)) * scale, rng.normal(size=(2000, 3)) * scale[::-1] + 1
    # diagonal population covariances: the distance between the fitted Gaussians is near the per-axis sum
    pop = 3 * 1.0 + ((scale - scale[::-1]) ** 2).sum()
    assert frechet_distance(x, y) == pytest.approx(pop, rel=0.05)


def test_frechet_is_rotation_invariant_for_non_commuting_covariances():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(800, 4)) @ rng.normal(size=(4, 4))
    b = rng.normal(size=(700, 4)) @ rng.normal(size=(4, 4)) + 0.3
    q, _ = np.linalg.qr(rng.normal(size=(4, 4)))
    assert frechet_distance(a @ q, b @ q) == pytest.approx(frechet_distance(a, b), rel=1e-7)
    assert frechet_distance(a, b) > 0 and frechet_distance(torch.tensor(a), torch.tensor(b)) == pytest.approx(
        frechet_distance(a, b), rel=1e-12)


def test_frechet_bad_input():
    with pytest.raises(DataError, match=r"\(N, D\)"):
        frechet_distance(np.zeros((5, 2)), np.zeros((5, 3)))
    with pytest.raises(DataError, match="NaN"):
        frechet_distance(np.full((5, 2), np.nan), np.zeros((5, 2)))


def test_mnist_scores_real_digits_against_noise():
    from genzoo.data import get

    test, train = get("mnist", "test"), get("mnist", "train")
    real = mnist_scores(test.x[:1000], reference=train.x[:1000])
    noise = mnist_scores(torch.rand(1000, 1, 28, 28), reference=train.x[:1000])
    assert real["mean_confidence"] > 0.95 and real["classes_covered"] == 10 and real["class_kl_to_uniform"] < 0.02
    assert real["fid_mnist"] < 20 < 200 < noise["fid_mnist"], (real["fid_mnist"], noise["fid_mnist"])
    assert sum(real["class_counts"]) == 1000
    with pytest.raises(DataError, match="NaN"):
        mnist_scores(torch.full((2, 1, 28, 28), float("nan")))
