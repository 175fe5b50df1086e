"""The DDPM UNet (Ho et al. 2020, after PixelCNN++ / Wide ResNet): sinusoidal time embedding (genzoo.nn.embedding),
residual blocks with group norm and a per-block time (and class) scale-shift, optional self-attention
(genzoo.nn.attention), skip connections from every down-path block. Channels like (32, 64, 64) give resolutions
28 -> 14 -> 7 (or 32 -> 16 -> 8).

Speed (the same function and parameters, evaluated more cheaply; benchmarks/diffusion_speed.py):
* nearest 2x upsampling followed by a 3x3 convolution is evaluated exactly as one stride-2 transposed
  convolution with a 4x4 kernel folded from the 3x3 one: 16/36 of the multiply-adds, no upsampled copy
  (`_Upsample`);
* the second group norm's affine parameters are folded into the time scale-shift (one fused multiply-add),
  SiLU(temb) is computed once per forward, and the residual is added in place;
* attention projections are Linear layers on (N, H*W, C) tokens, so SDPA gets last-dim-contiguous q, k, v and
  uses its fused CPU kernel.
Channels-last activations are a switch of the Trainer (TrainConfig.channels_last), not the default: oneDNN's
convolutions gain, but torch's CPU group norm is 3-5x slower on channels-last tensors, which takes back most of it
(docs/benchmarks.md: 1.06x -> 1.10x against diffusers in the recorded run, 1.26x in another; copying to NCHW
around each group norm was slower still).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.nn.attention import AttnBlock
from genzoo.nn.embedding import TimeEmbedding, timestep_embedding  # noqa: F401  (lived here; re-exported)
from genzoo.nn.norm import group_norm


class ResBlock(nn.Module):
    """GN -> SiLU -> conv3x3 -> GN, scale-shift by the embedding: h (1 + a) + b with (a, b) = Linear(SiLU(temb))
    -> SiLU -> dropout -> conv3x3 (zero init), + skip (Nichol & Dhariwal's "scale-shift norm"; a plain per-channel
    addition before a group norm whose groups hold one channel each would be normalised away).

    forward(x, act_temb) takes SiLU(temb), computed once by the UNet for all blocks. The second norm's affine
    (gamma, beta) and the scale-shift are one multiply-add: (gamma n + beta)(1 + a) + b = n [gamma (1 + a)]
    + [beta (1 + a) + b]."""

    def __init__(self, cin: int, cout: int, temb_dim: int, dropout: float = 0.0, groups: int | None = None):
        super().__init__()
        self.norm1 = group_norm(cin, groups)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(temb_dim, 2 * cout)
        self.norm2 = group_norm(cout, groups)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, act_temb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        a1, b = self.temb(act_temb).chunk(2, dim=1)  # (N, cout) each
        a1 = a1 + 1
        n2 = self.norm2
        scale = (n2.weight * a1)[:, :, None, None]
        shift = torch.addcmul(b, n2.bias, a1)[:, :, None, None]
        h = torch.addcmul(shift, F.group_norm(h, n2.num_groups, None, None, n2.eps), scale)
        h = self.conv2(self.drop(F.silu(h)))
        return h.add_(self.skip(x))  # conv2's output is not needed by its backward: in place is safe


class _Upsample(nn.Module):
    """Nearest 2x upsampling then conv3x3 (padding 1), evaluated exactly as one stride-2 transposed convolution.

    Output row 2i + a sees input rows {i-1, i} (a = 0) or {i, i+1} (a = 1) with the 3x3 kernel's rows summed:
    (W_0, W_1 + W_2) or (W_0 + W_1, W_2). A transposed convolution, out[p] = sum_{2i + u - 1 = p} x[i] K[u],
    places exactly these on the taps K = (W_2, W_1 + W_2, W_0 + W_1, W_0), i.e. K = Q W Q^T (rows and columns)
    with Q = [[0,0,1],[0,1,1],[1,1,0],[1,0,0]]: 16 instead of 36 multiply-adds per input pixel and channel pair,
    and no upsampled copy. The parameters are those of a plain nn.Conv2d(ch, ch, 3, padding=1) (`self.conv`)."""

    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)
        fold = torch.tensor([[0.0, 0, 1], [0, 1, 1], [1, 1, 0], [1, 0, 0]])
        self.register_buffer("fold", fold, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        q = self.fold.to(self.conv.weight.dtype)
        k = torch.einsum("ur,ocrs,vs->couv", q, self.conv.weight, q)  # (in, out, 4, 4)
        return F.conv_transpose2d(x, k, self.conv.bias, stride=2, padding=1)


class UNet(nn.Module):
    """UNet eps/x0/v network: forward(x, t, y=None), x (N, C, H, W), t (N,) timesteps (float ok), y (N,) labels.

    channels: width per resolution level (len L gives L - 1 downsamplings). attention: per level (default: the
    lowest resolution only). num_res_blocks per level on the way down (one more on the way up, Ho et al.).
    heads: attention heads. norm_groups: group-norm groups everywhere (None: at most 32, >= 4 channels per group).
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int | None = None,
        channels: Sequence[int] = (32, 64, 64),
        num_res_blocks: int = 1,
        attention: Sequence[bool] | None = None,
        heads: int = 1,
        dropout: float = 0.0,
        num_classes: int = 0,
        norm_groups: int | None = None,
    ):
        super().__init__()
        channels = tuple(channels)
        L = len(channels)
        attention = tuple(attention) if attention is not None else tuple(i == L - 1 for i in range(L))
        if len(attention) != L:
            raise ValueError(f"attention needs one flag per level ({L}), got {len(attention)}")
        out_channels = in_channels if out_channels is None else out_channels
        g = norm_groups
        c0 = channels[0]
        temb = 4 * c0
        self.time = TimeEmbedding(c0, temb, num_classes)
        self.conv_in = nn.Conv2d(in_channels, c0, 3, padding=1)

        self.down = nn.ModuleList()
        skips = [c0]
        ch = c0
        for i, cout in enumerate(channels):
            for _ in range(num_res_blocks):
                self.down.append(nn.ModuleList([ResBlock(ch, cout, temb, dropout, g)] +
                                                ([AttnBlock(cout, heads, g)] if attention[i] else [])))
                ch = cout
                skips.append(ch)
            if i < L - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(ch, ch, 3, stride=2, padding=1)]))
                skips.append(ch)
        self.mid1 = ResBlock(ch, ch, temb, dropout, g)
        self.mid_attn = AttnBlock(ch, heads, g)
        self.mid2 = ResBlock(ch, ch, temb, dropout, g)

        self.up = nn.ModuleList()
        for i in reversed(range(L)):
            cout = channels[i]
            for _ in range(num_res_blocks + 1):
                self.up.append(nn.ModuleList([ResBlock(ch + skips.pop(), cout, temb, dropout, g)] +
                                             ([AttnBlock(cout, heads, g)] if attention[i] else [])))
                ch = cout
            if i > 0:
                self.up.append(nn.ModuleList([_Upsample(ch)]))
        self.norm_out = group_norm(ch, g)
        self.conv_out = nn.Conv2d(ch, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        act = F.silu(self.time(t, y))  # every block's projection reads SiLU(temb)
        h = self.conv_in(x)
        hs = [h]
        for blk in self.down:
            h = _apply(blk, h, act)
            hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, act)), act)
        for blk in self.up:
            if isinstance(blk[0], ResBlock):
                skip = hs.pop()
                if skip.shape[-2:] != h.shape[-2:]:
                    h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
                h = torch.cat([h, skip], dim=1)
            h = _apply(blk, h, act)
        return self.conv_out(F.silu(self.norm_out(h)))


def _apply(blk: nn.ModuleList, h: Tensor, act: Tensor) -> Tensor:
    for m in blk:
        h = m(h, act) if isinstance(m, ResBlock) else m(h)
    return h
