"""DBN: the variational bound against an enumerated tiny DBN, the layer-wise schedule, sampling."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from genzoo.models import Batch, create


def states(n: int) -> torch.Tensor:
    return ((torch.arange(2**n)[:, None] >> torch.arange(n)) & 1).double()


def tiny_dbn(hidden=(5, 4), scale=1.0):
    torch.manual_seed(0)
    m = create("dbn", data_shape=(6,), hidden=hidden, chains=8, layer_steps=2, ais_betas=500, ais_runs=50).double()
    with torch.no_grad():
        for p in m.parameters():
            p.normal_(0, scale)
    return m


def log_bernoulli(x, logits):
    """log prod_i Bernoulli(x_i; sigmoid(logits_i)) for every pair: x (A, D), logits (B, D) -> (A, B)."""
    return (x[:, None] * F.logsigmoid(logits)[None] + (1 - x[:, None]) * F.logsigmoid(-logits)[None]).sum(-1)


def exact_quantities(m, v):
    """Exact log p(v), the exact bound and KL(q(h1|v) || p(h1|v)) of a two-layer DBN by enumerating h1 and h2."""
    lo, top = m.layers
    h1, h2 = states(lo.hidden), states(top.hidden)
    W1, b1, c1 = lo.W.detach(), lo.b.detach(), lo.c.detach()
    W2, b2, c2 = top.W.detach(), top.b.detach(), top.c.detach()
    log_top = torch.logsumexp((h1 @ b2)[:, None] + (h2 @ c2)[None] + h1 @ W2 @ h2.T, 1)  # (2^H1,) unnormalised
    log_top = log_top - torch.logsumexp(log_top, 0)
    log_pv_h = log_bernoulli(v, b1 + h1 @ W1.T)  # (N, 2^H1): log p(v | h1)
    log_joint = log_pv_h + log_top[None]
    log_p = torch.logsumexp(log_joint, 1)
    log_q = log_bernoulli(h1, c1 + v @ W1).T  # (N, 2^H1): log q(h1 | v)
    q = log_q.exp()
    bound = (q * (log_joint - log_q)).sum(1)
    kl = (q * (log_q - (log_joint - log_p[:, None]))).sum(1)
    return log_p, bound, kl


def test_bound_below_exact_log_p_with_the_kl_gap():
    m = tiny_dbn()
    v = states(6)
    log_p, bound, kl = exact_quantities(m, v)
    assert torch.allclose(torch.logsumexp(log_p, 0), torch.zeros((), dtype=torch.float64), atol=1e-10)
    assert bool((bound <= log_p + 1e-12).all()) and float((log_p - bound).max()) > 0.01
    assert torch.allclose(log_p - bound, kl, atol=1e-10)
    # the model's Monte Carlo bound with the exact log Z of the top RBM: within 4 SE of the exact bound, per input
    log_z = m.layers[-1].exact_log_partition()
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([m.lower_bound(v[:8], samples=50, log_z=log_z, generator=g) for _ in range(40)])
    se = draws.std(0) / math.sqrt(40)
    assert bool(((draws.mean(0) - bound[:8]).abs() <= 4 * se + 1e-6).all()), (draws.mean(0), bound[:8], se)
    # and it stays a bound: no input's estimate exceeds the exact log p beyond its noise
    assert bool((draws.mean(0) <= log_p[:8] + 4 * se).all())
    # the other side: leaving out the entropy term gives a value the check rejects
    assert not bool(((draws.mean(0) - (bound[:8] - 1.0)).abs() <= 4 * se + 1e-6).all())


def test_log_prob_uses_ais_for_the_top_rbm():
    m = tiny_dbn()
    log_z, se = m.log_partition()
    assert abs(log_z - m.layers[-1].exact_log_partition()) < 0.1
    v = states(6)[:4]
    torch.manual_seed(1)
    a = m.log_prob(v, samples=20)
    torch.manual_seed(1)
    b = m.lower_bound(v, samples=20, log_z=log_z)
    assert torch.allclose(a, b)


def test_one_layer_dbn_is_the_rbm():
    m = tiny_dbn(hidden=(5,))
    v = states(6)
    lp = m.log_prob(v)
    with torch.no_grad():
        exact = -m.layers[0].free_energy(v) - m.layers[0].exact_log_partition()
    assert float((lp - exact).abs().max()) < 0.1


def test_layers_train_in_phases_and_only_the_current_layer_moves():
    m = tiny_dbn(hidden=(5, 4, 3)).float()
    assert [m.update_order(s) for s in range(7)] == [("layer0",)] * 2 + [("layer1",)] * 2 + [("layer2",)] * 3
    m.train()
    x = torch.bernoulli(torch.full((16, 6), 0.6))
    for player in ("layer0", "layer1", "layer2"):
        m.zero_grad(set_to_none=True)
        m.loss(Batch(x), player)["loss"].backward()
        moved = [i for i, layer in enumerate(m.layers) if any(p.grad is not None for p in layer.parameters())]
        assert moved == [int(player[-1])]
        layer = m.layers[int(player[-1])]
        assert bool(layer.ready) and float(layer.base_count) == 16  # the layer saw its own (upward) data


def test_sample_is_top_down():
    m = tiny_dbn().float()
    torch.manual_seed(0)
    s = m.sample(500, steps=50)
    assert s.shape == (500, 6) and float(s.min()) >= 0 and float(s.max()) <= 1
    # the samples' marginals match the exact model's (means of p(v | h1), 500 draws): within 5 SE
    v = states(6)
    log_p, _, _ = exact_quantities(m.double(), v)
    marg = (log_p.exp()[:, None] * v).sum(0)
    se = (marg * (1 - marg) / 500).sqrt()
    assert float(((s.double().mean(0) - marg).abs() / se).max()) < 5
