"""Manifold learning and intrinsic dimension: known manifolds give their dimension, hand computations, SVD.

Tolerances: each estimate's seed-to-seed standard deviation was measured over 6 seeds at the sizes used here
(Levina-Bickel k = 10..20, n = 2000: 0.015 on the swiss roll, 0.012 on the sphere, 0.021 on the 3-D Gaussian,
0.033 on the periodic 5-cube; TwoNN: 0.10, 0.03, 0.08, 0.27). The bounds are the issue's +- 0.3 (at least
3 standard deviations of the estimate), while each deliberately wrong formula lands well outside them.
"""

import numpy as np
import pytest
from scipy.stats import spearmanr, special_ortho_group
from sklearn.datasets import make_swiss_roll

from genzoo.analysis import (
    embed,
    intrinsic_dimension,
    levina_bickel,
    levina_bickel_from_distances,
    neighbour_distances,
    pca_dimension,
    plot_embeddings,
    two_nn,
    two_nn_from_distances,
)
from genzoo.errors import ConfigError, DataError, UnknownNameError

ESTIMATORS = (levina_bickel, two_nn)


def _rotate(x, dim, rng):
    """x (n, d) padded with zeros to (n, dim) and turned by a uniformly random rotation of R^dim."""
    q = special_ortho_group.rvs(dim, random_state=rng)
    return np.pad(x, ((0, 0), (0, dim - x.shape[1]))) @ q.T


def _sphere(n, rng):
    z = rng.standard_normal((n, 3))
    return z / np.linalg.norm(z, axis=1, keepdims=True)


def _torus_distances(u):
    """Distances on the flat torus [0, 1)^d (the cube with periodic boundaries: no edge, uniform everywhere)."""
    sq = np.zeros((len(u), len(u)))
    for j in range(u.shape[1]):
        a = np.abs(u[:, None, j] - u[None, :, j])
        sq += np.minimum(a, 1 - a) ** 2
    return np.sqrt(sq)


def _lb_with_norm(t, k1, k2, norm):
    """Levina-Bickel with inverse averaging but a chosen normaliser of the log sum (the right one is k - 1)."""
    logt = np.log(t)
    return np.mean([1 / ((logt[:, k - 1 : k] - logt[:, : k - 1]).sum(1) / norm(k)).mean() for k in range(k1, k2 + 1)])


# -------------------------------------------------------------------------------------------- known manifolds

