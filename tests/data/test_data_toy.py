"""Toy 2-D sets: shapes, determinism, exact densities (normalisation, agreement with the sampler), modes."""

import math

import pytest
import torch

from genzoo.data import toy2d, toy2d_entropy, toy2d_log_prob, toy2d_modes, toy2d_names
from genzoo.errors import ConfigError, DataError, UnknownNameError

NAMES = ["ring8", "grid25", "8gaussians", "moons", "circles", "swissroll", "checkerboard", "pinwheel", "2spirals"]


def test_names():
    assert toy2d_names() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_and_determinism(name):
    x = toy2d(name, 1000, seed=7)
    assert x.shape == (1000, 2) and x.dtype == torch.float32 and torch.isfinite(x).all()
    assert torch.equal(x, toy2d(name, 1000, seed=7))
    assert not torch.allclose(x, toy2d(name, 1000, seed=8))
    assert not torch.allclose(toy2d(name, 1000), toy2d(name, 1000))  # seed=None: fresh entropy
    assert 0.3 < x.std(0).min() < 10  # not collapsed, not exploded
    assert toy2d(name, 0, seed=0).shape == (0, 2)


def test_no_global_rng_state():
    torch.manual_seed(0)
    a = torch.rand(3)
    torch.manual_seed(0)
    toy2d("ring8", 100, seed=1)
    assert torch.equal(torch.rand(3), a)


def _grid(lo, hi, h):
    """Midpoints of a square grid of cells of side h on [lo, hi]^2, and the cell area."""
    c = torch.arange(lo + h / 2, hi, h, dtype=torch.float64)
    return torch.cartesian_prod(c, c), h * h


@pytest.mark.parametrize("name,kw,lo,hi,h", [
    ("ring8", {"std": 0.1}, -1.8, 1.8, 0.01),
    ("ring8", {"std": 0.05}, -1.4, 1.4, 0.01),
    ("ring8", {}, -1.1, 1.1, 0.004),  # the PacGAN default std 0.01: cells of 0.4 std
    ("grid25", {}, -4.5, 4.5, 0.02),  # std 0.05
    ("8gaussians", {}, -5.0, 5.0, 0.05),
    ("checkerboard", {}, -5.0, 5.0, 0.1),
])
def test_density_integrates_to_one(name, kw, lo, hi, h):
    pts, area = _grid(lo, hi, h)
    lp = toy2d_log_prob(name, pts, **kw)
    total = lp.exp().sum().item() * area
    assert abs(total - 1.0) < 0.01, total
    # the other side: components 2.5% too wide with the normaliser of the true std (a 5% mass error) fail it
    if name != "checkerboard":
        std = kw.get("std", toy2d_modes(name).std)
        wrong = toy2d_log_prob(name, pts, **{**kw, "std": std * 1.025}) + 2 * math.log(1.025)  # normaliser of std
        assert abs(wrong.exp().sum().item() * area - 1.0) > 0.01


def test_density_is_not_trivially_normalised():
    """The density depends on its arguments: the true std scores the samples higher than a wrong one, and points
    moved off the ring score far lower."""
    x = toy2d("ring8", 2000, seed=0, std=0.05)
    assert toy2d_log_prob("ring8", x, std=0.05).mean() > toy2d_log_prob("ring8", x, std=0.1).mean() + 0.5
    assert toy2d_log_prob("ring8", x + 0.5, std=0.05).mean() < -10


@pytest.mark.parametrize("name", ["ring8", "grid25", "8gaussians", "checkerboard"])
def test_samples_match_density_entropy(name):
    """-E[log p(x)] over the sampler's own points equals the entropy (ln 32 for the checkerboard)."""
    x = toy2d(name, 20000, seed=1)
    lp = toy2d_log_prob(name, x)
    assert torch.isfinite(lp).all()
    assert lp.dtype == torch.float32 and lp.shape == (20000,)
    assert abs(-lp.double().mean().item() - toy2d_entropy(name)) < 0.03


def test_checkerboard_support_and_entropy():
    assert toy2d_entropy("checkerboard") == pytest.approx(math.log(32)) == pytest.approx(3.4657, abs=1e-4)
    x, y = toy2d("checkerboard", 8000, seed=2, return_labels=True)
    assert x.min() >= -4 and x.max() < 4
    assert torch.bincount(y, minlength=8).min() > 800  # 8 equally likely squares
    outside = torch.tensor([[1.0, -1.0], [-3.0, 3.0], [4.5, 0.5], [0.5, 2.5]])  # odd cells and outside [-4, 4)^2
    assert torch.isinf(toy2d_log_prob("checkerboard", outside)).all()
    assert toy2d_log_prob("checkerboard", torch.tensor([[0.5, 0.5], [-3.0, -3.0]])).tolist() == \
        pytest.approx([-math.log(32)] * 2)


@pytest.mark.parametrize("name,radius,std,k", [
    ("ring8", 1.0, 0.01, 8), ("grid25", 4.0, 0.05, 25), ("8gaussians", 2 * math.sqrt(2), 0.5 / math.sqrt(2), 8),
    ("ring8", 2.0, 0.2, 8),
])
def test_mixture_components_have_right_means_and_std(name, radius, std, k):
    kw = {} if (name, radius) != ("ring8", 2.0) else {"radius": radius, "std": std}
    modes = toy2d_modes(name, **kw)
    assert modes.means.shape == (k, 2) and modes.std == pytest.approx(std)
    assert modes.means.norm(dim=1).max().item() == pytest.approx(radius * (math.sqrt(2) if name == "grid25" else 1))
    x, y = toy2d(name, 400 * k, seed=3, return_labels=True, **kw)
    assert y.dtype == torch.int64 and y.min() == 0 and y.max() == k - 1
    for j in range(k):
        pts = x[y == j].double()
        assert len(pts) > 250
        se = std / math.sqrt(len(pts))
        assert (pts.mean(0) - modes.means[j].double()).abs().max() < 5 * se
        assert pts.std(0).tolist() == pytest.approx([std, std], rel=0.15)


def test_pacgan_defaults():
    ring = toy2d_modes("ring8")
    assert ring.std == 0.01 and torch.allclose(ring.means.norm(dim=1), torch.ones(8))
    grid = toy2d_modes("grid25")
    assert grid.std == 0.05
    assert sorted(set(grid.means[:, 0].tolist())) == [-4, -2, 0, 2, 4]


def test_labels_of_other_sets_and_errors():
    for name, k in [("moons", 2), ("circles", 2), ("pinwheel", 5), ("2spirals", 2)]:
        _, y = toy2d(name, 500, seed=0, return_labels=True)
        assert sorted(y.unique().tolist()) == list(range(k))
    with pytest.raises(DataError, match="swissroll: has no component labels"):
        toy2d("swissroll", 10, return_labels=True)
    with pytest.raises(UnknownNameError, match='unknown toy 2-D data set "ring9". Did you mean "ring8"'):
        toy2d("ring9", 10)
    with pytest.raises(UnknownNameError, match="with an exact density"):
        toy2d_log_prob("moons", torch.zeros(1, 2))
    with pytest.raises(ConfigError, match="radius/std apply only"):
        toy2d("moons", 10, std=0.1)
    with pytest.raises(ConfigError, match="std must be a positive"):
        toy2d("ring8", 10, std=-1)
    with pytest.raises(DataError, match=r"shape \(..., 2\)"):
        toy2d_log_prob("ring8", torch.zeros(3, 3))
