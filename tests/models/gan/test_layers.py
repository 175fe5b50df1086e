"""Gradient penalty per sample, spectral norm, minibatch stddev / discrimination, packing, PGGAN fade-in,
equalised learning rate."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genzoo.math import gradient_penalty
from genzoo.models import Batch, create
from genzoo.models.gan.layers import (
    EqualizedConv2d,
    EqualizedLinear,
    MinibatchDiscrimination,
    PixelNorm,
    minibatch_stddev,
    pack,
)
from genzoo.models.gan.nets import DCGANDiscriminator, MLPDiscriminator


class _LinearCritic(nn.Module):
    """f(x) = <w, x> per sample: every per-sample gradient norm is ||w||."""

    def __init__(self, w):
        super().__init__()
        self.w = nn.Parameter(w)
        self.seen = []

    def forward(self, x, y=None):
        self.seen.append(x.detach().clone())
        return x.flatten(1) @ self.w, x.flatten(1)


def test_gradient_penalty_is_per_sample():
    """Guards the known per-batch bug: with f(x) = <w, x>, the per-sample norm is ||w|| = 2 for every sample, so
    GP = (2 - 1)^2 = 1; a norm over the whole batch gradient would give (2 sqrt(N) - 1)^2 = 225 for N = 64."""
    w = torch.zeros(12)
    w[0] = 2.0
    critic = _LinearCritic(w)
    real, fake = torch.randn(64, 3, 2, 2), torch.randn(64, 3, 2, 2)
    gp = gradient_penalty(lambda t: critic(t)[0], real, fake)
    assert float(gp.detach()) == pytest.approx(1.0, abs=1e-6)
    # one interpolation coefficient per sample: x_hat_i = eps_i real_i + (1 - eps_i) fake_i
    x_hat = critic.seen[-1]
    eps = (x_hat - fake) / (real - fake)
    per_sample = eps.flatten(1)
    torch.testing.assert_close(per_sample, per_sample[:, :1].expand_as(per_sample), rtol=1e-4, atol=1e-4)
    assert per_sample[:, 0].std() > 0.1 and (0 <= per_sample).all() and (per_sample <= 1).all()


def test_gradient_penalty_matches_a_per_sample_loop_on_a_nonlinear_critic():
    """GP with a nonlinear MLP critic equals mean_i (||grad f(x_hat_i)|| - 1)^2 computed one sample at a time with
    the same eps_i; the known per-batch bug (one eps for the batch, or the norm of the whole batch gradient) gives a
    different value and is rejected."""
    torch.manual_seed(0)
    f = nn.Sequential(nn.Linear(3, 16), nn.Tanh(), nn.Linear(16, 1))
    critic = lambda t: f(t).squeeze(1)  # noqa: E731
    real, fake = torch.randn(32, 3, dtype=torch.float64), torch.randn(32, 3, dtype=torch.float64) + 1.0
    f.double()
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(5))
    eps = torch.rand(32, 1, dtype=torch.float64, generator=torch.Generator().manual_seed(5))
    per = []
    for i in range(32):
        xi = (eps[i] * real[i] + (1 - eps[i]) * fake[i]).unsqueeze(0).requires_grad_(True)
        (g,) = torch.autograd.grad(critic(xi).sum(), xi)
        per.append((g.norm() - 1) ** 2)
    assert float(gp.detach()) == pytest.approx(float(torch.stack(per).mean()), rel=1e-10)
    x_hat = (eps * real + (1 - eps) * fake).requires_grad_(True)
    (g_all,) = torch.autograd.grad(critic(x_hat).sum(), x_hat)
    per_batch_norm = (g_all.norm() - 1) ** 2
    e1 = eps[:1]  # one eps for the whole batch
    x1 = (e1 * real + (1 - e1) * fake).requires_grad_(True)
    (g1,) = torch.autograd.grad(critic(x1).sum(), x1)
    per_batch_eps = ((g1.norm(dim=1) - 1) ** 2).mean()
    for wrong in (per_batch_norm, per_batch_eps):
        assert abs(float(gp.detach()) - float(wrong)) > 1e-3 * max(1.0, float(gp.detach()))
    assert gp.requires_grad  # differentiable: it is added to the critic loss


def test_wgan_gp_model_uses_the_per_sample_penalty():
    model = create("wgan-gp", data_shape=(2,), d_hidden=(8,), g_hidden=(8,))
    model.discriminator = _LinearCritic(torch.tensor([0.0, 3.0]))
    out = model.loss(Batch(torch.randn(32, 2)), "discriminator")
    assert float(out["gp"]) == pytest.approx(4.0, abs=1e-6)  # (3 - 1)^2, not (3 sqrt(32) - 1)^2
    assert len(model.discriminator.seen) == 3  # real, fake, interpolates


@pytest.mark.parametrize("kind", ["mlp", "dcgan"])
def test_spectral_norm_brings_the_largest_singular_value_to_one(kind):
    torch.manual_seed(0)
    if kind == "mlp":
        d = MLPDiscriminator((2,), (64, 64), sn=True)
        x = torch.randn(16, 2)
    else:
        d = DCGANDiscriminator((1, 28, 28), width=8, norm="none", sn=True)
        x = torch.randn(4, 1, 28, 28)
    d.train()
    for _ in range(60):  # one power iteration per forward pass
        d(x)
    layers = [m for m in d.modules() if isinstance(m, (nn.Linear, nn.Conv2d))]
    assert len(layers) >= 3
    for m in layers:
        w = m.weight  # the normalised weight W / sigma
        sigma = torch.linalg.svdvals(w.detach().reshape(w.shape[0], -1))[0]
        assert float(sigma) == pytest.approx(1.0, abs=2e-3)
        orig = m.parametrizations.weight.original
        assert float(torch.linalg.svdvals(orig.detach().reshape(orig.shape[0], -1))[0]) != pytest.approx(1.0, abs=2e-3)


def test_minibatch_stddev_equals_numpy():
    x = torch.randn(8, 5, dtype=torch.float64)
    s = minibatch_stddev(x, group_size=0)
    ref = np.sqrt(np.var(x.numpy(), axis=0) + 1e-8).mean()
    np.testing.assert_allclose(s.numpy(), np.full(8, ref), rtol=1e-12)
    # groups of 4 on feature maps: sample i in group i % 2
    x = torch.randn(8, 3, 4, 4, dtype=torch.float64)
    s = minibatch_stddev(x, group_size=4)
    xn = x.numpy().reshape(8, -1)
    for i in range(8):
        members = xn[[j for j in range(8) if j % 2 == i % 2]]
        assert s[i].item() == pytest.approx(np.sqrt(members.var(axis=0) + 1e-8).mean(), rel=1e-12)
        # two-sided: the unbiased (ddof = 1) variant, and a group of consecutive samples, are different numbers
        assert s[i].item() != pytest.approx(np.sqrt(members.var(axis=0, ddof=1) + 1e-8).mean(), rel=1e-3)
        block = xn[(i // 4) * 4:(i // 4) * 4 + 4]
        assert s[i].item() != pytest.approx(np.sqrt(block.var(axis=0) + 1e-8).mean(), rel=1e-3)


def test_minibatch_discrimination_counts_close_neighbours():
    layer = MinibatchDiscrimination(4, n_kernels=3, kernel_dim=2)
    same = torch.ones(5, 4)
    out = layer(same)
    assert out.shape == (5, 7)
    torch.testing.assert_close(out[:, 4:], torch.full((5, 3), 4.0))  # exp(0) for each of the 4 others
    far = torch.eye(5, 4) * 1e4 + torch.arange(5.0)[:, None] * 1e4
    assert out[:, 4:].min() > 3.9 and layer(far)[:, 4:].max() < 1e-6


def test_minibatch_discrimination_equals_numpy():
    """o(x_i)_b = sum_{j != i} exp(-||M_{i,b} - M_{j,b}||_1), M = f T reshaped (N, B, C), against a numpy loop;
    the variant that keeps j = i (adds exp(0) = 1) and an L2 distance are rejected."""
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(5, n_kernels=4, kernel_dim=3).double()
    f = torch.randn(6, 5, dtype=torch.float64)
    with torch.no_grad():
        out = layer(f).numpy()
    m = (f.numpy() @ layer.T.detach().numpy()).reshape(6, 4, 3)
    ref = np.zeros((6, 4))
    for i in range(6):
        for j in range(6):
            if j != i:
                ref[i] += np.exp(-np.abs(m[i] - m[j]).sum(-1))
    np.testing.assert_allclose(out[:, :5], f.numpy())
    np.testing.assert_allclose(out[:, 5:], ref, rtol=1e-12)
    assert np.abs(out[:, 5:] - (ref + 1)).min() > 0.5
    l2 = np.array([[sum(np.exp(-np.sqrt(((m[i, b] - m[j, b]) ** 2).sum())) for j in range(6) if j != i)
                    for b in range(4)] for i in range(6)])
    assert not np.allclose(out[:, 5:], l2, rtol=1e-3)


def test_pack_concatenates_consecutive_samples():
    x = torch.arange(12.0).view(6, 2)
    p = pack(x, 2)
    torch.testing.assert_close(p, torch.tensor([[0.0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]))
    img = torch.randn(4, 1, 28, 28)
    assert pack(img, 2).shape == (2, 2, 28, 28) and torch.equal(pack(img, 2)[1, 1], img[3, 0])
    with pytest.raises(ValueError):
        pack(torch.randn(5, 2), 2)


def test_equalized_lr_scale_is_he_constant():
    lin = EqualizedLinear(50, 7)
    assert lin.scale == pytest.approx(math.sqrt(2 / 50))
    x = torch.randn(3, 50)
    torch.testing.assert_close(lin(x), F.linear(x, lin.weight * math.sqrt(2 / 50), lin.bias))
    assert float(lin.weight.detach().std()) == pytest.approx(1.0, abs=0.1)  # stored weights ~ N(0, 1)
    conv = EqualizedConv2d(16, 8, 3, padding=1)
    assert conv.scale == pytest.approx(math.sqrt(2 / (16 * 9)))
    xi = torch.randn(2, 16, 5, 5)
    torch.testing.assert_close(conv(xi), F.conv2d(xi, conv.weight * conv.scale, conv.bias, padding=1))


def test_pixel_norm_unit_mean_square():
    y = PixelNorm()(torch.randn(4, 16, 3, 3) * 7)
    torch.testing.assert_close(y.pow(2).mean(1), torch.ones(4, 3, 3), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("shape,sides,chs", [((1, 28, 28), [7, 14, 28], (8, 0)), ((3, 32, 32), [4, 8, 16, 32], (8, 0)),
                                             ((1, 28, 28), [7, 14, 28], (16, 4))])
def test_pggan_fade_in(shape, sides, chs):
    torch.manual_seed(0)
    m = create("pggan", data_shape=shape, channels=chs[0], min_channels=chs[1], latent_dim=16)
    assert m.config.n_stages == len(sides) and m.config.start == sides[0]
    assert m.config.stage_channels == ([8] * len(sides) if chs[1] == 0 else [16, 8, 4])
    g = m.generator
    z = torch.randn(3, 16)
    with torch.no_grad():
        for s in range(1, len(sides)):
            low = g(z, s - 1, 1.0)
            assert low.shape[-1] == sides[s - 1]
            at0 = g(z, s, 0.0)
            torch.testing.assert_close(at0, F.interpolate(low, scale_factor=2, mode="nearest"))
            new = g.to_rgb[s](g.blocks[s](g.features(z, s - 1)))
            torch.testing.assert_close(g(z, s, 1.0), new)
            assert (at0 - new).abs().max() > 1e-3  # two-sided: the two ends of the fade really differ
            half = g(z, s, 0.5)
            torch.testing.assert_close(half, 0.5 * at0 + 0.5 * new)
            # the discriminator mirrors it: alpha = 0 sees only the downsampled image through the old path
            x = torch.randn(4, shape[0], sides[s], sides[s])
            d = m.discriminator
            torch.testing.assert_close(d(x, s, 0.0), d(F.avg_pool2d(x, 2), s - 1, 1.0))


def test_pggan_schedule_through_on_step_end_and_extra_state():
    m = create("pggan", data_shape=(1, 28, 28), channels=8, latent_dim=16, fade_steps=4, stable_steps=2)
    seen = []
    for step in range(20):
        seen.append((m.stage, m.alpha))
        m.on_step_end(step)
    assert seen[:2] == [(0, 1.0), (0, 1.0)]
    assert seen[2:8] == [(1, 0.0), (1, 0.25), (1, 0.5), (1, 0.75), (1, 1.0), (1, 1.0)]
    assert seen[8] == (2, 0.0) and seen[-1] == (2, 1.0)
    m2 = create("pggan", data_shape=(1, 28, 28), channels=8, latent_dim=16, fade_steps=4, stable_steps=2)
    m.stage, m.alpha = 2, 0.5
    m2.load_extra_state(m.extra_state())
    assert (m2.stage, m2.alpha, m2.step_count) == (2, 0.5, 20)
    x = torch.rand(4, 1, 28, 28)
    for stage, alpha in [(0, 1.0), (1, 0.3), (2, 1.0)]:
        m.set_stage(stage, alpha)
        for p in m.update_order(0):
            out = m.loss(Batch(x), p)
            assert torch.isfinite(out["loss"])
            out["loss"].backward()
        s = m.sample(2)
        assert s.shape == (2, 1, 28, 28) and s.min() >= 0 and s.max() <= 1
