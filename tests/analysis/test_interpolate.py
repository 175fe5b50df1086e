"""Latent interpolation: slerp stays on the sphere and hits the endpoints; lerp is linear; decoded grids."""

import math

import pytest
import torch

from genzoo.analysis import image_grid, interpolate, interpolation_grid, save_image_grid
from genzoo.errors import UnknownNameError
from genzoo.models import create


def _unit(*shape):
    z = torch.randn(*shape, dtype=torch.float64)
    return z / z.norm(dim=-1, keepdim=True)


def test_slerp_keeps_unit_norm_and_hits_endpoints():
    z0, z1 = _unit(5, 16), _unit(5, 16)
    path = interpolate(z0, z1, 11, method="slerp")
    assert path.shape == (11, 5, 16)
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[-1], z1)
    torch.testing.assert_close(path.norm(dim=-1), torch.ones(11, 5, dtype=torch.float64))
    # constant angular speed: equal angles between consecutive points
    cos = (path[1:] * path[:-1]).sum(-1).clamp(-1, 1)
    ang = torch.arccos(cos)
    torch.testing.assert_close(ang, ang[:1].expand_as(ang))
    # lerp between the same unit vectors leaves the sphere (so the check above is discriminative)
    mid = interpolate(z0, z1, 11, method="lerp")[5]
    assert (mid.norm(dim=-1) < 0.99).all()


def test_slerp_near_parallel_and_antiparallel():
    z0 = _unit(8)
    for z1 in (z0 + 1e-12, z0.clone()):
        path = interpolate(z0, z1, 7, method="slerp")
        assert torch.isfinite(path).all()
        torch.testing.assert_close(path[0], z0)
        torch.testing.assert_close(path[-1], z1)
    path = interpolate(z0, -z0, 9, method="slerp")
    assert torch.isfinite(path).all()
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[-1], -z0)
    torch.testing.assert_close(path.norm(dim=-1), torch.ones(9, dtype=torch.float64))


def test_slerp_on_a_known_circle():
    e1, e2 = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    path = interpolate(e1, e2, 3, method="slerp")
    torch.testing.assert_close(path[1], torch.tensor([math.sqrt(0.5), math.sqrt(0.5)]))


def test_lerp_is_linear():
    z0, z1 = torch.randn(3, 4), torch.randn(3, 4)
    path = interpolate(z0, z1, 6, method="lerp")
    torch.testing.assert_close(path[0], z0)
    torch.testing.assert_close(path[-1], z1)
    torch.testing.assert_close(path[2:] - 2 * path[1:-1] + path[:-2], torch.zeros(4, 3, 4), atol=1e-6, rtol=0)
    torch.testing.assert_close(path[1], 0.8 * z0 + 0.2 * z1)


def test_interpolate_errors():
    with pytest.raises(UnknownNameError, match="slerp"):
        interpolate(torch.zeros(2), torch.ones(2), 3, method="slep")
    with pytest.raises(ValueError, match="steps"):
        interpolate(torch.zeros(2), torch.ones(2), 1)
    with pytest.raises(ValueError, match="same shape"):
        interpolate(torch.zeros(2), torch.ones(3), 3)


def test_interpolation_grid(tmp_path):
    m = create("vae", data_shape=(1, 8, 8), hidden=(16,), latent_dim=3)
    x0, x1 = torch.rand(2, 1, 8, 8), torch.rand(2, 1, 8, 8)
    for method in ("lerp", "slerp"):
        imgs = interpolation_grid(m, x0, x1, steps=5, method=method)
        assert imgs.shape == (10, 1, 8, 8) and imgs.min() >= 0 and imgs.max() <= 1
        with torch.no_grad():
            torch.testing.assert_close(imgs[0], m.decode(m.encode(x0)[0])[0])
            torch.testing.assert_close(imgs[9], m.decode(m.encode(x1)[0])[1])
    assert interpolation_grid(m, x0[0], x1[0], steps=4).shape == (4, 1, 8, 8)
    cm = create("cvae", data_shape=(1, 8, 8), hidden=(16,), latent_dim=3, num_classes=3)
    assert interpolation_grid(cm, x0, x1, 3, condition=torch.tensor([0, 2])).shape == (6, 1, 8, 8)
    grid = image_grid(imgs, nrow=5)
    assert grid.shape == (2 * 9 + 1, 5 * 9 + 1, 1)
    save_image_grid(imgs, tmp_path / "g.png", nrow=5)
    assert (tmp_path / "g.png").stat().st_size > 0
