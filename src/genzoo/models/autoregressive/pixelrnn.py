"""PixelRNN: `pixelrnn` (Row LSTM) and `pixelrnn-diag` (Diagonal BiLSTM), van den Oord et al. 2016a, "Pixel
Recurrent Neural Networks", sec. 3.1-3.4 (see docs/models/autoregressive.md).

An image x of C x H x W sub-pixels is generated in raster order, and within a pixel channel by channel (R, G, B):

    p(x) = prod_{r, c} prod_{k < C} p(x_{r,c,k} | x_{<(r,c)}, x_{r,c,<k})                            (eq. 1-2)

Every layer is causal in that order. The network is the paper's (Table 1):
    7 x 7 convolution, mask A (a pixel never sees itself; colour group k sees groups < k)
    L residual blocks of a Row LSTM or a Diagonal BiLSTM layer (sec. 3.3), 2h features -> h -> 2h
    ReLU, 1 x 1 convolution mask B, ReLU, 1 x 1 convolution mask B to C * P output parameters (sec. 3.4)

An LSTM layer (sec. 3.1, 3.2) computes its four gates from an input-to-state convolution K^is of the layer's
input x and a state-to-state convolution K^ss of the previous hidden state (one row, or one column, at a time):

    [o, f, i, g] = [sigma, sigma, sigma, tanh](K^ss * h_prev + K^is * x)
    c = f . c_prev + i . g,   h = o . tanh(c)                                                          (eq. 3)

Row LSTM: rows are processed top to bottom. K^is is a 1 x k convolution along the row, masked (mask B: the
pixels left of the centre and, at the centre, colour groups <= the output's); K^ss is a 1-D convolution of width k
over the previous row's h. h at (r, c) therefore sees the layer's input at (r, c - k//2 .. c) and, d rows up, at
columns c - (d + 1) (k//2) .. c + d (k//2): a triangle above the pixel that misses the rest of the context.

Diagonal BiLSTM: the input map is skewed (row r shifted right by r, width W + H - 1), so that the diagonals of the
image become columns. A column-by-column LSTM whose K^is is a masked 1 x 1 convolution and whose K^ss is a 2 x 1
convolution over the previous column (rows r - 1 and r of the skewed map: in the image, the pixel above and the
pixel to the left) sees every pixel above-left. The same LSTM on the horizontally mirrored map covers every
pixel above-right; its output is shifted down one row before the two are added, so that its own row (which holds
later pixels) is never seen. The state outside the image (the skew's padding) is held at 0, and the feature maps
carry one extra zero column on the right, so that the right-to-left pass starts past the last pixel of the row
above: the mask-A features of a pixel never hold its own value, and without that column the last pixel of row
r - 1 would be out of sight of (r, c) for c < W - 1 - first_kernel // 2. Unskewed, h at (r, c) then sees every
pixel before it.

Colour: the features of every layer are split into C contiguous groups (group k conditions channel k); the
masked convolutions keep group k from seeing groups > k of the same pixel, and the gates are laid out group by
group, so that the elementwise LSTM update keeps them apart. A class label enters as a learned embedding added to
the first layer's features and to every LSTM's gate pre-activations.

The rest (levels and binarization, the exact log p(x), the loss, sampling sub-pixel by sub-pixel on the rows drawn
so far) is the family's `AutoregressiveImageModel`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.models.autoregressive.base import AutoregressiveConfig, AutoregressiveImageModel
from genzoo.models.autoregressive.outputs import split_channels
from genzoo.models.registry import register
from genzoo.nn import MaskedConv2d, pixelcnn_mask


class MaskedRowConv(nn.Conv2d):
    """1 x k convolution along the row with the centre row of a k x k PixelCNN mask ("A" or "B"): taps left of the
    centre, and at the centre the colour groups `pixelcnn_mask` allows. "Same" zero padding, stride 1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str = "B",
                 channel_groups: int = 1):
        mask = pixelcnn_mask(in_channels, out_channels, kernel_size, mask_type, channel_groups)
        c = kernel_size // 2
        super().__init__(in_channels, out_channels, (1, kernel_size), padding=(0, c))
        self.register_buffer("mask", mask[:, :, c:c + 1, :].clone().to(self.weight.dtype))

    def forward(self, x: Tensor) -> Tensor:
        return self._conv_forward(x, self.weight * self.mask, self.bias)


