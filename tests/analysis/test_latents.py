"""Latent-space tools (genzoo.analysis.latents) against closed forms:

- flows: x -> z -> x is the identity (images through the bin-centre map), and log N(z) + log|det| of to_latent is the
  model's own log_prob at the bin centres; skipping the bin-centre undo misses x by > 1e-3;
- DDIM inversion with the exact denoiser of Gaussian data, where every eta = 0 step is affine so the sampler's
  inverse is known exactly: to_latent equals it (< 1e-4) and the round trip is exact, while the plain inversion
  (no fixed-point refinement) misses by > 1e-2; 400 steps approach the probability-flow latent in closed form;
- generator inversion: a linear decoder's z is recovered (least squares, and ridge regression with the prior term),
  a random z's error is orders of magnitude above; init="encoder" starts lower than random starts; a batch inverts
  as its examples one by one; a tiny GAN reproduces G(z_true);
- attribute vectors on a linear encoder equal W (mean x_a - mean x_b) computed from the weights;
- interpolation grids start and end at the endpoints' reconstructions (a flow's at the data themselves);
- a model without a latent, a flow asked to invert a generator, init="encoder" without an encoder: ConfigError.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pytest
import torch
from torch import Tensor, nn

from genzoo.analysis import (
    attribute_grid,
    attribute_vector,
    from_latent,
    interpolate,
    interpolation_grid,
    invert,
    latent_grid,
    latent_route,
    latent_size,
    random_latents,
    to_latent,
)
from genzoo.errors import ConfigError, DataError
from genzoo.models import create
from genzoo.models.base import GenerativeModel, ModelConfig
from genzoo.models.diffusion.samplers import ddim_invert, ddim_sample


def _perturb(model, scale=0.1, seed=0):
    """Move zero-initialised output layers (identity couplings) off zero, so the maps are not trivial."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(scale * torch.randn(p.shape, generator=g))
    return model


def _images(n, shape, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, *shape), generator=g).float() / 255


# ---- flows -------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("name,cfg,shape", [
    ("realnvp", {"hidden_channels": 8, "levels": 1, "steps": 1, "final_steps": 1}, (1, 4, 4)),
    ("glow", {"hidden_channels": 8, "levels": 1, "steps": 2}, (1, 4, 4)),
    ("maf", {"hidden": (16,), "n_blocks": 2}, (3,)),
    ("nice", {"hidden": (16,), "n_blocks": 4}, (4,)),
])
def test_flow_round_trip_and_density_of_the_latent(name, cfg, shape):
    m = _perturb(create(name, data_shape=shape, eval_noise="mid", **cfg)).eval()
    x = _images(6, shape) if len(shape) == 3 else torch.randn(6, *shape)
    with torch.no_grad():
        z = to_latent(m, x)
        back = from_latent(m, z)
        # the latent is the density's own change of variables: log N(z) + log|det dz/dx| = log_prob (bin centres)
        _, ladj = m.flow.transform(m.preprocess(x), None)
        lp = m.flow.base.log_prob(z) + ladj
        torch.testing.assert_close(lp, m.log_prob(x), rtol=1e-5, atol=1e-4)
    assert z.shape == (6, math.prod(shape)) and latent_size(m) == math.prod(shape)
    assert latent_route(m) == "invert"
    assert (back - x).abs().max() < 1e-4
    if len(shape) == 3:  # without undoing the bin-centre map the round trip misses by up to 1/512
        with torch.no_grad():
            raw, _ = m.flow.transform.inverse(z, None)
        assert (raw - x).abs().max() > 1e-3


def test_untrained_point_flow_is_the_identity_map():
    """Zero-initialised couplings: t(x) = x, so the latent of a point is the point itself (a closed form)."""
    m = create("realnvp", data_shape=(2,), hidden=(8,), n_blocks=2)
    x = torch.randn(5, 2)
    torch.testing.assert_close(to_latent(m, x), x)
    torch.testing.assert_close(from_latent(m, x), x)


