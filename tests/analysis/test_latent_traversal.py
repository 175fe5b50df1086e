"""Latent traversals: on a linear VAE every decoded row is the closed form W z + b with one coordinate swept; the
per-dimension KL is the analytic formula and orders the rows; the PNG grid; capability and option errors."""

import matplotlib.pyplot as plt
import pytest
import torch

from genzoo.analysis import latent_traversal, per_dim_kl
from genzoo.errors import ConfigError, DataError, UnknownNameError
from genzoo.math import gaussian_kl
from genzoo.models import create


@pytest.fixture
def linear_vae():
    """A linear VAE on 5-D points: encoder (mu, logvar) = A x + a, decoder mean = W z + b (no clamping)."""
    torch.manual_seed(0)
    model = create("vae", data_shape=(5,), arch="linear", latent_dim=3, decoder="gaussian")
    dec = model.decoder.net[0]
    enc = model.encoder.net[0]
    return model, dec.weight.detach().clone(), dec.bias.detach().clone(), enc


def test_rows_are_the_decoder_with_one_coordinate_swept(linear_vae):
    model, W, b, _ = linear_vae
    z0 = torch.tensor([0.3, -1.2, 0.7])
    tr = latent_traversal(model, z=z0, steps=5, span=2.0)
    assert tr.dims == [0, 1, 2] and torch.allclose(tr.values, torch.linspace(-2, 2, 5))
    assert tr.images.shape == (15, 5) and tr.kl is None
    for r, d in enumerate(tr.dims):
        for t, v in enumerate(tr.values):
            z = z0.clone()
            z[d] = v
            torch.testing.assert_close(tr.images[r * 5 + t], W @ z + b)
        # along a row the output moves by W[:, d] per unit of the swept value (and not along another column)
        step = (tr.images[r * 5 + 1] - tr.images[r * 5]) / (tr.values[1] - tr.values[0])
        torch.testing.assert_close(step, W[:, d])
        assert not torch.allclose(step, W[:, (d + 1) % 3], atol=1e-3)


def test_traversal_from_an_example_starts_at_its_posterior_mean(linear_vae):
    model, W, b, enc = linear_vae
    x = torch.randn(5)
    mu = (enc.weight @ x + enc.bias)[:3].detach()
    tr = latent_traversal(model, x=x, steps=3, dims=[1])
    z = mu.clone()
    z[1] = 3.0
    torch.testing.assert_close(tr.images[2], W @ z + b)
    assert tr.dims == [1] and tr.images.shape == (3, 5)
    with pytest.raises(DataError, match="one example"):
        latent_traversal(model, x=torch.randn(2, 5))


def test_per_dim_kl_is_the_analytic_formula_and_orders_rows(linear_vae):
    model, _, _, enc = linear_vae
    x = torch.randn(300, 5)
    mu, logvar = model.encode(x)
    expected = 0.5 * (mu**2 + logvar.exp() - 1 - logvar).mean(0)
    kl = per_dim_kl(model, x, batch_size=64)  # in chunks
    torch.testing.assert_close(kl, expected.double().detach())
    torch.testing.assert_close(kl.sum(), gaussian_kl(mu, logvar).mean().double().detach())  # the ELBO's KL term
    # an encoder with mu = (1, 0, 3) and unit variance whatever x: KL = (1/2, 0, 9/2), rows 2, 0, 1
    with torch.no_grad():
        enc.weight.zero_()
        enc.bias.copy_(torch.tensor([1.0, 0.0, 3.0, 0.0, 0.0, 0.0]))
    tr = latent_traversal(model, order="kl", kl_data=x, steps=2)
    torch.testing.assert_close(tr.kl, torch.tensor([0.5, 0.0, 4.5], dtype=torch.float64))
    assert tr.dims == [2, 0, 1]
    assert latent_traversal(model, kl_data=x, steps=2).dims == [0, 1, 2]  # order "index" keeps the indices


def test_image_grid_png_and_train_mode_kept(tmp_path):
    torch.manual_seed(0)
    model = create("beta-vae", data_shape=(1, 8, 8), hidden=(8,), latent_dim=4)
    model.train()
    x = torch.rand(20, 1, 8, 8)
    tr = latent_traversal(model, x=x[0], order="kl", kl_data=x, steps=6, path=tmp_path / "t.png")
    assert model.training and tr.images.shape == (24, 1, 8, 8)
    assert 0.0 <= float(tr.images.min()) and float(tr.images.max()) <= 1.0
    png = plt.imread(tmp_path / "t.png")
    assert png.shape[:2] == (4 * 9 + 1, 6 * 9 + 1)  # rows = dimensions, columns = steps, 1-pixel padding
    assert sorted(tr.dims) == [0, 1, 2, 3] and [float(tr.kl[d]) for d in tr.dims] == sorted(tr.kl.tolist())[::-1]


def test_capabilities_and_options():
    torch.manual_seed(0)
    gan = create("gan", data_shape=(2,), g_hidden=(8,), d_hidden=(8,), latent_dim=2)
    tr = latent_traversal(gan, steps=4)  # decode + latent, no encoder: from z = 0
    assert tr.images.shape == (8, 2) and torch.isfinite(tr.images).all()
    with pytest.raises(ConfigError, match="encode"):
        latent_traversal(gan, x=torch.zeros(2))
    with pytest.raises(ConfigError, match="encode"):
        latent_traversal(gan, order="kl", kl_data=torch.zeros(4, 2))
    flow = create("realnvp", data_shape=(2,), hidden=(8,), n_blocks=2)
    with pytest.raises(ConfigError, match="decode and latent"):
        latent_traversal(flow)
    vae = create("vae", data_shape=(2,), hidden=(8,), latent_dim=2, decoder="gaussian")
    with pytest.raises(ConfigError, match="kl_data"):
        latent_traversal(vae, order="kl")
    with pytest.raises(UnknownNameError):
        latent_traversal(vae, order="variance")
    for bad in ({"steps": 1}, {"span": 0.0}, {"dims": [2]}, {"dims": []}):
        with pytest.raises(ConfigError):
            latent_traversal(vae, **bad)
    with pytest.raises(DataError, match="latent_dim"):
        latent_traversal(vae, z=torch.zeros(3))
    with pytest.raises(DataError, match="image data"):
        latent_traversal(vae, path="never.png")