def lstm_update(z: Tensor, c: Tensor, groups: int) -> tuple[Tensor, Tensor]:
    """One LSTM step (eq. 3) from the pre-activations z (N, 4 h, ...) laid out as (groups, [o, f, i, g], h / groups)
    and the previous cell c (N, h, ...): returns (h, c). Each hidden unit reads the gates of its own colour group."""
    n, rest = z.shape[0], z.shape[2:]
    o, f, i, g = z.view(n, groups, 4, -1, *rest).unbind(2)
    o, f, i, g = (t.reshape(n, -1, *rest) for t in (o, f, i, g))
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class RowLSTM(nn.Module):
    """Row LSTM (sec. 3.1): (N, channels, H, W) -> h (N, hidden, H, W), one step per row, batched over N and W.

    `extra` (optional, (N, 4 hidden) or broadcastable to the gates) is added to every pre-activation: the
    label term of a conditional model."""

    def __init__(self, channels: int, hidden: int, kernel_size: int = 3, channel_groups: int = 1):
        super().__init__()
        self.hidden, self.groups = hidden, channel_groups
        self.input_to_state = MaskedRowConv(channels, 4 * hidden, kernel_size, "B", channel_groups)
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, kernel_size, padding=kernel_size // 2)

    def forward(self, x: Tensor, extra: Tensor | None = None) -> Tensor:
        n, _, _, width = x.shape
        zx = self.input_to_state(x)
        if extra is not None:
            zx = zx + extra.view(n, -1, 1, 1)
        h = x.new_zeros(n, self.hidden, width)
        c = torch.zeros_like(h)
        rows = []
        for zr in zx.unbind(2):  # unbind: one backward (a stack) for all rows, not one per row
            h, c = lstm_update(zr + self.state_to_state(h), c, self.groups)
            rows.append(h)
        return torch.stack(rows, 2)


