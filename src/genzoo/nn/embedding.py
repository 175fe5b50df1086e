"""Sinusoidal time embedding of diffusion networks and its MLP.

Transformer positional encoding (Vaswani et al. 2017, sec. 3.5) applied to a (possibly fractional) timestep t,
as in the DDPM UNet (Ho et al. 2020, appendix B), with half = dim // 2 frequencies:

    emb[:, i] = sin(t w_i),   emb[:, half + i] = cos(t w_i),   w_i = max_period^(-i / half),   0 <= i < half

(sines first, then cosines; an odd `dim` gets one zero column at the end). The frequencies run geometrically from
1 down to max_period^(-(half - 1) / half); Vaswani's 10000^(-2i / d) is the same w_i with d = dim.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """(N,) timesteps -> (N, dim) float32 embedding, by the formula in the module docstring."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.sin(args), torch.cos(args)], dim=1)
    if dim % 2:
        emb = F.pad(emb, (0, 1))
    return emb


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
