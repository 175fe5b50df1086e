"""The DDPM UNet (Ho et al. 2020, after PixelCNN++ / Wide ResNet): sinusoidal time embedding, residual blocks with
group norm and a per-block time (and class) projection, optional self-attention through
`F.scaled_dot_product_attention`, skip connections from every down-path block. Channels like (32, 64, 64) give
resolutions 28 -> 14 -> 7 (or 32 -> 16 -> 8).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Transformer sinusoidal embedding (Vaswani et al. 2017) of (possibly fractional) timesteps t, shape (N,):

        emb[:, i] = sin(t w_i),  emb[:, half + i] = cos(t w_i),  w_i = max_period^(-i / half),  i < half = dim // 2

    (an odd `dim` gets one zero column)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


def _groups(ch: int, max_groups: int = 32) -> int:
    """Group-norm groups: at most 32, at least 4 channels per group where possible."""
    return math.gcd(ch, max(1, min(max_groups, ch // 4)))


class TimeEmbedding(nn.Module):
    """sinusoid(t, dim) -> Linear -> SiLU -> Linear (to `out_dim`), plus an optional class embedding."""

    def __init__(self, dim: int, out_dim: int, num_classes: int = 0):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, out_dim), nn.SiLU(), nn.Linear(out_dim, out_dim))
        # num_classes + 1 rows: the last is the "no label" token classifier-free guidance trains with
        self.label = nn.Embedding(num_classes + 1, out_dim) if num_classes > 0 else None

    def forward(self, t: Tensor, y: Tensor | None = None) -> Tensor:
        e = self.mlp(timestep_embedding(t, self.dim))
        if self.label is not None:
            if y is None:
                y = torch.full((t.shape[0],), self.label.num_embeddings - 1, dtype=torch.long, device=t.device)
            e = e + self.label(y)
        return e


class ResBlock(nn.Module):
    """GN -> SiLU -> conv3x3 -> GN, scale-shift by the embedding: h (1 + a) + b with (a, b) = Linear(SiLU(temb))
    -> SiLU -> dropout -> conv3x3 (zero init), + skip (Nichol & Dhariwal's "scale-shift norm"; a plain per-channel
    addition before a group norm whose groups hold one channel each would be normalised away)."""

    def __init__(self, cin: int, cout: int, temb_dim: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(_groups(cin), cin)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.temb = nn.Linear(temb_dim, 2 * cout)
        self.norm2 = nn.GroupNorm(_groups(cout), cout)
        self.drop = nn.Dropout(dropout)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        nn.init.zeros_(self.conv2.weight)
        nn.init.zeros_(self.conv2.bias)
        self.skip = nn.Conv2d(cin, cout, 1) if cin != cout else nn.Identity()

    def forward(self, x: Tensor, temb: Tensor) -> Tensor:
        h = self.conv1(F.silu(self.norm1(x)))
        a, b = self.temb(F.silu(temb))[:, :, None, None].chunk(2, dim=1)
        h = self.conv2(self.drop(F.silu(self.norm2(h) * (1 + a) + b)))
        return self.skip(x) + h


class AttnBlock(nn.Module):
    """Multi-head self-attention over the H*W positions (GN, qkv 1x1, SDPA, zero-initialised projection)."""

    def __init__(self, ch: int, heads: int = 1):
        super().__init__()
        if ch % heads:
            raise ValueError(f"attention: {ch} channels not divisible by {heads} heads")
        self.heads = heads
        self.norm = nn.GroupNorm(_groups(ch), ch)
        self.qkv = nn.Conv2d(ch, 3 * ch, 1)
        self.proj = nn.Conv2d(ch, ch, 1)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        q, k, v = self.qkv(self.norm(x)).reshape(n, 3, self.heads, c // self.heads, h * w).transpose(-1, -2).unbind(1)
        out = F.scaled_dot_product_attention(q, k, v)  # (n, heads, hw, c/heads)
        out = out.transpose(-1, -2).reshape(n, c, h, w)
        return x + self.proj(out)


class UNet(nn.Module):
    """UNet eps/x0/v network: forward(x, t, y=None), x (N, C, H, W), t (N,) timesteps (float ok), y (N,) labels.

    channels: width per resolution level (len L gives L - 1 downsamplings). attention: per level (default: the
    lowest resolution only). num_res_blocks per level on the way down (one more on the way up, Ho et al.).
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
    ):
        super().__init__()
        channels = tuple(channels)
        L = len(channels)
        attention = tuple(attention) if attention is not None else tuple(i == L - 1 for i in range(L))
        if len(attention) != L:
            raise ValueError(f"attention needs one flag per level ({L}), got {len(attention)}")
        out_channels = in_channels if out_channels is None else out_channels
        c0 = channels[0]
        temb = 4 * c0
        self.time = TimeEmbedding(c0, temb, num_classes)
        self.conv_in = nn.Conv2d(in_channels, c0, 3, padding=1)

        self.down = nn.ModuleList()
        skips = [c0]
        ch = c0
        for i, cout in enumerate(channels):
            for _ in range(num_res_blocks):
                self.down.append(nn.ModuleList([ResBlock(ch, cout, temb, dropout)] +
                                                ([AttnBlock(cout, heads)] if attention[i] else [])))
                ch = cout
                skips.append(ch)
            if i < L - 1:
                self.down.append(nn.ModuleList([nn.Conv2d(ch, ch, 3, stride=2, padding=1)]))
                skips.append(ch)
        self.mid1 = ResBlock(ch, ch, temb, dropout)
        self.mid_attn = AttnBlock(ch, heads)
        self.mid2 = ResBlock(ch, ch, temb, dropout)

        self.up = nn.ModuleList()
        for i in reversed(range(L)):
            cout = channels[i]
            for _ in range(num_res_blocks + 1):
                self.up.append(nn.ModuleList([ResBlock(ch + skips.pop(), cout, temb, dropout)] +
                                             ([AttnBlock(cout, heads)] if attention[i] else [])))
                ch = cout
            if i > 0:
                self.up.append(nn.ModuleList([_Upsample(ch)]))
        self.norm_out = nn.GroupNorm(_groups(ch), ch)
        self.conv_out = nn.Conv2d(ch, out_channels, 3, padding=1)
        nn.init.zeros_(self.conv_out.weight)
        nn.init.zeros_(self.conv_out.bias)

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        if t.dim() == 0:
            t = t.expand(x.shape[0])
        emb = self.time(t, y)
        h = self.conv_in(x)
        hs = [h]
        for blk in self.down:
            h = _apply(blk, h, emb)
            hs.append(h)
        h = self.mid2(self.mid_attn(self.mid1(h, emb)), emb)
        for blk in self.up:
            if isinstance(blk[0], ResBlock):
                skip = hs.pop()
                if skip.shape[-2:] != h.shape[-2:]:
                    h = F.interpolate(h, size=skip.shape[-2:], mode="nearest")
                h = torch.cat([h, skip], dim=1)
            h = _apply(blk, h, emb)
        return self.conv_out(F.silu(self.norm_out(h)))


class _Upsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


def _apply(blk: nn.ModuleList, h: Tensor, emb: Tensor) -> Tensor:
    for m in blk:
        h = m(h, emb) if isinstance(m, ResBlock) else m(h)
    return h
