"""Masked layers for autoregressive networks: `MaskedLinear` and `MADE` (Germain et al. 2015), `MaskedConv2d`
(PixelCNN, van den Oord et al. 2016).

MADE turns an MLP into an autoregressive map: each input i gets a degree m(i) in 1..D (its position in the
autoregressive order), each hidden unit k a degree m(k) in 1..D-1, and a connection is kept only where
m(k) >= m(i) (into a hidden unit) or m_out(j) > m(k) (into output j, of degree m_out(j) = m(j)). Output j then
depends on inputs of degree < m(j) only: the Jacobian d out / d in is strictly lower-triangular in the order.
A context vector (a condition) may feed the first hidden layer (or, with `context_every_layer`, every hidden
layer) without a mask. Connectivity-agnostic training (Germain et al. 2015, sec. 4) draws a new order and new
hidden degrees per minibatch: `made_degrees(..., generator=g)` samples hidden degrees uniformly in
[min degree of the layer below, D - 1] (their eq. 13), and `MADE.set_degrees` rewrites the masks in place.

PixelCNN orders pixels in raster order (row by row, left to right) and, within a pixel, its colour channels
(R, G, B): a k x k convolution (k odd, centre c = k // 2) keeps the taps of the rows above the centre and of the
pixels left of it in the centre row, and drops those below and to the right. At the centre tap the channels are
split into `channel_groups` equal contiguous groups (3 for R, G, B); output group j sees input groups i < j
(mask "A", the first layer: a pixel's own value is never seen) or i <= j (mask "B", every later layer). A stack
A, B, B, ... is then causal: output group j at pixel p depends on input pixels before p and on input groups
< j at p only (van den Oord et al. 2016, "Pixel recurrent neural networks", sec. 3.4).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.errors import ConfigError
from genzoo.nn.mlp import activation


class MaskedLinear(nn.Linear):
    """y = x (W * M)^T + b with a fixed binary mask M (out_features, in_features), kept as a buffer."""

    def __init__(self, in_features: int, out_features: int, mask: Tensor, bias: bool = True):
        super().__init__(in_features, out_features, bias=bias)
        if tuple(mask.shape) != (out_features, in_features):
            raise ValueError(f"mask must have shape {(out_features, in_features)}, got {tuple(mask.shape)}")
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * self.mask, self.bias)


def made_degrees(features: int, hidden: Sequence[int], order: Sequence[int] | None = None,
                 generator: torch.Generator | None = None, spread: bool = False) -> list[Tensor]:
    """Degrees of the input and hidden units: input i -> order[i] (a permutation of 1..D; default 1..D),
    hidden unit k of a layer of h units -> 1 + (k mod max(1, D - 1)) (deterministic, every degree used when
    h >= D - 1), or with `spread` 1 + floor(k max(1, D - 1) / h) (deterministic, evenly over 1..D-1 also when
    h < D - 1, where cycling would leave the degrees above h unused), or with a `generator` drawn uniformly from
    [min degree of the layer below, max(1, D - 1)] (Germain et al. 2015, eq. 13)."""
    d_in = torch.arange(1, features + 1) if order is None else torch.as_tensor(list(order), dtype=torch.long)
    if sorted(d_in.tolist()) != list(range(1, features + 1)):
        raise ValueError(f"order must be a permutation of 1..{features}, got {list(d_in.tolist())}")
    degs = [d_in]
    top = max(1, features - 1)
    for h in hidden:
        if generator is None and spread:
            degs.append(torch.arange(h) * top // h + 1)
        elif generator is None:
            degs.append(torch.arange(h) % top + 1)
        else:
            low = min(int(degs[-1].min()), top)
            degs.append(torch.randint(low, top + 1, (h,), generator=generator))
    return degs


def made_masks(degrees: Sequence[Tensor], params: int = 1) -> list[Tensor]:
    """The masks of a MADE with these degrees (input, hidden...): hidden layers keep m(k) >= m(i), the output layer
    (`params` outputs per input, output p * D + j of the degree of input j) keeps m_out(j) > m(k)."""
    masks = [(d1[:, None] >= d0[None, :]).float() for d0, d1 in zip(degrees[:-1], degrees[1:])]
    d_out = degrees[0].repeat(params)
    masks.append((d_out[:, None] > degrees[-1][None, :]).float())
    return masks


class MADE(nn.Module):
    """Masked autoencoder for distribution estimation: (N, D) [+ context (N, K)] -> (N, P, D), where
    out[:, p, j] depends only on x[:, i] with order[i] < order[j] (and on the context).

    `params`: P outputs per feature (e.g. 2 for shift and log-scale). `zero_last` zero-initialises the output layer.
    `context_every_layer`: the context biases every hidden layer (one linear map each), not only the first.
    `set_degrees(made_degrees(...))` changes the order and connectivity in place (the masks are buffers).
    """

    def __init__(self, features: int, hidden: Sequence[int], params: int = 2, context: int = 0,
                 order: Sequence[int] | None = None, act: str = "relu", zero_last: bool = False,
                 context_every_layer: bool = False):
        super().__init__()
        if features < 1 or params < 1 or not hidden:
            raise ValueError("MADE needs features >= 1, params >= 1 and at least one hidden layer")
        self.features, self.params, self.context = features, params, context
        degs = made_degrees(features, hidden, order)
        masks = made_masks(degs, params)
        self.hidden_layers = nn.ModuleList(MaskedLinear(m.shape[1], m.shape[0], m) for m in masks[:-1])
        self.ctx = nn.Linear(context, hidden[0], bias=False) if context > 0 else None
        self.ctx_rest = (nn.ModuleList(nn.Linear(context, h, bias=False) for h in hidden[1:])
                         if context > 0 and context_every_layer else None)
        self.out = MaskedLinear(len(degs[-1]), params * features, masks[-1])
        if zero_last:
            nn.init.zeros_(self.out.weight)
            nn.init.zeros_(self.out.bias)
        self.act = activation(act)
        self.register_buffer("order", degs[0].clone())

    @torch.no_grad()
    def set_degrees(self, degrees: Sequence[Tensor]) -> None:
        """Rewrite the masks (and `order`) for new degrees of the same sizes, e.g. from `made_degrees(..., order,
        generator)`."""
        masks = made_masks(degrees, self.params)
        for layer, m in zip([*self.hidden_layers, self.out], masks):
            layer.mask.copy_(m)
        self.order.copy_(degrees[0])

    def forward(self, x: Tensor, context: Tensor | None = None) -> Tensor:
        if self.ctx is not None and context is None:
            raise ValueError("this MADE was built with a context; pass one")
        h = x
        for i, layer in enumerate(self.hidden_layers):
            h = layer(h)
            if i == 0 and self.ctx is not None:
                h = h + self.ctx(context)
            elif i > 0 and self.ctx_rest is not None:
                h = h + self.ctx_rest[i - 1](context)
            h = self.act(h)
        return self.out(h).view(x.shape[0], self.params, self.features)


def pixelcnn_mask(in_channels: int, out_channels: int, kernel_size: int, mask_type: str,
                  channel_groups: int = 1) -> Tensor:
    """The (out_channels, in_channels, k, k) 0/1 mask of a PixelCNN convolution (module docstring)."""
    if mask_type not in ("A", "B"):
        raise ConfigError(f'masked conv: mask_type must be "A" or "B", got {mask_type!r}')
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ConfigError(f"masked conv: kernel_size must be an odd integer >= 1, got {kernel_size!r}")
    if channel_groups < 1 or in_channels % channel_groups or out_channels % channel_groups:
        raise ConfigError(f"masked conv: in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
                          f"divisible by channel_groups ({channel_groups})")
    c = kernel_size // 2
    mask = torch.zeros(out_channels, in_channels, kernel_size, kernel_size)
    mask[:, :, :c, :] = 1.0  # rows above
    mask[:, :, c, :c] = 1.0  # left of the centre in its row
    g_out = torch.arange(out_channels) // (out_channels // channel_groups)
    g_in = torch.arange(in_channels) // (in_channels // channel_groups)
    allowed = g_in[None, :] < g_out[:, None] if mask_type == "A" else g_in[None, :] <= g_out[:, None]
    mask[:, :, c, c] = allowed.float()
    return mask


class MaskedConv2d(nn.Conv2d):
    """PixelCNN convolution: y = conv2d(x, W * M) + b with M = pixelcnn_mask(...), a buffer saved with the weights,
    "same" zero padding (k // 2), stride 1. `channel_groups` is the number of colour groups (3 for RGB), not the
    grouped-convolution `groups` of nn.Conv2d (always 1 here)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str = "B",
                 channel_groups: int = 1, bias: bool = True):
        mask = pixelcnn_mask(in_channels, out_channels, kernel_size, mask_type, channel_groups)
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
        self.mask_type, self.channel_groups = mask_type, channel_groups
        self.register_buffer("mask", mask.to(self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, mask_type={self.mask_type}, channel_groups={self.channel_groups}"
