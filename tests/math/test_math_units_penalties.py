"""bits/dim and the regularisers against hand-computed values (two-sided)."""

import math

import pytest
import torch

from genzoo.math import bits_per_dim, gradient_penalty, l1_penalty, l2_penalty, r1_penalty

D = torch.float64


def close(a, b, tol=1e-10):
    return bool(torch.allclose(torch.as_tensor(a, dtype=D), torch.as_tensor(b, dtype=D), rtol=tol, atol=tol))


def test_bits_per_dim_uniform_models_score_eight():
    dims = 3 * 32 * 32
    # a density uniform on [0, 1)^D (NLL 0 nats) on 8-bit data dequantized to [0, 1)
    assert bits_per_dim(torch.tensor(0.0), dims).item() == 8.0
    # a probability mass function uniform over the 256 levels: NLL = D ln 256
    assert bits_per_dim(torch.tensor(dims * math.log(256.0), dtype=D), dims, n_bins=1).item() == pytest.approx(8.0)
    # the other side: that pmf's NLL read as a density on [0, 1) would double-count the bins
    assert bits_per_dim(torch.tensor(dims * math.log(256.0), dtype=D), dims).item() == pytest.approx(16.0)


def test_bits_per_dim_n_bins_one_and_batched():
    nll = torch.tensor([100.0, 250.0], dtype=D)
    got = bits_per_dim(nll, 784, n_bins=1)
    assert close(got, nll / (784 * math.log(2)))
    assert not close(got, nll / 784)  # nats per dim are not bits per dim
    assert bits_per_dim(3.0, 2, n_bins=4).item() == pytest.approx((1.5 + math.log(4)) / math.log(2))
    with pytest.raises(ValueError, match="num_dims"):
        bits_per_dim(1.0, 0)


def test_gradient_penalty_linear_critic_is_exact():
    w = torch.tensor([0.3, -1.2, 2.0], dtype=D)
    critic = lambda x: x @ w
    real, fake = torch.randn(16, 3, dtype=D), torch.randn(16, 3, dtype=D)
    gp = gradient_penalty(critic, real, fake)
    exact = (w.norm() - 1) ** 2
    assert gp.item() == pytest.approx(exact.item(), abs=1e-12)
    # the other side: one norm over the whole batch gradient would be (sqrt(N) |w| - 1)^2
    assert gp.item() != pytest.approx(((math.sqrt(16) * w.norm() - 1) ** 2).item(), rel=1e-3)
    # images: one norm over all of C, H, W per sample
    wi = torch.randn(2, 4, 4, dtype=D)
    gpi = gradient_penalty(lambda x: (x * wi).sum((1, 2, 3)), torch.rand(5, 2, 4, 4, dtype=D),
                           torch.rand(5, 2, 4, 4, dtype=D))
    assert gpi.item() == pytest.approx(((wi.norm() - 1) ** 2).item(), abs=1e-12)


def test_gradient_penalty_is_per_sample():
    # critic 0.5 |x|^2: gradient x_hat_i, whose norm differs per sample. With real == fake, x_hat = real.
    critic = lambda x: 0.5 * x.pow(2).sum(-1)
    x = torch.tensor([[0.0, 0.5], [3.0, 4.0], [1.0, 0.0]], dtype=D)
    gp = gradient_penalty(critic, x, x.clone())
    by_hand = ((0.5 - 1) ** 2 + (5.0 - 1) ** 2 + (1.0 - 1) ** 2) / 3
    assert gp.item() == pytest.approx(by_hand, abs=1e-12)
    # the other side: a per-batch norm, (|grad of the summed critic|_F - 1)^2, gives something else
    assert gp.item() != pytest.approx((x.norm() - 1).pow(2).item(), rel=1e-3)
    # ... and so does a critic that mixes samples (batch centring), even with the same per-sample formula
    mixing = lambda t: 0.5 * (t - t.mean(0)).pow(2).sum(-1)
    assert gradient_penalty(mixing, x, x.clone()).item() != pytest.approx(by_hand, rel=1e-3)


