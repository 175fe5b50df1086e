"""The "shapes" data set: every factor changes the image as its definition says (closed-form areas, exact
translations, rotation symmetries), determinism, the seeded split, and one-line errors for bad options."""

import math

import numpy as np
import pytest
import torch

import genzoo.data as gd
from genzoo.data import shapes as S
from genzoo.errors import ConfigError, DataError, GenzooError


@pytest.fixture(scope="module")
def train():
    return gd.get("shapes")


@pytest.fixture(scope="module")
def whole():
    return S.shapes_images()


def _pick(index: torch.Tensor, **fixed) -> torch.Tensor:
    """Rows of a factor-index matrix with the given factor indices (sorted by the remaining ones)."""
    keep = torch.ones(len(index), dtype=torch.bool)
    for name, v in fixed.items():
        keep &= index[:, S.FACTOR_NAMES.index(name)] == v
    return torch.nonzero(keep).flatten()


def _centroid(img: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(row, column) of the intensity centroid of images (N, 1, H, W), in pixel-index units."""
    img = img[:, 0].double()
    r = torch.arange(img.shape[1], dtype=torch.float64)
    m = img.sum((1, 2))
    return (img.sum(2) * r).sum(1) / m, (img.sum(1) * r).sum(1) / m


def test_split_sizes_labels_and_factors(train):
    test = gd.get("shapes", "test")
    info = gd.get_info("shapes")
    assert (len(train), len(test)) == (info.sizes["train"], info.sizes["test"]) == (7373, 1843)
    assert train.data_shape == info.shape == (1, 32, 32) and train.kind == "image" and train.num_classes == 3
    both = torch.cat([train.meta["factor_index"], test.meta["factor_index"]])
    assert torch.equal(torch.unique(both, dim=0), torch.from_numpy(S.factor_grid()))  # disjoint, cover the grid
    assert torch.equal(train.y, train.meta["factor_index"][:, 0])  # labels = shape
    assert train.meta["factors"] == ["shape", "scale", "rotation", "x", "y"]
    v = train.meta["factor_values"]
    assert torch.allclose(v[:, 1], 0.5 + 0.1 * train.meta["factor_index"][:, 1].double())
    assert torch.allclose(v[:, 2], math.pi / 4 * train.meta["factor_index"][:, 2].double())
    assert float(train.x.min()) == 0.0 and float(train.x.max()) == 1.0
    levels = train.x * 16  # antialias 4: 4 x 4 sample points per pixel
    assert torch.equal(levels, levels.round()) and train.meta["n_bins"] == 17
    # every combination of factors is a different image (except the symmetries: square / 90, ellipse / 180 deg)
    assert len(torch.unique(train.x.flatten(1), dim=0)) > 0.6 * len(train)


def test_deterministic_and_seeded_split(train):
    again = gd.get("shapes")
    assert torch.equal(again.x, train.x) and torch.equal(again.meta["factor_index"], train.meta["factor_index"])
    other = gd.get("shapes", seed=1)
    assert not torch.equal(other.meta["factor_index"], train.meta["factor_index"])
    # the image of a factor combination does not depend on the split
    i = _pick(other.meta["factor_index"], shape=2, scale=3, rotation=1)
    j = _pick(train.meta["factor_index"], shape=2, scale=3, rotation=1)
    a = {tuple(k.tolist()): x for k, x in zip(other.meta["factor_index"][i], other.x[i])}
    b = {tuple(k.tolist()): x for k, x in zip(train.meta["factor_index"][j], train.x[j])}
    common = set(a) & set(b)
    assert len(common) > 10 and all(torch.equal(a[k], b[k]) for k in common)


def test_grid_equals_direct_rendering(whole):
    x, index = whole
    rows = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))[:200]
    direct = S.render_shapes(*S.factor_values(index[rows]).numpy().T)
    assert torch.equal(direct, x[rows])
    assert not torch.equal(direct, x[rows.roll(1)])  # the comparison can fail
    # size 16 with one sample per pixel has no whole-sample shifts: the direct path, then the same pictures
    assert S._sample_shifts(16, 1) is None and S._sample_shifts(32, 4) is not None
    small, _ = S.shapes_images(16, 1)
    assert torch.equal(small[rows[:50]], S.render_shapes(*S.factor_values(index[rows[:50]]).numpy().T, size=16,
                                                         antialias=1))


def test_centroid_moves_with_x_and_y(whole):
    x, index = whole
    for shape in range(3):
        along_x = _pick(index, shape=shape, scale=5, rotation=3, y=2)  # x = 0..7
        r, c = _centroid(x[along_x])
        # 2.5 px steps; two steps are a whole-pixel translation of the same picture, so exactly 5 px
        assert torch.allclose(c.diff(), torch.full((7,), 2.5, dtype=torch.float64), atol=0.01)
        assert torch.allclose(c[2:] - c[:-2], torch.full((6,), 5.0, dtype=torch.float64), atol=1e-9)
        assert torch.equal(x[along_x[2:]], x[along_x[:-2]].roll(5, dims=-1))
        assert torch.allclose(r, r[:1].expand(8), atol=1e-9)
        along_y = _pick(index, shape=shape, scale=5, rotation=3, x=6)
        r, c = _centroid(x[along_y])
        assert torch.allclose(r[2:] - r[:-2], torch.full((6,), 5.0, dtype=torch.float64), atol=1e-9)  # downwards
        assert torch.allclose(c, c[:1].expand(8), atol=1e-9)
    # a square's centroid is its centre: pixel (x + 1) S / 2 - 1/2 for S = 32
    sq = _pick(index, shape=0, scale=4, rotation=0)
    r, c = _centroid(x[sq])
    v = S.factor_values(index[sq])
    assert torch.allclose(c, (v[:, 3] + 1) * 16 - 0.5, atol=0.02)
    assert torch.allclose(r, (v[:, 4] + 1) * 16 - 0.5, atol=0.02)
    assert not torch.allclose(r, (-v[:, 4] + 1) * 16 - 0.5, atol=0.5)  # y upwards would fail


def test_area_is_the_closed_form_and_grows_with_scale_squared(whole):
    x, index = whole
    area = x.sum((1, 2, 3)).double() * (2 / 32) ** 2  # a pixel is 2/S wide in image coordinates
    v = S.factor_values(index)
    exact = torch.tensor(S.SHAPE_AREAS, dtype=torch.float64)[index[:, 0]] * (S.RADIUS * v[:, 1]) ** 2
    rel = (area / exact - 1).abs()
    assert float(rel.max()) < 0.08 and float(rel.mean()) < 0.025  # lattice counts of a 3-6 px shape
    for shape in range(3):
        a = torch.stack([area[_pick(index, shape=shape, scale=k)].mean() for k in range(6)])
        scale = torch.tensor(S.FACTOR_VALUES["scale"], dtype=torch.float64)
        assert torch.allclose(a / a[-1], (scale / scale[-1]) ** 2, rtol=0.05)
        assert not torch.allclose(a / a[-1], scale / scale[-1], rtol=0.05)  # area linear in scale fails
    # on a fine lattice (128 px, 8 x 8 samples each) the counts converge to the closed forms
    fine = S.render_shapes([0, 1, 2], 1.0, 0.3, 0.1, -0.2, size=128, antialias=8).sum((1, 2, 3)).double()
    exact = torch.tensor(S.SHAPE_AREAS, dtype=torch.float64) * S.RADIUS**2
    assert torch.allclose(fine * (2 / 128) ** 2, exact, rtol=5e-4)


def test_rotation_symmetries(whole):
    x, index = whole
    for shape, period in ((0, 2), (1, 4)):  # square: 90 deg = 2 steps of 45; ellipse: 180 deg = 4 steps
        a = x[_pick(index, shape=shape, rotation=0)]
        b = x[_pick(index, shape=shape, rotation=period)]
        c = x[_pick(index, shape=shape, rotation=1)]  # 45 degrees: a different picture
        assert float((a - b).abs().max()) <= 1 / 16 and float((a - b).abs().mean()) < 1e-4
        assert float((a - c).abs().mean()) > 20 * float((a - b).abs().mean()) + 1e-3
    heart = x[_pick(index, shape=2, rotation=0)]
    assert float((heart - x[_pick(index, shape=2, rotation=4)]).abs().mean()) > 0.01  # no symmetry
    # counter-clockwise on screen: a centred heart turned by 90 deg is the image turned by np.rot90
    up, left = S.render_shapes([2, 2], 1.0, [0.0, math.pi / 2], 0.0, 0.0)
    assert torch.allclose(torch.rot90(up, 1, dims=(-2, -1)), left, atol=1e-6)
    assert not torch.allclose(torch.rot90(up, -1, dims=(-2, -1)), left, atol=0.1)
    # the heart points down at rotation 0: more mass in the upper half (its bumps) than in the lower
    assert float(up[0, :16].sum()) > float(up[0, 16:].sum())


def test_options_size_and_antialias():
    big = gd.get("shapes", "test", size=64)
    small = gd.get("shapes", "test")
    assert big.data_shape == (1, 64, 64) and big.meta["size"] == 64
    assert torch.equal(big.meta["factor_index"], small.meta["factor_index"])
    # the same shapes at twice the resolution: 2 x 2 pooled, the areas agree to a few percent
    pooled = torch.nn.functional.avg_pool2d(big.x[:200], 2)
    assert float((pooled.sum((1, 2, 3)) / small.x[:200].sum((1, 2, 3)) - 1).abs().max()) < 0.05
    binary = gd.get("shapes", "test", antialias=1)
    assert set(np.unique(binary.x.numpy()).tolist()) == {0.0, 1.0} and binary.meta["n_bins"] == 2


@pytest.mark.parametrize("kw, err", [({"size": 8}, DataError), ({"size": "32"}, DataError),
                                     ({"antialias": 0}, DataError), ({"seed": -1}, DataError),
                                     ({"size": True}, DataError), ({"n": 10}, ConfigError)])
def test_bad_options_are_one_line_errors(kw, err):
    with pytest.raises(err) as e:
        gd.get("shapes", **kw)
    assert isinstance(e.value, GenzooError) and "\n" not in str(e.value) and "shapes" in str(e.value)
    with pytest.raises(ValueError, match="shape index"):
        S.render_shapes(3, 1.0, 0.0, 0.0, 0.0)
