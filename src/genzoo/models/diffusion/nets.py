"""Networks of the diffusion family: the UNet for images (genzoo.nn.unet) and a time-conditioned MLP for points."""

from __future__ import annotations

import math

from torch import Tensor, nn

from genzoo.nn.embedding import TimeEmbedding
from genzoo.nn.mlp import mlp
from genzoo.nn.unet import UNet


class ScoreMLP(nn.Module):
    """forward(x, t, y=None) for flat data (N, D): MLP([x, emb(t, y)]) -> (N, out_dim)."""

    def __init__(self, dim: int, out_dim: int, hidden: tuple[int, ...] = (128, 128, 128), temb: int = 64,
                 num_classes: int = 0, act: str = "silu"):
        super().__init__()
        self.time = TimeEmbedding(temb, temb, num_classes)
        self.net = mlp(dim + temb, hidden, out_dim, act=act)

    def forward(self, x: Tensor, t: Tensor, y: Tensor | None = None) -> Tensor:
        import torch

        if t.dim() == 0:
            t = t.expand(x.shape[0])
        return self.net(torch.cat([x.flatten(1), self.time(t, y)], dim=1)).reshape(x.shape[0], -1)


def build_net(data_shape: tuple[int, ...], out_mult: int, cfg) -> nn.Module:
    """A UNet for (C, H, W) data, a ScoreMLP for flat data; `out_mult` output copies (2 for a learned variance)."""
    arch = cfg.net
    if arch == "auto":
        arch = "unet" if len(data_shape) == 3 else "mlp"
    if arch == "unet":
        c = data_shape[0]
        attn = None if cfg.attention is None else tuple(cfg.attention)
        return UNet(c, c * out_mult, cfg.channels, cfg.num_res_blocks, attn, cfg.heads, cfg.dropout, cfg.num_classes,
                    getattr(cfg, "norm_groups", None))
    d = math.prod(data_shape)
    return _Reshape(ScoreMLP(d, d * out_mult, tuple(cfg.hidden), num_classes=cfg.num_classes), data_shape, out_mult)


class _Reshape(nn.Module):
    def __init__(self, net: nn.Module, shape, mult: int):
        super().__init__()
        self.net, self.shape, self.mult = net, tuple(shape), mult

    def forward(self, x, t, y=None):
        out = self.net(x, t, y)
        return out.reshape(x.shape[0], self.mult * self.shape[0], *self.shape[1:])