# ---- DDIM inversion ------------------------------------------------------------------------------------------------
MU, SD = torch.tensor([1.0, -0.5]), torch.tensor([0.3, 0.8])


class GaussianEps(nn.Module):
    """The exact eps-prediction of data N(MU, diag SD^2) at network time t = k + 1: E[eps | x_k], affine in x_k."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
        self.anchor = nn.Parameter(torch.zeros(()))  # dtype / device anchor, unused

    def forward(self, x: Tensor, t: Tensor, y=None) -> Tensor:
        ab = self.schedule.alphas_cumprod[(t - 1).round().long().cpu()].to(x)[:, None]
        m, s = ab.sqrt(), (1 - ab).sqrt()
        x0 = MU + m * SD**2 * (x - m * MU) / (m**2 * SD**2 + s**2)
        return (x - m * x0) / s


def _analytic_ddim(steps):
    m = create("ddim", data_shape=(2,), hidden=(4,), sample_steps=steps)
    m.net = GaussianEps(m.schedule)
    return m.eval()


def test_ddim_inversion_is_the_exact_inverse_of_the_sampler():
    """With an affine eps every eta = 0 step is affine per coordinate, so x_0 = A x_T + B with A = F(1) - F(0),
    B = F(0) (F: the 50-step sampler): the exact latent is (x_0 - B) / A."""
    steps = 50
    m = _analytic_ddim(steps)
    x = MU + SD * torch.randn(400, 2, generator=torch.Generator().manual_seed(1))
    denoise = lambda xk, k: m.denoise(xk, k, None, clip=False)  # noqa: E731
    f = lambda z: ddim_sample(m.schedule, denoise, z.double(), steps, 0.0)  # noqa: E731
    b = f(torch.zeros(1, 2))
    a = f(torch.ones(1, 2)) - b
    exact = (x.double() - b) / a
    z = to_latent(m, x)
    assert z.dtype == torch.float64
    assert (z - exact).abs().max() < 1e-4
    assert (from_latent(m, z) - x).abs().max() < 1e-5
    # the usual inversion, eps(x_k) taken at the previous point, is a first-order approximation: it fails both
    naive = ddim_invert(m.schedule, denoise, x.double(), steps, refine=0)
    assert (naive - exact).abs().max() > 1e-2
    assert (from_latent(m, naive) - x).abs().max() > 1e-2


def test_ddim_latent_approaches_the_probability_flow_latent():
    """The PF-ODE carries N(MU, SD^2) to x_T = sqrt(abar) MU + sqrt(abar SD^2 + 1 - abar) (x_0 - MU) / SD; DDIM is
    a first-order discretisation of it: 400 steps land within 0.05, 50 steps do not (within 0.2)."""
    x = MU + SD * torch.randn(300, 2, generator=torch.Generator().manual_seed(2))
    errs = {}
    for steps in (50, 400):
        m = _analytic_ddim(steps)
        ab = m.schedule.alphas_cumprod[-1]
        flow = ab.sqrt() * MU + (ab * SD**2 + 1 - ab).sqrt() * (x.double() - MU) / SD
        errs[steps] = float((to_latent(m, x) - flow).abs().max())
    assert errs[400] < 0.05 < 0.2 < errs[50], errs


def test_ddim_to_latent_of_an_image_model_round_trips():
    m = create("ddpm", data_shape=(1, 4, 4), channels=(4,), timesteps=100, sample_batch=3)
    _perturb(m, 0.05).eval()
    x = _images(5, (1, 4, 4), seed=3)
    z = to_latent(m, x)
    assert z.shape == (5, 16)
    assert (from_latent(m, z) - x).abs().max() < 1e-4


# ---- generator inversion ---------------------------------------------------------------------------------------------
@dataclass
class LinearConfig(ModelConfig):
    latent_dim: int = 3


class LinearDecoder(GenerativeModel):
    """decode(z) = W z + b on points (a generator with a known inverse: least squares)."""

    name = "linear-decoder"
    Config = LinearConfig
    capabilities = frozenset({"decode", "latent"})

    def __init__(self, W: Tensor, b: Tensor):
        super().__init__(LinearConfig(data_shape=(W.shape[0],), latent_dim=W.shape[1]))
        self.W, self.b = nn.Parameter(W.clone()), nn.Parameter(b.clone())

    def decode(self, z, condition=None):
        return z @ self.W.T + self.b


class LinearAutoencoder(LinearDecoder):
    """The linear decoder with an encoder mu(x) = E (x - b) (E close to W's pseudo-inverse)."""

    name = "linear-autoencoder"
    capabilities = frozenset({"encode", "decode", "latent"})

    def __init__(self, W: Tensor, b: Tensor, E: Tensor):
        super().__init__(W, b)
        self.E = nn.Parameter(E.clone())

    def encode(self, x, condition=None):
        mu = (x - self.b) @ self.E.T
        return mu, torch.zeros_like(mu)


def _linear(d=6, k=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(d, k, generator=g), torch.randn(d, generator=g)


def test_inversion_recovers_the_latent_of_a_linear_decoder():
    W, b = _linear()
    m = LinearDecoder(W, b)
    g = torch.Generator().manual_seed(1)
    z_true = torch.randn(8, 3, generator=g)
    x = z_true @ W.T + b + 0.05 * torch.randn(8, 6, generator=g)  # off the decoder's range: least squares
    z_ls = torch.linalg.lstsq(W, (x - b).T).solution.T
    inv = invert(m, x, steps=600, lr=0.05, generator=torch.Generator().manual_seed(2))
    assert (inv.z - z_ls).abs().max() < 1e-3
    err_ls = (z_ls @ W.T + b - x).square().mean(1)
    torch.testing.assert_close(inv.error, err_ls, rtol=1e-3, atol=1e-6)
    assert inv.trace.shape == (601, 8) and inv.x.shape == x.shape
    torch.testing.assert_close(inv.error, inv.trace.min(0).values, rtol=1e-5, atol=1e-7)  # the best iterate is kept
    # a random latent is orders of magnitude worse, and so is stopping after a few steps
    z_rand = torch.randn(8, 3, generator=g)
    assert ((z_rand @ W.T + b - x).square().mean(1) > 100 * inv.error).all()
    assert (inv.trace[5] > 10 * inv.error).all()
    # the grads went to z only
    assert all(p.grad is None for p in m.parameters())


def test_inversion_with_the_prior_term_is_ridge_regression():
    """E(z) = |W z + b - x|^2 / D + lam |z|^2 / L is minimised by z = (W^T W / D + lam I / L)^{-1} W^T (x - b) / D."""
    W, b = _linear(seed=3)
    m = LinearDecoder(W, b)
    x = torch.randn(5, 6, generator=torch.Generator().manual_seed(4)) * 2
    lam, D, L = 0.5, 6, 3
    ridge = torch.linalg.solve(W.T @ W / D + lam / L * torch.eye(L), (W.T @ (x - b).T) / D).T
    inv = invert(m, x, steps=800, lr=0.05, prior=lam, generator=torch.Generator().manual_seed(5))
    z_final = inv.z
    assert (z_final - ridge).abs().max() < 2e-3
    z_ls = torch.linalg.lstsq(W, (x - b).T).solution.T
    assert (z_ls - ridge).abs().max() > 0.05  # the prior moved the answer


def test_encoder_start_is_lower_than_random_starts():
    W, b = _linear(seed=6)
    E = torch.linalg.pinv(W) + 0.01 * torch.randn(3, 6, generator=torch.Generator().manual_seed(7))
    m = LinearAutoencoder(W, b, E)
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(8)) @ W.T + b
    enc = invert(m, x, steps=200, init="encoder")
    rnd = invert(m, x, steps=200, generator=torch.Generator().manual_seed(9))
    assert (enc.trace[0] < 0.1 * rnd.trace[0]).all()
    torch.testing.assert_close(enc.trace[0], (m.decode(m.encode(x)[0]) - x).square().mean(1).detach())
    assert (enc.trace[20] < rnd.trace[20]).all()
    # a given start is used as it is
    start = torch.linalg.lstsq(W, (x - b).T).solution.T
    assert invert(m, x, steps=0, init=start).error.max() < 1e-10


def test_a_batch_inverts_as_its_examples_one_by_one():
    m = create("gan", data_shape=(5,), latent_dim=3, g_hidden=(16,), d_hidden=(8,))
    x = torch.randn(4, 5)
    starts = torch.randn(4, 3)
    batch = invert(m, x, steps=30, init=starts)
    for i in range(4):
        one = invert(m, x[i : i + 1], steps=30, init=starts[i : i + 1])
        torch.testing.assert_close(one.z[0], batch.z[i], rtol=1e-4, atol=1e-5)
        torch.testing.assert_close(one.trace[:, 0], batch.trace[:, i], rtol=1e-4, atol=1e-6)


def test_inversion_of_a_small_gan_reproduces_its_samples():
    torch.manual_seed(0)
    m = _perturb(create("gan", data_shape=(8,), latent_dim=3, g_hidden=(32,), d_hidden=(8,)), 0.3).eval()
    z_true = torch.randn(6, 3, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        x = m.decode(z_true)
    inv = invert(m, x, steps=400, lr=0.05, restarts=4, generator=torch.Generator().manual_seed(2))
    random_err = (m.decode(torch.randn(200, 3)).unsqueeze(1) - x).square().mean(-1).mean(0).detach()
    assert (inv.error < 1e-3 * random_err).all(), (inv.error, random_err)
    assert inv.restart.shape == (6,) and int(inv.restart.max()) < 4
    # to_latent of a generator goes through invert; its latents decode to the data
    z = to_latent(m, x, inversion={"steps": 400, "restarts": 4, "generator": torch.Generator().manual_seed(2)})
    assert ((from_latent(m, z) - x).square().mean(1) < 1e-3 * random_err).all()
    assert latent_route(m) == "generator" and m.training is False


# ---- attribute vectors -----------------------------------------------------------------------------------------------
def test_attribute_vector_is_the_difference_of_class_means_through_a_linear_encoder():
    m = _perturb(create("vae", arch="linear", data_shape=(5,), latent_dim=2, decoder="gaussian"), 0.5)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(30, 5, generator=g)
    y = torch.tensor([0] * 4 + [1] * 10 + [2] * 16)
    lin = m.encoder.net[-1]
    W = lin.weight[:2].detach()  # mu = W x + c
    mean = lambda sel: x[sel].mean(0)  # noqa: E731
    v = attribute_vector(m, x, y, target=1, baseline=0)
    torch.testing.assert_close(v, W @ (mean(y == 1) - mean(y == 0)))
    v_rest = attribute_vector(m, x, y, target=1)
    torch.testing.assert_close(v_rest, W @ (mean(y == 1) - mean(y != 1)))
    v_two = attribute_vector(m, x, y, target=2, baseline=[0, 1])
    torch.testing.assert_close(v_two, W @ (mean(y == 2) - mean(y != 2)))
    # the mean of the baseline's latents, not of the per-class means (class sizes differ: 4 and 10)
    wrong = W @ (mean(y == 2) - 0.5 * (mean(y == 0) + mean(y == 1)))
    assert (v_two - wrong).abs().max() > 1e-3
    with pytest.raises(DataError, match="label 7"):
        attribute_vector(m, x, y, target=7)


def test_attribute_grid_decodes_shifted_latents():
    m = create("vae", data_shape=(1, 6, 6), hidden=(8,), latent_dim=3)
    x = _images(3, (1, 6, 6))
    v = torch.tensor([1.0, -2.0, 0.5])
    grid = attribute_grid(m, v, x, scales=(-1.0, 0.0, 2.0))
    assert grid.shape == (9, 1, 6, 6)
    with torch.no_grad():
        mu = m.encode(x)[0]
        for i in range(3):
            for j, s in enumerate((-1.0, 0.0, 2.0)):
                torch.testing.assert_close(grid[3 * i + j], m.decode(mu[i : i + 1] + s * v)[0])
        torch.testing.assert_close(attribute_grid(m, v, z=mu, scales=(0.0,)), m.decode(mu))


# ---- interpolation grids ---------------------------------------------------------------------------------------------
def test_grid_endpoints_hit_the_latents_of_the_data():
    # a flow: the endpoints are the data themselves
    f = _perturb(create("realnvp", data_shape=(1, 4, 4), hidden_channels=8, levels=1, steps=1, final_steps=1))
    x0, x1 = _images(2, (1, 4, 4), 1), _images(2, (1, 4, 4), 2)
    for method in ("lerp", "slerp"):
        g = latent_grid(f, x0, x1, steps=5, method=method)
        assert g.shape == (10, 1, 4, 4)
        assert (g[0] - x0[0]).abs().max() < 1e-4 and (g[4] - x1[0]).abs().max() < 1e-4
        assert (g[5] - x0[1]).abs().max() < 1e-4 and (g[9] - x1[1]).abs().max() < 1e-4
        # the inner points are the decoded path between the two latents
        z0, z1 = to_latent(f, x0), to_latent(f, x1)
        torch.testing.assert_close(g[2], from_latent(f, interpolate(z0, z1, 5, method)[2])[0])
    # a VAE: the encoder means' reconstructions; interpolation_grid is the same function
    v = create("vae", data_shape=(1, 4, 4), hidden=(8,), latent_dim=2)
    g = latent_grid(v, x0, x1, steps=4, method="lerp")
    with torch.no_grad():
        torch.testing.assert_close(g[0], v.decode(v.encode(x0)[0])[0])
        torch.testing.assert_close(g[7], v.decode(v.encode(x1)[0])[1])
        mid = v.decode(v.encode(x0)[0] * 2 / 3 + v.encode(x1)[0] / 3)[0]
    torch.testing.assert_close(g[1], mid)
    torch.testing.assert_close(interpolation_grid(v, x0, x1, 4, "lerp"), g)


def test_gan_grid_from_random_latents():
    m = create("dcgan", width=4, latent_dim=4)
    z0, z1 = random_latents(m, 2, torch.Generator().manual_seed(0)), random_latents(m, 2)
    g = latent_grid(m, z0=z0, z1=z1, steps=3)
    with torch.no_grad():
        m.eval()
        torch.testing.assert_close(g[0], m.decode(z0)[0])
        torch.testing.assert_close(g[5], m.decode(z1)[1])
    assert g.shape == (6, 1, 28, 28) and latent_size(m) == 4


# ---- errors ----------------------------------------------------------------------------------------------------------
def test_models_without_a_latent_and_missing_capabilities():
    gmm = create("gmm", components=2)
    with pytest.raises(ConfigError, match="invert capability"):
        latent_grid(gmm, torch.randn(2, 2), torch.randn(2, 2))
    with pytest.raises(ConfigError, match="no latent"):
        to_latent(gmm, torch.randn(2, 2))
    flow = create("maf", data_shape=(2,), hidden=(8,))
    with pytest.raises(ConfigError, match="decode"):
        invert(flow, torch.randn(2, 2))
    with pytest.raises(ConfigError, match="inversion options"):
        to_latent(flow, torch.randn(2, 2), inversion={"steps": 3})
    gan = create("gan", data_shape=(2,), latent_dim=2, g_hidden=(8,), d_hidden=(8,))
    with pytest.raises(ConfigError, match="encode"):
        invert(gan, torch.randn(2, 2), init="encoder")
    sparse = create("sparse-vae", data_shape=(2,), hidden=(8,), latent_dim=2, decoder="gaussian")
    with pytest.raises(ConfigError, match="not N\\(0, I\\)"):
        random_latents(sparse, 3)
    with pytest.raises(ValueError, match="either"):
        latent_grid(gan, torch.randn(2, 2), z1=torch.randn(2, 2))
    with pytest.raises(DataError, match="entries"):
        from_latent(gan, torch.randn(2, 5))
    with pytest.raises(DataError, match="no examples"):
        invert(gan, torch.randn(0, 2))
