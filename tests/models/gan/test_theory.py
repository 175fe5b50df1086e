"""The theory of the GAN game, checked numerically (docs/models/gans.md, "Theory")."""

import math

import numpy as np
import pytest
import torch

from genzoo.math import js_divergence
from genzoo.models.gan.losses import (
    d_loss_bce,
    g_loss_minimax,
    g_loss_ns,
    generator_grad_wrt_logit,
    optimal_discriminator,
    value_function,
)
from genzoo.nn import mlp


def _normal(x, mu, s):
    return torch.exp(-0.5 * ((x - mu) / s) ** 2) / (s * math.sqrt(2 * math.pi))


def _jsd(p, q, dx):
    """JSD of two densities on a grid through genzoo.math.js_divergence (probability vectors p dx, q dx), checked
    against the definition 1/2 KL(p || m) + 1/2 KL(q || m) as integrals."""
    m = 0.5 * (p + q)
    kl = lambda a, b: (torch.where(a > 0, a * torch.log(a / b), torch.zeros_like(a)) * dx).sum()
    ref = 0.5 * kl(p, m) + 0.5 * kl(q, m)
    got = js_divergence(p * dx, q * dx)
    assert float(got) == pytest.approx(float(ref), rel=1e-6, abs=1e-9)
    return got


GRID = torch.linspace(-12, 12, 24001, dtype=torch.float64)
DX = float(GRID[1] - GRID[0])
PAIRS = [((0.0, 1.0), (1.5, 0.8)), ((0.0, 1.0), (0.0, 1.0)), ((-1.0, 0.5), (2.0, 2.0)), ((0.0, 1.0), (6.0, 1.0))]


@pytest.mark.parametrize("data,gen", PAIRS)
def test_optimal_discriminator_value_is_minus_log4_plus_2jsd(data, gen):
    p, q = _normal(GRID, *data), _normal(GRID, *gen)
    d_star = optimal_discriminator(p, q)
    v = value_function(d_star, p, q, DX)
    jsd = _jsd(p, q, DX)
    assert float(v) == pytest.approx(-math.log(4) + 2 * float(jsd), abs=1e-6)
    assert 0 <= float(jsd) <= math.log(2) + 1e-9
    if data == gen:
        assert float(v) == pytest.approx(-math.log(4), abs=1e-9)
    else:  # two-sided: a wrong constant (1 x JSD) and a wrong discriminator are rejected
        assert abs(float(v) - (-math.log(4) + float(jsd))) > 1e-2
        for wrong in (torch.full_like(p, 0.5), optimal_discriminator(q, p)):
            assert float(value_function(wrong, p, q, DX)) < float(v) - 1e-2


@pytest.mark.parametrize("data,gen", PAIRS[:1] + PAIRS[2:3])
def test_perturbing_the_optimal_discriminator_lowers_v(data, gen):
    p, q = _normal(GRID, *data), _normal(GRID, *gen)
    d_star = optimal_discriminator(p, q).clamp(1e-12, 1 - 1e-12)
    v_star = value_function(d_star, p, q, DX)
    g = torch.Generator().manual_seed(0)
    logit = torch.logit(d_star)
    for scale in (0.5, 0.1, 0.01):
        for _ in range(5):
            # smooth random perturbation of the logit (a sum of bumps), and constant shifts
            c = torch.randn(3, generator=g, dtype=torch.float64)
            mu = torch.rand(3, generator=g, dtype=torch.float64) * 6 - 3
            bump = sum(c[i] * torch.exp(-0.5 * (GRID - mu[i]) ** 2) for i in range(3))
            for delta in (scale * bump, torch.full_like(GRID, scale), torch.full_like(GRID, -scale)):
                v = value_function(torch.sigmoid(logit + delta), p, q, DX)
                assert float(v) < float(v_star)