@pytest.mark.parametrize("estimator", ESTIMATORS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("surface", ["swiss_roll", "sphere"])
def test_two_dimensional_surfaces_in_r10(surface, estimator):
    rng = np.random.default_rng(1)
    x = make_swiss_roll(2000, random_state=1)[0] if surface == "swiss_roll" else _sphere(2000, rng)
    x = _rotate(x, 10, rng)
    assert abs(estimator(x) - 2) < 0.3
    # PCA counts linear directions: both curved surfaces need all 3 of their ambient axes
    assert pca_dimension(x, 0.95) == 3


def test_three_dimensional_subspace_of_r10():
    rng = np.random.default_rng(2)
    x = _rotate(rng.standard_normal((2000, 3)), 10, rng)
    assert pca_dimension(x, 0.95) == 3
    assert pca_dimension(x, 0.999999) == 3  # the other 7 directions carry nothing
    assert intrinsic_dimension(x, "pca") == 3
    for est in ESTIMATORS:
        assert abs(est(x) - 3) < 0.3
    # the same data with a wrong (k instead of k - 1) normaliser is off by the factor ~ k/(k-1)
    t = neighbour_distances(x, 20)
    assert abs(_lb_with_norm(t, 10, 20, lambda k: k - 1) - levina_bickel(x)) < 1e-12
    assert _lb_with_norm(t, 10, 20, lambda k: k) - 3 > 0.15


def test_pca_dimension_counts_the_explained_variance():
    # variances 1, 1, 0.01 along three axes: 2 components explain 2/2.01 = 99.5%, 3 explain all
    rng = np.random.default_rng(3)
    x = _rotate(rng.standard_normal((20000, 3)) * np.array([1.0, 1.0, 0.1]), 6, rng)
    assert pca_dimension(x, 0.95) == 2
    assert pca_dimension(x, 0.994) == 2
    assert pca_dimension(x, 0.997) == 3
    assert pca_dimension(x, 0.4) == 1


def test_uniform_five_cube_gives_five_and_wrong_formulas_miss():
    """The cube [0, 1)^5 with periodic boundaries (distances passed as metric="precomputed"). On the open cube,
    the k-th neighbour ball (radius ~0.3 at n = 2000, k = 20) is cut by the faces for nearly every point, which
    biases the k-neighbour estimators down (Levina-Bickel gives ~4.5 there); the periodic cube has no faces."""
    d = _torus_distances(np.random.default_rng(4).random((2000, 5)))
    lb = levina_bickel(d, metric="precomputed")
    assert abs(lb - 5) < 0.15  # 4.5 standard deviations of the estimate
    t = neighbour_distances(d, 20, metric="precomputed")
    assert abs(_lb_with_norm(t, 10, 20, lambda k: k - 1) - lb) < 1e-12
    assert abs(_lb_with_norm(t, 10, 20, lambda k: k) - 5) > 0.3  # 1/k instead of 1/(k-1): ~5.38
    assert abs(_lb_with_norm(t, 10, 20, lambda k: 1) - 5) > 4  # the (k-1) dropped: ~5/(k-1)
    # The paper's direct average of the points' m_k(x_i) is biased up by (k-1)/(k-2) (the inverse of a mean of
    # k-1 Exp(m) variables), which the MacKay-Ghahramani inverse average removes.
    direct = levina_bickel(d, metric="precomputed", average="mean")
    expected = 5 * np.mean([(k - 1) / (k - 2) for k in range(10, 21)])  # 5.415
    assert abs(direct - expected) < 0.15 and abs(direct - 5) > 0.3
    # TwoNN: mean of 3 independent samples (standard deviation of one ~0.27)
    est = [two_nn(_torus_distances(np.random.default_rng(s).random((2000, 5))), metric="precomputed")
           for s in (5, 6, 7)]
    assert abs(np.mean(est) - 5) < 0.5
    # TwoNN on squared distances (a classic slip) estimates d/2
    t2 = neighbour_distances(d, 2, metric="precomputed") ** 2
    mu = np.sort(t2[:, 1] / t2[:, 0])
    keep = int(0.9 * len(mu))
    lx, ly = np.log(mu[:keep]), -np.log(1 - np.arange(1, keep + 1) / len(mu))
    assert abs(lx @ ly / (lx @ lx) - 5) > 2


# --------------------------------------------------------------------------------------- hand computations

def _hand_distances(x, k):
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    return np.sort(d, axis=1)[:, 1 : k + 1]  # column 0 is the point itself


def test_levina_bickel_equals_hand_computation():
    x = np.random.default_rng(8).standard_normal((9, 3))
    t = _hand_distances(x, 4)
    per_k_inverse, per_k_mean = [], []
    for k in (2, 3, 4):
        m_i = []
        for i in range(9):
            s = sum(np.log(t[i, k - 1] / t[i, j]) for j in range(k - 1))
            m_i.append((k - 1) / s)
        per_k_inverse.append(1 / np.mean([1 / m for m in m_i]))
        per_k_mean.append(np.mean(m_i))
    assert levina_bickel(x, 2, 4) == pytest.approx(np.mean(per_k_inverse), rel=1e-12)
    assert levina_bickel(x, 2, 4, average="mean") == pytest.approx(np.mean(per_k_mean), rel=1e-12)
    assert levina_bickel(x, 3, 3) == pytest.approx(per_k_inverse[1], rel=1e-12)


def test_two_nn_equals_hand_computation():
    x = np.random.default_rng(9).standard_normal((20, 4))
    t = _hand_distances(x, 2)
    mu = sorted(t[:, 1] / t[:, 0])
    num = den = 0.0
    for i in range(1, 19):  # discard 10% of 20: keep the 18 smallest mu, F = i / 20
        num += np.log(mu[i - 1]) * -np.log(1 - i / 20)
        den += np.log(mu[i - 1]) ** 2
    assert two_nn(x) == pytest.approx(num / den, rel=1e-12)


def test_estimators_from_distances_match():
    x = np.random.default_rng(16).standard_normal((400, 4))
    t = neighbour_distances(x, 12)
    assert t.shape == (400, 12) and (t > 0).all() and (np.diff(t, axis=1) >= 0).all()
    assert levina_bickel_from_distances(t, 4, 12) == levina_bickel(x, 4, 12)
    assert levina_bickel_from_distances(t, 4, 12, "mean") == levina_bickel(x, 4, 12, average="mean")
    assert two_nn_from_distances(t, 0.2) == two_nn(x, 0.2)
    with pytest.raises(DataError, match="sorted"):
        levina_bickel_from_distances(t[:, ::-1], 4, 12)
    with pytest.raises(DataError, match=">= 12"):
        levina_bickel_from_distances(t[:, :5], 4, 12)


def test_duplicate_points_are_dropped():
    x = np.random.default_rng(10).standard_normal((300, 3))
    doubled = np.concatenate([x, x[:50], x[:5]])
    for est in ESTIMATORS:
        assert est(doubled) == pytest.approx(est(x), rel=1e-12)
        assert np.isfinite(est(doubled))
    d = np.sqrt(((doubled[:, None] - doubled[None]) ** 2).sum(-1))
    assert levina_bickel(d, metric="precomputed") == pytest.approx(levina_bickel(x), rel=1e-9)
    assert two_nn(d, metric="precomputed") == pytest.approx(two_nn(x), rel=1e-9)


def test_bad_input_raises_clear_errors():
    x = np.random.default_rng(11).standard_normal((15, 3))
    with pytest.raises(DataError, match="at least 21 distinct points"):
        levina_bickel(x)  # k2 = 20 >= 15 points
    with pytest.raises(DataError, match="distinct points"):
        levina_bickel(np.concatenate([x[:5]] * 10), 2, 6)  # 50 rows, 5 distinct
    with pytest.raises(ConfigError, match="k1 <= k2"):
        levina_bickel(x, 5, 3)
    with pytest.raises(ConfigError, match="2 <= k1"):
        levina_bickel(x, 1, 3)
    with pytest.raises(UnknownNameError, match='Did you mean "inverse"'):
        levina_bickel(x, 2, 3, average="invers")
    with pytest.raises(ConfigError, match="discard"):
        two_nn(x, discard=1.0)
    with pytest.raises(ConfigError, match="threshold"):
        pca_dimension(x, 1.5)
    bad = x.copy()
    bad[3, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        two_nn(bad)
    with pytest.raises(DataError, match="shape"):
        two_nn(np.ones(10))
    with pytest.raises(UnknownNameError, match='Did you mean "two_nn"'):
        intrinsic_dimension(x, "twonn")
    with pytest.raises(ConfigError, match='Did you mean "discard"'):
        intrinsic_dimension(x, "two_nn", discrad=0.2)
    with pytest.raises(UnknownNameError, match='Did you mean "isomap"'):
        embed(x, "isomp")
    with pytest.raises(ConfigError, match="n_components"):
        embed(x, "pca", n_components=4)


# ------------------------------------------------------------------------------------------------ embeddings

def test_pca_embedding_equals_svd_projection():
    rng = np.random.default_rng(12)
    x = rng.standard_normal((200, 6)) * np.array([5.0, 3.0, 2.0, 1.0, 0.5, 0.1]) + 7.0
    e = embed(x, "pca", n_components=3)
    xc = x - x.mean(0)
    u, s, vt = np.linalg.svd(xc, full_matrices=False)
    proj = xc @ vt[:3].T
    signs = np.sign((e.coords * proj).sum(0))
    np.testing.assert_allclose(e.coords * signs, proj, atol=1e-9)
    np.testing.assert_allclose(e.explained_variance_ratio, s[:3] ** 2 / (s**2).sum(), rtol=1e-10)
    # images are flattened: the same numbers shaped (N, 1, 2, 3) embed identically
    e_img = embed(x.reshape(200, 1, 2, 3), "pca", n_components=3)
    np.testing.assert_allclose(np.abs(e_img.coords), np.abs(e.coords), atol=1e-9)


def test_isomap_unrolls_the_swiss_roll():
    x, t = make_swiss_roll(800, random_state=13)
    x = _rotate(x, 10, np.random.default_rng(13))
    iso = embed(x, "isomap", n_components=2, n_neighbors=10)
    assert abs(spearmanr(iso.coords[:, 0], t)[0]) > 0.9
    # PCA's straight projection does not follow the roll
    pca = embed(x, "pca", n_components=2)
    assert max(abs(spearmanr(pca.coords[:, j], t)[0]) for j in range(2)) < 0.8


def test_subsample_is_seeded_and_indexes_the_rows():
    x = np.random.default_rng(14).standard_normal((300, 5))
    a = embed(x, "pca", subsample=50, seed=3)
    b = embed(x, "pca", subsample=50, seed=3)
    c = embed(x, "pca", subsample=50, seed=4)
    assert len(a.index) == 50 and np.all(np.diff(a.index) > 0)
    np.testing.assert_array_equal(a.index, b.index)
    assert not np.array_equal(a.index, c.index)
    np.testing.assert_allclose(np.abs(a.coords), np.abs(embed(x[a.index], "pca").coords), atol=1e-12)


def test_plot_embeddings_writes_one_png(tmp_path):
    import matplotlib.image as mpimg

    rng = np.random.default_rng(15)
    centres = rng.standard_normal((3, 8)) * 3
    labels = np.repeat(np.arange(3), 60)
    x = centres[labels] + rng.standard_normal((180, 8))
    path = tmp_path / "out" / "emb.png"
    embs = plot_embeddings(x, labels, path, subsample=150, seed=0)
    assert set(embs) == {"pca", "tsne", "isomap", "lle"}
    img = mpimg.imread(path)
    assert img.ndim == 3 and img.shape[1] > 2 * img.shape[0]  # four panels side by side
    assert [p.name for p in path.parent.iterdir()] == ["emb.png"]  # no temp file left behind
    for e in embs.values():
        assert e.coords.shape == (150, 2) and len(e.index) == 150
    # continuous labels get a colour bar; no labels, one colour
    plot_embeddings(x, rng.random(180), tmp_path / "c.png", methods=("pca",))
    plot_embeddings(x, None, tmp_path / "n.png", methods=("pca", "isomap"))
    assert (tmp_path / "c.png").stat().st_size > 0 and (tmp_path / "n.png").stat().st_size > 0
    with pytest.raises(DataError, match="labels"):
        plot_embeddings(x, labels[:10], tmp_path / "bad.png")
