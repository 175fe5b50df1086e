"""Pictures: the 2-D density grid integrates a normalised density to 1 (and an unnormalised one to its mass)."""

import math

import torch

from genzoo.train.plots import density_grid, save_density


def _log_normal(x, mu=(0.5, -0.25), std=(0.7, 1.2)):
    mu, std = torch.tensor(mu), torch.tensor(std)
    return (-0.5 * ((x - mu) / std) ** 2 - std.log() - 0.5 * math.log(2 * math.pi)).sum(-1)


def test_density_grid_mass_and_orientation():
    xs, ys, dens, mass = density_grid(_log_normal, (-6, -7), (6, 7), n=241)
    assert abs(mass - 1) < 2e-3
    # indexed [y, x]: the maximum sits at the mean (0.5, -0.25)
    iy, ix = divmod(int(dens.argmax()), dens.shape[1])
    assert abs(xs[ix] - 0.5) < 0.06 and abs(ys[iy] + 0.25) < 0.06
    # an unnormalised density (log p + log 2) has mass 2, and a grid that misses half the mass says so
    assert abs(density_grid(lambda x: _log_normal(x) + math.log(2), (-6, -7), (6, 7), n=241)[3] - 2) < 4e-3
    assert abs(density_grid(_log_normal, (0.5, -7), (6, 7), n=241)[3] - 0.5) < 0.01


def test_save_density_writes_png(tmp_path):
    ref = torch.randn(500, 2)
    p = save_density(_log_normal, tmp_path / "d.png", reference=ref, n=50, title="gauss")
    assert p.is_file() and p.read_bytes()[:4] == b"\x89PNG"