def test_trained_discriminator_approaches_d_star():
    """An MLP trained with the discriminator loss on samples of p_data = N(0, 1) and p_g = N(1, 1.5^2)
    approaches D* = p_data / (p_data + p_g): mean |D - D*| < 0.02 and max < 0.05 on [-2, 3]."""
    torch.manual_seed(0)
    net = mlp(1, (16, 16), 1, act="tanh")
    opt = torch.optim.Adam(net.parameters(), lr=5e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 600)
    for step in range(600):
        real = torch.randn(256, 1)
        fake = 1.0 + 1.5 * torch.randn(256, 1)
        loss = d_loss_bce(net(real).squeeze(1), net(fake).squeeze(1))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    x = torch.linspace(-2, 3, 201, dtype=torch.float64)
    d_star = optimal_discriminator(_normal(x, 0.0, 1.0), _normal(x, 1.0, 1.5))
    with torch.no_grad():
        d = torch.sigmoid(net(x.float()[:, None]).squeeze(1)).double()
    err = (d - d_star).abs()
    assert float(err.mean()) < 0.02, float(err.mean())
    assert float(err.max()) < 0.05, float(err.max())
    # two-sided: the tolerance separates D* from near-misses (D of a slightly different p_g, and D = 1/2)
    d_near = optimal_discriminator(_normal(x, 0.0, 1.0), _normal(x, 1.3, 1.5))
    assert float((d - d_near).abs().mean()) > 0.02
    assert float((d - 0.5).abs().mean()) > 0.1


def test_saturating_generator_gradient_vanishes_nonsaturating_does_not():
    # logits where the discriminator confidently rejects the fakes: D(G(z)) = sigmoid(l) -> 0
    logits = torch.tensor([-2.0, -5.0, -10.0, -20.0], dtype=torch.float64, requires_grad=True)
    grads = {}
    for kind, fn in (("minimax", g_loss_minimax), ("ns", g_loss_ns)):
        (g,) = torch.autograd.grad(fn(logits) * logits.numel(), logits)  # per-sample loss gradient
        analytic = generator_grad_wrt_logit(kind, logits.detach())
        torch.testing.assert_close(g, analytic, rtol=1e-10, atol=1e-12)
        grads[kind] = g
    d = torch.sigmoid(logits.detach())
    torch.testing.assert_close(grads["minimax"], -d)  # -D -> 0
    torch.testing.assert_close(grads["ns"], -(1 - d))  # -(1 - D) -> -1
    assert grads["minimax"].abs()[-1] < 1e-8 and grads["ns"].abs()[-1] > 0.999
    assert torch.all(grads["minimax"].abs().diff() < 0)  # shrinks as D -> 0
    # two-sided: the analytic formula of the other loss is rejected by autograd
    assert not torch.allclose(grads["minimax"], generator_grad_wrt_logit("ns", logits.detach()))
    assert not torch.allclose(grads["ns"], generator_grad_wrt_logit("minimax", logits.detach()))


def test_generator_parameter_gradient_through_a_fixed_discriminator():
    """G(z) = theta + z, D(x) = sigmoid(w x + b) far from the data: dL/dtheta = dL/dl * w, analytic vs autograd."""
    w, b = 3.0, -30.0
    theta = torch.tensor(0.0, dtype=torch.float64, requires_grad=True)
    z = torch.randn(1000, dtype=torch.float64) * 0.1
    for kind, fn in (("minimax", g_loss_minimax), ("ns", g_loss_ns)):
        logit = w * (theta + z) + b
        (g,) = torch.autograd.grad(fn(logit), theta)
        analytic = (generator_grad_wrt_logit(kind, logit.detach()) * w).mean()
        assert float(g) == pytest.approx(float(analytic), rel=1e-9, abs=1e-15)
    # vanishing: D(G(z)) ~ sigmoid(-30) ~ 1e-13
    assert abs(float(torch.autograd.grad(g_loss_minimax(w * (theta + z) + b), theta)[0])) < 1e-10
    assert abs(float(torch.autograd.grad(g_loss_ns(w * (theta + z) + b), theta)[0])) == pytest.approx(w, rel=1e-6)


def test_value_function_matches_monte_carlo():
    p_mu, q_mu = 0.0, 1.0
    p, q = _normal(GRID, p_mu, 1.0), _normal(GRID, q_mu, 1.0)
    d = optimal_discriminator(p, q)
    v = value_function(d, p, q, DX)
    rng = np.random.default_rng(0)
    xr, xf = rng.normal(p_mu, 1, 400_000), rng.normal(q_mu, 1, 400_000)
    dr = 1 / (1 + np.exp(-(0.5 - xr)))  # D* = sigmoid(log p - log q) = sigmoid(0.5 - x)
    df = 1 / (1 + np.exp(-(0.5 - xf)))
    mc = np.log(dr).mean() + np.log1p(-df).mean()
    assert float(v) == pytest.approx(mc, abs=5e-3)