def test_gradient_penalty_one_eps_per_sample_and_differentiable():
    real, fake = torch.randn(6, 2, dtype=D), torch.randn(6, 2, dtype=D)
    critic = lambda x: 0.5 * x.pow(2).sum(-1)
    gp = gradient_penalty(critic, real, fake, generator=torch.Generator().manual_seed(3))
    eps = torch.rand(6, 1, dtype=D, generator=torch.Generator().manual_seed(3))
    x_hat = eps * real + (1 - eps) * fake
    assert gp.item() == pytest.approx((x_hat.norm(dim=1) - 1).pow(2).mean().item(), abs=1e-12)
    x_one = eps[0] * real + (1 - eps[0]) * fake  # the other side: one eps for the whole batch
    assert gp.item() != pytest.approx((x_one.norm(dim=1) - 1).pow(2).mean().item(), rel=1e-3)
    # the penalty differentiates to the critic's parameters: d/dw (|w| - 1)^2 = 2 (|w| - 1) w / |w|
    w = torch.tensor([0.6, 1.6], dtype=D, requires_grad=True)
    gradient_penalty(lambda x: x @ w, real, fake).backward()
    wd = w.detach()
    assert close(w.grad, 2 * (wd.norm() - 1) * wd / wd.norm())


def test_r1_quadratic_critic():
    a = torch.tensor([[2.0, 0.5], [0.5, 1.0]], dtype=D)
    critic = lambda x: 0.5 * ((x @ a) * x).sum(-1)  # gradient A x
    x = torch.randn(10, 2, dtype=D)
    r1 = r1_penalty(critic, x)
    assert r1.item() == pytest.approx((x @ a).pow(2).sum(-1).mean().item(), abs=1e-12)
    assert r1.item() != pytest.approx(x.pow(2).sum(-1).mean().item(), rel=1e-3)
    assert r1.item() != pytest.approx((x @ a).norm(dim=1).mean().item(), rel=1e-3)  # squared, not the norm


def test_l1_l2_penalties():
    ps = [torch.tensor([1.0, -2.0]), torch.tensor([[0.5], [-0.25]])]
    assert l1_penalty(ps).item() == pytest.approx(3.75)
    assert l2_penalty(ps).item() == pytest.approx(1 + 4 + 0.25 + 0.0625)
    assert l1_penalty(ps).item() != pytest.approx(sum(p.sum() for p in ps).item())  # absolute values
    assert l2_penalty(ps).item() != pytest.approx(0.5 * (1 + 4 + 0.25 + 0.0625))  # no 1/2
    assert l1_penalty([]).item() == 0.0 and l2_penalty(iter([])).item() == 0.0
    lin = torch.nn.Linear(3, 2)
    l2_penalty(lin.parameters()).backward()
    assert close(lin.weight.grad, 2 * lin.weight.detach())


def test_gradient_penalty_linear_critic_exact_for_every_sample():
    # f(x) = w.x has gradient w everywhere, so every sample's term is (|w| - 1)^2, whatever its eps
    w = torch.tensor([0.3, -1.2, 2.0], dtype=D)
    real, fake = torch.randn(16, 3, dtype=D), torch.randn(16, 3, dtype=D)
    per = gradient_penalty(lambda x: x @ w, real, fake, reduction="none")
    assert per.shape == (16,)
    assert close(per, torch.full((16,), ((w.norm() - 1) ** 2).item(), dtype=D), tol=1e-12)
    assert per.mean().item() == pytest.approx(gradient_penalty(lambda x: x @ w, real, fake).item(), abs=1e-12)
    # the other side: a per-batch norm spread over the samples is not the per-sample value
    batch_norm = (math.sqrt(16) * w.norm() - 1) ** 2
    assert not close(per, batch_norm, tol=1e-3)
    # scalar samples (N,) and target 0 (the "zero-centred" penalty): (|w| - 0)^2 = w^2
    per1 = gradient_penalty(lambda x: 3.0 * x, torch.randn(5, dtype=D), torch.randn(5, dtype=D), target=0.0,
                            reduction="none")
    assert close(per1, torch.full((5,), 9.0, dtype=D))
    r1 = r1_penalty(lambda x: x @ w, real, reduction="none")
    assert close(r1, torch.full((16,), w.pow(2).sum().item(), dtype=D))
    with pytest.raises(ValueError, match="reduction"):
        gradient_penalty(lambda x: x @ w, real, fake, reduction="sum")