def skew(x: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, C, H, W + H - 1): row r shifted right by r, zeros elsewhere (sec. 3.2, Figure 3)."""
    n, ch, height, width = x.shape
    cols = torch.arange(width, device=x.device)[None, :] + torch.arange(height, device=x.device)[:, None]
    out = x.new_zeros(n, ch, height, width + height - 1)
    return out.scatter(3, cols.expand(n, ch, height, width), x)


def unskew(s: Tensor, width: int) -> Tensor:
    """Inverse of `skew`: (N, C, H, W + H - 1) -> (N, C, H, W), row r read from columns r .. r + W - 1."""
    n, ch, height, _ = s.shape
    cols = torch.arange(width, device=s.device)[None, :] + torch.arange(height, device=s.device)[:, None]
    return s.gather(3, cols.expand(n, ch, height, width))


def diagonal_scan(z: Tensor, state_to_state: list[nn.Conv1d], groups: int) -> Tensor:
    """The column-by-column LSTM of the skewed map (sec. 3.2) for D directions at once.

    z: (N, D * 4h, H, W + H - 1), the skewed input-to-state pre-activations of D directions stacked along the
    channels; `state_to_state`: D convolutions (h -> 4h, kernel 2: rows r - 1 and r of the previous column), run
    as one grouped convolution. Returns h (N, D * h, H, W + H - 1). The state outside the image stays 0.
    """
    n, _, height, cols = z.shape
    d = len(state_to_state)
    hidden = state_to_state[0].in_channels
    weight = torch.cat([m.weight for m in state_to_state])
    bias = torch.cat([m.bias for m in state_to_state])
    width = cols - height + 1
    inside = skew(z.new_ones(1, 1, height, width))[0, 0]  # (H, W + H - 1): 1 on the image, 0 on the padding
    h = z.new_zeros(n, d * hidden, height)
    c = z.new_zeros(n * d, hidden, height)
    out = []
    for j, zj in enumerate(z.unbind(3)):  # unbind: one backward (a stack) for all columns, not one per column
        zj = zj + F.conv1d(F.pad(h, (1, 0)), weight, bias, groups=d)
        h, c = lstm_update(zj.reshape(n * d, 4 * hidden, height), c, groups)
        h, c = h * inside[:, j], c * inside[:, j]
        h = h.reshape(n, d * hidden, height)
        out.append(h)
    return torch.stack(out, 3)


class DiagonalLSTM(nn.Module):
    """One direction of the Diagonal BiLSTM (sec. 3.2): an input map (N, channels, H, W) is skewed, a
    column-by-column LSTM with a 1 x 1 input-to-state (masked B when `masked`) and a 2 x 1 state-to-state
    convolution runs over it, batched over N and H, and the result is unskewed to h (N, hidden, H, W)."""

    def __init__(self, channels: int, hidden: int, channel_groups: int = 1, masked: bool = True):
        super().__init__()
        self.hidden, self.groups = hidden, channel_groups
        if masked:
            self.input_to_state: nn.Module = MaskedConv2d(channels, 4 * hidden, 1, "B", channel_groups)
        else:
            self.input_to_state = nn.Conv2d(channels, 4 * hidden, 1)
        self.state_to_state = nn.Conv1d(hidden, 4 * hidden, 2)  # rows (r - 1, r) of the previous column

    def gates(self, x: Tensor, extra: Tensor | None = None) -> Tensor:
        """The skewed input-to-state pre-activations (N, 4 hidden, H, W + H - 1) (+ `extra`, e.g. a label term)."""
        z = self.input_to_state(x)
        if extra is not None:
            z = z + extra.view(x.shape[0], -1, 1, 1)
        return skew(z)

    def forward(self, x: Tensor, extra: Tensor | None = None) -> Tensor:
        return unskew(diagonal_scan(self.gates(x, extra), [self.state_to_state], self.groups), x.shape[3])


class DiagonalBiLSTM(nn.Module):
    """Diagonal BiLSTM (sec. 3.2): the left-to-right DiagonalLSTM plus the right-to-left one (on the mirrored map,
    mirrored back) shifted down one row, so that h at (r, c) sees every pixel before (r, c) and none after. The
    two directions run in one scan.

    The right-to-left direction reads only rows above the output's row after the shift, where every pixel and
    every colour group is earlier, so its input-to-state convolution is not masked."""

    def __init__(self, channels: int, hidden: int, channel_groups: int = 1):
        super().__init__()
        self.left_to_right = DiagonalLSTM(channels, hidden, channel_groups, masked=True)
        self.right_to_left = DiagonalLSTM(channels, hidden, channel_groups, masked=False)

    def forward(self, x: Tensor, extra: Tensor | None = None) -> Tensor:
        width = x.shape[3]
        z = torch.cat([self.left_to_right.gates(x, extra), self.right_to_left.gates(x.flip(3), extra)], 1)
        convs = [self.left_to_right.state_to_state, self.right_to_left.state_to_state]
        l2r, r2l = unskew(diagonal_scan(z, convs, self.left_to_right.groups), width).chunk(2, 1)
        return l2r + F.pad(r2l.flip(3), (0, 0, 1, 0))[:, :, :-1]


# ---- the model -------------------------------------------------------------------------------------------------
@dataclass
class PixelRNNConfig(AutoregressiveConfig):
    """arch: "row" (Row LSTM) | "diagonal" (Diagonal BiLSTM). channels: features 2h of the residual stream (the
    LSTMs have h per gate, sec. 3.3). blocks: residual LSTM layers. kernel: k of the Row LSTM's 1 x k input-to-state
    and width-k state-to-state convolutions (the Diagonal BiLSTM's are 1 x 1 and 2 x 1). first_kernel: the mask-A
    convolution in front. out_channels: width of the hidden 1 x 1 output layer. channels must be a multiple of 2 C,
    out_channels of C (C colour channels). The defaults are the paper's MNIST model (7 layers, h = 16)."""

    arch: Literal["row", "diagonal"] = "row"
    channels: int = 32
    blocks: int = 7
    kernel: int = 3
    first_kernel: int = 7
    out_channels: int = 32

    positive: ClassVar[tuple[str, ...]] = (*AutoregressiveConfig.positive, "channels", "blocks", "kernel",
                                           "first_kernel", "out_channels")

    def checks(self) -> list[tuple[bool, str]]:
        c = self.data_shape[0] if self.data_shape else 1
        return [
            *super().checks(),
            (self.first_kernel % 2 == 1 and self.kernel % 2 == 1,
             f"first_kernel and kernel must be odd, got {self.first_kernel} and {self.kernel}"),
            (self.channels % (2 * c) == 0,
             f"channels ({self.channels}) must be a multiple of {2 * c} ({c} colour channels, LSTMs of channels / 2)"),
            (self.out_channels % c == 0, f"out_channels ({self.out_channels}) must be a multiple of {c}"),
        ]


@dataclass
class DiagonalPixelRNNConfig(PixelRNNConfig):
    arch: Literal["row", "diagonal"] = "diagonal"


class LSTMBlock(nn.Module):
    """Residual block (sec. 3.3): x (2h) -> Row LSTM or Diagonal BiLSTM (h) -> 1 x 1 mask B (2h), plus x. `bias`
    (N, 4h), a class embedding, is added to every gate pre-activation."""

    def __init__(self, arch: str, channels: int, kernel: int, groups: int):
        super().__init__()
        h = channels // 2
        self.lstm = RowLSTM(channels, h, kernel, groups) if arch == "row" else DiagonalBiLSTM(channels, h, groups)
        self.up = MaskedConv2d(h, channels, 1, "B", groups)

    def forward(self, x: Tensor, bias: Tensor | None = None) -> Tensor:
        return x + self.up(self.lstm(x, bias))


@register("pixelrnn", family="autoregressive")
class PixelRNN(AutoregressiveImageModel):
    """PixelRNN with Row LSTM layers (van den Oord et al. 2016a, sec. 3.1): a mask-A 7x7 convolution, residual
    Row LSTM layers, mask-B 1x1 output layers; a triangular receptive field above each pixel."""

    Config = PixelRNNConfig

    def __init__(self, config: PixelRNNConfig):
        super().__init__(config)
        c, w = self.channels, config.channels
        self.first = MaskedConv2d(c, w, config.first_kernel, "A", c)
        self.blocks = nn.ModuleList(LSTMBlock(config.arch, w, config.kernel, c) for _ in range(config.blocks))
        self.head = nn.Sequential(nn.ReLU(), MaskedConv2d(w, config.out_channels, 1, "B", c), nn.ReLU(),
                                  MaskedConv2d(config.out_channels, c * self.output.params, 1, "B", c))
        # class embedding: a bias of the first layer's features and of every LSTM's gates
        self.bias_widths = [w] + [2 * w] * config.blocks
        k = config.num_classes
        self.embed = nn.Embedding(k, sum(self.bias_widths)) if k > 0 else None
        if self.embed is not None:  # as nn.Linear on the one-hot label: U(-1/sqrt(K), 1/sqrt(K))
            nn.init.uniform_(self.embed.weight, -k**-0.5, k**-0.5)
        self.extra_columns = 1 if config.arch == "diagonal" else 0  # see `network`

    def network(self, inputs: Tensor, labels: Tensor | None = None) -> Tensor:
        """(N, C, H', W) inputs in [-1, 1] (+ labels) -> (N, C, P, H', W) params, those of sub-pixel t a function
        of the inputs before t only. Any H' <= H: the first rows alone give the same params for those rows.

        The Diagonal BiLSTM's maps carry one more column on the right (zero input): its right-to-left pass then
        starts past the last pixel, whose value only the mask-A features to its right hold, so that pixel (r, c)
        sees the end of row r - 1 too (without it the last pixel of the row above is out of sight of every
        (r, c) with c < W - 1 - first_kernel // 2)."""
        e = self.class_bias(self.embed, labels)
        biases = [None] * len(self.bias_widths) if e is None else list(e.split(self.bias_widths, 1))
        width = inputs.shape[3]
        x = self.first(F.pad(inputs, (0, self.extra_columns)))
        if biases[0] is not None:
            x = x + biases[0][:, :, None, None]
        for block, b in zip(self.blocks, biases[1:]):
            x = block(x, b)
        return split_channels(self.head(x[..., :width]), self.channels)


@register("pixelrnn-diag", family="autoregressive")
class DiagonalPixelRNN(PixelRNN):
    """PixelRNN with Diagonal BiLSTM layers (van den Oord et al. 2016a, sec. 3.2): every earlier pixel in view."""

    Config = DiagonalPixelRNNConfig
