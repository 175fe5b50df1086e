"""PixelCNN (van den Oord et al. 2016a, "Pixel Recurrent Neural Networks", sec. 3.4-3.5) and Gated PixelCNN
(van den Oord et al. 2016b, "Conditional Image Generation with PixelCNN Decoders", sec. 2).

Both model p(x) = prod_t p(x_t | x_<t) over sub-pixels in raster and channel order with a fully convolutional
network whose output at position t sees inputs before t only, so that log p(x) is one pass and exact.

PixelCNN. Masked convolutions (`genzoo.nn.MaskedConv2d`): a 7 x 7 mask-A layer (a pixel's own value unseen), then
residual blocks of mask-B convolutions, ReLU -> 1x1 (2h -> h) -> ReLU -> 3x3 (h -> h) -> ReLU -> 1x1 (h -> 2h), plus
the block's input (2016a, fig. 5), then ReLU -> 1x1 mask-B -> ReLU -> 1x1 mask-B output layers. With C colour
channels every feature map is split into C channel groups: group c at a pixel sees groups < c (mask A) or <= c
(mask B) at that pixel, so the params of channel c depend on the channels < c of the same pixel (R -> G -> B) and
on every channel of earlier pixels. Stacked masked 3x3 convolutions leave a blind spot: a pixel never sees the
pixels up and to the right beyond the first layer's reach (`receptive_field` shows it).

Gated PixelCNN (2016b, fig. 2). Two stacks remove the blind spot. The vertical stack sees every pixel of the rows
above within its (growing) width: its convolutions are (k//2 + 1) x k kernels over the rows up to and including
the current one, and it feeds the horizontal stack only after a shift down by one row, so row i receives rows < i.
The horizontal stack sees the current row left of the pixel: 1 x (k//2 + 1) kernels whose last tap (the pixel
itself) carries the channel-group mask (A in the first layer, B after). Each layer is

    v' = tanh(W_f,v * v + V_f,v y) . sigmoid(W_g,v * v + V_g,v y)
    h' = h + W_o (tanh(W_f,h * h + U_f shift(W_f,vh * v) + V_f,h y) . sigmoid(W_g,h * h + ... + V_g,h y))

(eq. 2 and 4: gated activations, the vertical-to-horizontal link, a residual horizontal stack, and a class
embedding y biasing every gate; no residual in the first layer). For colour the horizontal features are C channel
groups, and f and g of group c are taken from the pre-activations of group c, so the gate mixes no groups.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.models.autoregressive.base import AutoregressiveConfig, AutoregressiveImageModel
from genzoo.models.autoregressive.outputs import split_channels
from genzoo.models.registry import register
from genzoo.nn import MaskedConv2d, pixelcnn_mask


@dataclass
class PixelCNNConfig(AutoregressiveConfig):
    """channels: feature maps 2h of the residual stream (h inside a block). blocks: residual blocks (gated
    layers for gated-pixelcnn, the first one included). first_kernel: size of the first (mask A) layer. kernel:
    size of the later layers. out_channels: width of the hidden 1x1 output layer. Every width must be divisible
    by the number of colour channels C (channels by 2 C for pixelcnn, whose blocks halve it)."""

    channels: int = 64
    blocks: int = 6
    first_kernel: int = 7
    kernel: int = 3
    out_channels: int = 64

    positive: ClassVar[tuple[str, ...]] = (*AutoregressiveConfig.positive, "channels", "blocks", "first_kernel",
                                           "kernel", "out_channels")
    # channels must be a multiple of this many times C (a PixelCNN block halves its width)
    width_factor: ClassVar[int] = 2

    def checks(self) -> list[tuple[bool, str]]:
        c = self.data_shape[0] if self.data_shape else 1
        m = self.width_factor * c
        return [
            *super().checks(),
            (self.first_kernel % 2 == 1 and self.kernel % 2 == 1,
             f"first_kernel and kernel must be odd, got {self.first_kernel} and {self.kernel}"),
            (self.channels % m == 0, f"channels ({self.channels}) must be a multiple of {m} ({c} colour channels)"),
            (self.out_channels % c == 0, f"out_channels ({self.out_channels}) must be a multiple of {c}"),
        ]


@dataclass
class GatedPixelCNNConfig(PixelCNNConfig):
    """As PixelCNNConfig; channels is the width h of both stacks, blocks the number of gated layers."""

    channels: int = 64
    blocks: int = 8
    width_factor: ClassVar[int] = 1


class _ConvModel(AutoregressiveImageModel):
    """Shared by the two convolutional models: the class embedding (one slice per biased layer) and the output
    layers ReLU -> 1x1 mask B -> ReLU -> 1x1 mask B (C P channels, channel c's params in [c P, (c + 1) P))."""

    def _make_head(self, width: int, bias_widths: list[int]) -> None:
        cfg = self.config
        c = self.channels
        self.head1 = MaskedConv2d(width, cfg.out_channels, 1, "B", channel_groups=c)
        self.head2 = MaskedConv2d(cfg.out_channels, c * self.output.params, 1, "B", channel_groups=c)
        self.bias_widths = [*bias_widths, cfg.out_channels]
        self.embed = nn.Embedding(cfg.num_classes, sum(self.bias_widths)) if cfg.num_classes > 0 else None
        if self.embed is not None:  # initialised as nn.Linear on the one-hot label would be: U(-1/sqrt(K), 1/sqrt(K))
            nn.init.uniform_(self.embed.weight, -cfg.num_classes**-0.5, cfg.num_classes**-0.5)

    def _biases(self, labels: Tensor | None) -> list[Tensor | None]:
        """One (N, width, 1, 1) bias per biased layer, or Nones when unconditional."""
        e = self.class_bias(self.embed, labels)
        if e is None:
            return [None] * len(self.bias_widths)
        return [b[:, :, None, None] for b in e.split(self.bias_widths, 1)]

    def _head(self, h: Tensor, bias: Tensor | None) -> Tensor:
        h = self.head1(F.relu(h))
        if bias is not None:
            h = h + bias
        return split_channels(self.head2(F.relu(h)), self.channels)


# ---- PixelCNN --------------------------------------------------------------------------------------------------
class ResidualBlock(nn.Module):
    """ReLU -> 1x1 (2h -> h) -> ReLU -> k x k (h -> h) -> ReLU -> 1x1 (h -> 2h), all mask B, plus the input."""

    def __init__(self, channels: int, kernel: int, groups: int):
        super().__init__()
        half = channels // 2
        self.reduce = MaskedConv2d(channels, half, 1, "B", channel_groups=groups)
        self.conv = MaskedConv2d(half, half, kernel, "B", channel_groups=groups)
        self.expand = MaskedConv2d(half, channels, 1, "B", channel_groups=groups)

    def forward(self, x: Tensor, bias: Tensor | None = None) -> Tensor:
        h = self.conv(F.relu(self.reduce(F.relu(x))))
        if bias is not None:
            h = h + bias
        return x + self.expand(F.relu(h))


@register("pixelcnn", family="autoregressive")
class PixelCNN(_ConvModel):
    """PixelCNN (van den Oord et al. 2016a, sec. 3.4-3.5): a mask-A 7x7 convolution, residual blocks of mask-B
    1x1 - 3x3 - 1x1 convolutions, mask-B 1x1 output layers; channel groups for colour (blind spot included)."""

    Config = PixelCNNConfig

    def __init__(self, config: PixelCNNConfig):
        super().__init__(config)
        c, w = self.channels, config.channels
        self.first = MaskedConv2d(c, w, config.first_kernel, "A", channel_groups=c)
        self.res = nn.ModuleList(ResidualBlock(w, config.kernel, c) for _ in range(config.blocks))
        self._make_head(w, [w] + [w // 2] * config.blocks)

    def network(self, inputs: Tensor, labels: Tensor | None = None) -> Tensor:
        biases = self._biases(labels)
        h = self.first(inputs)
        if biases[0] is not None:
            h = h + biases[0]
        for block, b in zip(self.res, biases[1:]):
            h = block(h, b)
        return self._head(h, biases[-1])


# ---- Gated PixelCNN --------------------------------------------------------------------------------------------
class VerticalConv(nn.Conv2d):
    """(k//2 + 1) x k convolution over the rows above and the current row: output (i, j) sees input rows
    i - k//2 .. i, columns j - k//2 .. j + k//2 (zero padding; no mask needed)."""

    def __init__(self, cin: int, cout: int, k: int):
        super().__init__(cin, cout, (k // 2 + 1, k))
        self.k = k

    def forward(self, x: Tensor) -> Tensor:
        p = self.k // 2
        return super().forward(F.pad(x, (p, p, p, 0)))


class HorizontalConv(nn.Conv2d):
    """1 x (k//2 + 1) convolution over the current row up to the pixel: taps at columns j - k//2 .. j - 1 see
    every channel, the last tap (the pixel itself) the channel groups of mask A (< c) or B (<= c)."""

    def __init__(self, cin: int, cout: int, k: int, mask_type: str, groups: int):
        super().__init__(cin, cout, (1, k // 2 + 1))
        self.k = k
        mask = torch.ones(cout, cin, 1, k // 2 + 1)
        mask[:, :, 0, -1] = pixelcnn_mask(cin, cout, 1, mask_type, groups)[:, :, 0, 0]
        self.register_buffer("mask", mask)

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(F.pad(x, (self.k // 2, 0, 0, 0)), self.weight * self.mask, self.bias)


def shift_down(x: Tensor) -> Tensor:
    """Row i of the output is row i - 1 of x (row 0 is zeros): what the horizontal stack may see of the
    vertical one."""
    return F.pad(x, (0, 0, 1, 0))[:, :, :-1]


def gate(pre: Tensor, groups: int) -> Tensor:
    """tanh(f) * sigmoid(g) of pre-activations (N, 2h, H, W) laid out as `groups` channel groups of [f, g] each, so
    that group c of the output comes from group c of the input only: (N, h, H, W)."""
    n, two_h, hh, ww = pre.shape
    fg = pre.reshape(n, groups, 2, two_h // (2 * groups), hh, ww)
    return (torch.tanh(fg[:, :, 0]) * torch.sigmoid(fg[:, :, 1])).reshape(n, two_h // 2, hh, ww)


class GatedLayer(nn.Module):
    """One layer of the two stacks (module docstring); `first`: mask A, no residual, inputs of C channels."""

    def __init__(self, cin: int, width: int, k: int, groups: int, first: bool):
        super().__init__()
        self.first, self.groups = first, groups
        self.v_conv = VerticalConv(cin, 2 * width, k)
        self.h_conv = HorizontalConv(cin, 2 * width, k, "A" if first else "B", groups)
        self.link = nn.Conv2d(2 * width, 2 * width, 1)  # vertical -> horizontal, after the shift down
        self.h_out = MaskedConv2d(width, width, 1, "B", channel_groups=groups)

    def forward(self, v: Tensor, h: Tensor, bias_v: Tensor | None = None, bias_h: Tensor | None = None):
        v_pre = self.v_conv(v)
        h_pre = self.h_conv(h) + self.link(shift_down(v_pre))
        if bias_v is not None:
            v_pre = v_pre + bias_v
            h_pre = h_pre + bias_h
        v_new = gate(v_pre, 1)
        h_new = self.h_out(gate(h_pre, self.groups))
        return v_new, (h_new if self.first else h + h_new)


@register("gated-pixelcnn", family="autoregressive")
class GatedPixelCNN(_ConvModel):
    """Gated PixelCNN (van den Oord et al. 2016b): vertical and horizontal stacks with gated activations, the
    vertical-to-horizontal link, a residual horizontal stack and no blind spot; class-conditional biases."""

    Config = GatedPixelCNNConfig

    def __init__(self, config: GatedPixelCNNConfig):
        super().__init__(config)
        c, w = self.channels, config.channels
        ks = [config.first_kernel] + [config.kernel] * (config.blocks - 1)
        self.layers = nn.ModuleList(GatedLayer(c if i == 0 else w, w, k, c, i == 0) for i, k in enumerate(ks))
        self._make_head(w, [2 * w, 2 * w] * config.blocks)

    def network(self, inputs: Tensor, labels: Tensor | None = None) -> Tensor:
        biases = self._biases(labels)
        v = h = inputs
        for n, layer in enumerate(self.layers):
            v, h = layer(v, h, biases[2 * n], biases[2 * n + 1])
        return self._head(h, biases[-1])

