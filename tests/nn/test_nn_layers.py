"""The shared layers of genzoo.nn against independent computations: self-attention against a naive
softmax(q k^T / sqrt(d)) v, the sinusoidal time embedding against its closed form, spectral norm against
torch.linalg.svdvals, and the image-coupling conditioner against values recorded before it moved to genzoo.nn."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from genzoo.models.gan.layers import EqualizedConv2d, EqualizedLinear
from genzoo.models.gan.layers import apply_spectral_norm as gan_spectral_norm
from genzoo.nn import AttnBlock, ConvNet, TimeEmbedding, apply_spectral_norm, group_norm, timestep_embedding


# ---- attention ------------------------------------------------------------------------------------------------------
def _naive_attention(blk, x, scale):
    n, c, h, w = x.shape
    heads, d = blk.heads, c // blk.heads
    g = blk.norm
    tokens = F.group_norm(x, g.num_groups, g.weight, g.bias, g.eps).flatten(2).transpose(1, 2)  # (n, hw, c)
    q, k, v = (tokens @ blk.qkv.weight.T + blk.qkv.bias).split(c, dim=2)
    outs = []
    for m in range(heads):
        sl = slice(m * d, (m + 1) * d)
        logits = q[..., sl] @ k[..., sl].transpose(1, 2) * scale(d)  # (n, hw, hw)
        a = torch.exp(logits - logits.amax(-1, keepdim=True))
        outs.append((a / a.sum(-1, keepdim=True)) @ v[..., sl])
    out = torch.cat(outs, 2) @ blk.proj.weight.T + blk.proj.bias
    return x + out.transpose(1, 2).reshape(n, c, h, w)


@pytest.mark.parametrize("heads", [1, 2, 4])
def test_attention_block_equals_naive_softmax_attention(heads):
    blk = AttnBlock(8, heads=heads, groups=2).double()
    with torch.no_grad():
        for p in blk.parameters():
            p.add_(0.5 * torch.randn_like(p))  # the output projection starts at zero: make it matter
    x = torch.randn(2, 8, 3, 5, dtype=torch.float64)
    torch.testing.assert_close(blk(x), _naive_attention(blk, x, lambda d: 1 / math.sqrt(d)), rtol=1e-10, atol=1e-10)
    wrong = _naive_attention(blk, x, lambda d: 1 / d)  # the 1/d scaling bug is told apart (d = 8 / heads > 1)
    if 8 // heads > 1:
        assert (blk(x) - wrong).abs().max() > 1e-4


def test_fresh_attention_block_is_the_identity_and_heads_must_divide():
    x = torch.randn(2, 8, 4, 4)
    assert torch.equal(AttnBlock(8, heads=2)(x), x)
    with pytest.raises(ValueError, match="heads"):
        AttnBlock(6, heads=4)


# ---- time embedding -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("dim,max_period", [(8, 10000.0), (7, 10000.0), (6, 100.0)])
def test_time_embedding_matches_the_closed_form(dim, max_period):
    t = torch.tensor([0.0, 0.5, 3.0, 17.25, 999.0])
    e = timestep_embedding(t, dim, max_period).double().numpy()
    half = dim // 2
    w = max_period ** (-np.arange(half) / half)
    arg = t.double().numpy()[:, None] * w[None]
    np.testing.assert_allclose(e[:, :half], np.sin(arg), atol=2e-4)
    np.testing.assert_allclose(e[:, half:2 * half], np.cos(arg), atol=2e-4)
    assert e.shape == (5, dim) and (dim % 2 == 0 or np.all(e[:, -1] == 0))
    if dim % 2 == 0 and max_period == 10000.0:  # Vaswani's PE(pos, 2i) = sin(pos / 10000^(2i / d)), cos likewise
        np.testing.assert_allclose(e[:, 1], np.sin(t.numpy() / 10000 ** (2 / dim)), atol=2e-4)
        np.testing.assert_allclose(e[:, half + 1], np.cos(t.numpy() / 10000 ** (2 / dim)), atol=2e-4)


def test_time_embedding_module_and_its_no_label_token():
    emb = TimeEmbedding(8, 16, num_classes=3)
    t = torch.tensor([1.0, 2.0])
    assert emb(t).shape == (2, 16)
    torch.testing.assert_close(emb(t), emb(t, torch.tensor([3, 3])))  # no label = the extra (last) row
    assert (emb(t, torch.tensor([0, 1])) - emb(t)).abs().max() > 0


# ---- spectral norm --------------------------------------------------------------------------------------------------
def _sigma(w):
    return float(torch.linalg.svdvals(w.detach().flatten(1))[0])


def _iterate(m, x, steps=300):
    m.train()
    for _ in range(steps):  # one power-iteration step per training-mode forward
        m(x)
    return m.eval()


@pytest.mark.parametrize("make,x", [
    (lambda: nn.Linear(6, 4), torch.randn(3, 6)),
    (lambda: nn.Conv2d(3, 5, 3), torch.randn(2, 3, 6, 6)),
    (lambda: nn.Embedding(7, 5), torch.tensor([0, 3, 6])),
], ids=["linear", "conv", "embedding"])
def test_spectral_norm_gives_unit_largest_singular_value(make, x):
    m = make().double()
    with torch.no_grad():
        m.weight.mul_(3.0)
    assert _sigma(m.weight) > 1.5
    apply_spectral_norm(m)
    _iterate(m, x.double() if x.is_floating_point() else x)
    assert _sigma(m.weight) == pytest.approx(1.0, abs=1e-4)
    if isinstance(m, nn.Linear):  # the forward uses the normalised weight
        xd = x.double()
        torch.testing.assert_close(m(xd), xd @ m.weight.T + m.bias)


def test_spectral_norm_skips_other_layers_and_does_not_stack():
    net = nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.LayerNorm(4))
    apply_spectral_norm(apply_spectral_norm(net))
    assert len(net[0].parametrizations.weight) == 1
    assert not hasattr(net[1], "parametrizations") and not hasattr(net[2], "parametrizations")


class _Scaled(nn.Module):
    """A layer of another kind with a run-time weight multiplier, for the generic extra_kinds path."""

    def __init__(self):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(5, 4, dtype=torch.float64) * 3)
        self.scale = 0.1

    def forward(self, x):
        return x @ (self.weight * self.scale).T


def test_spectral_norm_on_extra_kinds_drops_their_scale():
    m = _Scaled()
    assert not hasattr(apply_spectral_norm(m), "parametrizations")  # not a listed kind: untouched
    apply_spectral_norm(m, extra_kinds=(_Scaled,))
    assert m.scale == 1.0
    _iterate(m, torch.randn(2, 4, dtype=torch.float64))
    assert _sigma(m.weight * m.scale) == pytest.approx(1.0, abs=1e-4)


def test_gan_spectral_norm_keeps_the_equalised_layers_working():
    for m, x in ((EqualizedLinear(6, 4), torch.randn(3, 6)), (EqualizedConv2d(3, 4, 3, 1), torch.randn(2, 3, 5, 5))):
        m = m.double()
        gan_spectral_norm(m)
        assert m.scale == 1.0
        _iterate(m, x.double())
        assert _sigma(m.weight * m.scale) == pytest.approx(1.0, abs=1e-4)


def test_group_norm_default_groups():
    assert group_norm(64).num_groups == 16 and group_norm(32).num_groups == 8 and group_norm(6).num_groups == 1
    with pytest.raises(ValueError, match="divisible"):
        group_norm(6, 4)


# ---- the image-coupling conditioner ---------------------------------------------------------------------------------
# Recorded from genzoo.models.flows.transforms.ConvNet before the move (torch.manual_seed(0) for the parameters,
# then .double(); input from Generator seed 1): y[0, :, 0, 0], y[1, :, 2, 3], y.sum(), (y^2).sum().
RECORDED = {
    "plain": ({}, [0.04959900920050728, -0.2726086476455991, -0.09770889152596998],
              [0.015102983216350702, -0.046455453981552874, -0.5199033207129082], -33.75061978687675,
              12.669152239784854),
    "residual-actnorm": (dict(residual=True, layers=2, kernel=3, norm="actnorm"),
                         [-0.028983666919137265, 0.264030675940735, 0.21266099906470737],
                         [0.017105885293321937, 0.4692717548058595, 0.8207403747211341], 21.627346073110665,
                         38.48181988956607),
}
KEYS = {
    "plain": ["inp.0.weight", "inp.0.bias", "hidden.0.0.weight", "hidden.0.0.bias", "out.weight", "out.bias"],
    "residual-actnorm": ["inp.weight", "inp.bias"] + [f"hidden.{i}.{k}" for i in range(2) for k in (
        "0.norm.loc", "0.norm.log_scale", "0.norm.initialized", "2.weight", "2.bias")]
    + ["head.0.norm.loc", "head.0.norm.log_scale", "head.0.norm.initialized", "out.weight", "out.bias"],
}


def _convnet(kw):
    torch.manual_seed(0)
    net = ConvNet(2, 6, 3, context=2, act="tanh", zero_last=False, **kw).double()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, 2, 5, 5, generator=g, dtype=torch.float64)
    c = torch.randn(4, 2, generator=g, dtype=torch.float64)
    return net, x, c


@pytest.mark.parametrize("name", list(RECORDED))
def test_moved_convnet_gives_the_recorded_outputs_and_keys(name):
    kw, first, second, total, squares = RECORDED[name]
    net, x, c = _convnet(kw)
    y = net(x, c).detach()
    torch.testing.assert_close(y[0, :, 0, 0], torch.tensor(first, dtype=torch.float64), rtol=1e-9, atol=1e-9)
    torch.testing.assert_close(y[1, :, 2, 3], torch.tensor(second, dtype=torch.float64), rtol=1e-9, atol=1e-9)
    assert float(y.sum()) == pytest.approx(total, rel=1e-9)
    assert float(y.pow(2).sum()) == pytest.approx(squares, rel=1e-9)
    assert list(net.state_dict()) == KEYS[name]  # saved flows keep loading
    net2, _, _ = _convnet(kw)
    torch.testing.assert_close(net2(x, c), y, rtol=0, atol=0)  # same seed, same output


def test_convnet_is_reexported_and_its_actnorm_state_survives_loading():
    from genzoo.models.flows import ConvNet as FlowsConvNet
    from genzoo.models.flows.transforms import ConvNet as OldConvNet

    assert FlowsConvNet is ConvNet and OldConvNet is ConvNet
    net, x, c = _convnet(dict(norm="actnorm", layers=1))
    y = net(x, c)  # data-dependent initialisation on this batch
    fresh, _, _ = _convnet(dict(norm="actnorm", layers=1))
    fresh.load_state_dict(net.state_dict())
    other = torch.randn(4, 2, 5, 5, dtype=torch.float64) * 5 + 2
    torch.testing.assert_close(fresh(other, c), net(other, c), rtol=0, atol=0)  # no re-initialisation on `other`
    torch.testing.assert_close(fresh(x, c), y, rtol=0, atol=0)
    with pytest.raises(ValueError, match="unknown norm"):
        ConvNet(2, 4, 4, norm="batch")
