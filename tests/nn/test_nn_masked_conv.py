"""MaskedConv2d (PixelCNN): causality in raster order and across colour groups, checked directly on the Jacobian
d out / d in by autograd (single layers of mask A and B, 1 and 3 groups, and a stack A -> B), plus argument checks."""

import pytest
import torch
from torch import nn
from torch.autograd.functional import jacobian

from genzoo.errors import ConfigError
from genzoo.nn.masked import MaskedConv2d

H, W = 5, 4


def _jac(net, c_in, seed=0):
    """|d out[o, i, j] / d in[ci, k, l]| at a random input, shape (C_out, H*W, C_in, H*W) (pixels in raster order)."""
    x = torch.randn(1, c_in, H, W, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    jac = jacobian(lambda t: net(t)[0], x)  # (C_out, H, W, 1, C_in, H, W)
    return jac.reshape(jac.shape[0], H * W, c_in, H * W).abs()


def _group(channels, groups):
    return torch.arange(channels) // (channels // groups)


def _check_causal(jac, groups, centre_allowed):
    """Zero for every input pixel after the output pixel; at the same pixel, zero exactly where centre_allowed
    (g_out, g_in) is False, non-zero where it is True; and each output pixel with a past sees some past pixel."""
    c_out, n, c_in, _ = jac.shape
    p = torch.arange(n)
    future = p[None, :] > p[:, None]  # (p_out, p_in)
    assert jac.permute(0, 2, 1, 3)[:, :, future].sum() == 0, "an output depends on a later pixel"
    centre = jac[:, p, :, p]  # (H*W, C_out, C_in)
    allowed = centre_allowed(_group(c_out, groups)[:, None], _group(c_in, groups)[None, :])
    assert centre[:, ~allowed].sum() == 0, "an output sees a disallowed channel group at its own pixel"
    if allowed.any():
        assert (centre[:, allowed] > 0).all(), "an allowed channel group at the centre is not seen"
    past = jac.permute(0, 2, 1, 3)[:, :, p[None, :] < p[:, None]]  # (C_out, C_in, pairs)
    assert past.sum() > 0
    seen_past = (jac.sum(dim=(0, 2)) * (p[None, :] < p[:, None])).sum(1)  # per output pixel
    assert (seen_past[1:] > 0).all(), "an output pixel sees none of the pixels before it"


@pytest.mark.parametrize("groups,c_in,c_out", [(1, 2, 4), (3, 3, 6), (3, 6, 3)])
@pytest.mark.parametrize("mask_type", ["A", "B"])
def test_single_layer_is_causal(mask_type, groups, c_in, c_out):
    torch.manual_seed(1)
    conv = MaskedConv2d(c_in, c_out, 3, mask_type, channel_groups=groups).double()
    rule = (lambda go, gi: gi < go) if mask_type == "A" else (lambda go, gi: gi <= go)
    _check_causal(_jac(conv, c_in), groups, rule)
    assert conv(torch.randn(2, c_in, H, W, dtype=torch.float64)).shape == (2, c_out, H, W)


@pytest.mark.parametrize("groups", [1, 3])
def test_stack_a_then_b_keeps_the_receptive_field_causal(groups):
    """A (3x3) -> tanh -> B (5x5) -> tanh -> B (1x1): output group j at pixel p sees input groups < j at p only."""
    torch.manual_seed(2)
    net = nn.Sequential(MaskedConv2d(3, 6, 3, "A", groups), nn.Tanh(), MaskedConv2d(6, 6, 5, "B", groups), nn.Tanh(),
                        MaskedConv2d(6, 3, 1, "B", groups)).double()
    _check_causal(_jac(net, 3, seed=3), groups, lambda go, gi: gi < go)


def test_the_check_catches_leaks():
    """Two-sided: an unmasked convolution (sees the future) and a first layer of type B (sees its own pixel) fail."""
    torch.manual_seed(3)
    plain = nn.Conv2d(3, 3, 3, padding=1).double()
    with pytest.raises(AssertionError, match="later pixel"):
        _check_causal(_jac(plain, 3), 3, lambda go, gi: gi < go)
    b_first = MaskedConv2d(3, 3, 3, "B", 3).double()
    with pytest.raises(AssertionError, match="disallowed"):
        _check_causal(_jac(b_first, 3), 3, lambda go, gi: gi < go)


def test_mask_a_without_groups_hides_the_centre_and_the_mask_is_saved():
    conv = MaskedConv2d(2, 2, 3, "A")
    m = conv.mask[0, 0]
    assert m.tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert MaskedConv2d(2, 2, 3, "B").mask[0, 0, 1, 1] == 1
    assert "mask" in conv.state_dict() and conv.padding == (1, 1)


@pytest.mark.parametrize("kw,msg", [
    (dict(in_channels=3, out_channels=3, kernel_size=4), "odd"),
    (dict(in_channels=3, out_channels=3, kernel_size=0), "odd"),
    (dict(in_channels=4, out_channels=3, kernel_size=3, channel_groups=3), "divisible"),
    (dict(in_channels=3, out_channels=4, kernel_size=3, channel_groups=3), "divisible"),
    (dict(in_channels=3, out_channels=3, kernel_size=3, channel_groups=0), "divisible"),
    (dict(in_channels=3, out_channels=3, kernel_size=3, mask_type="C"), '"A" or "B"'),
])
def test_bad_arguments_raise_one_clear_error(kw, msg):
    with pytest.raises(ConfigError, match=msg):
        MaskedConv2d(**kw)
