"""Rotary position embedding (RoPE; Su et al. 2021, "RoFormer", section 3.4, eq. 34).

A query or key vector x of even width d at position m is rotated, pair of coordinates by pair, by the angles
m theta_i with theta_i = base^(-2i / d), i = 0 .. d/2 - 1:

    x_i       -> x_i cos(m theta_i) - x_{i + d/2} sin(m theta_i)
    x_{i+d/2} -> x_i sin(m theta_i) + x_{i + d/2} cos(m theta_i)

Writing the pairs as complex numbers z_i = x_i + j x_{i + d/2}, the rotation is z_i e^{j m theta_i}, so for a query
at position m and a key at position n

    <R_m q, R_n k> = Re sum_i q_i conj(k_i) e^{j (m - n) theta_i}

depends on the positions only through the offset m - n (the relative-position property the tests check). The pairs
are (i, i + d/2) rather than the paper's (2i, 2i + 1): the same rotation up to a fixed permutation of the
coordinates, and two contiguous halves instead of strided ones. The tables cos(m theta_i) and sin(m theta_i) are
computed once (float64, then stored as float32) for `max_positions` positions; they are buffers that are not saved
(a model rebuilds them from its config).
"""

from __future__ import annotations

import torch
from torch import Tensor, nn


def rotate(x: Tensor, cos: Tensor, sin: Tensor) -> Tensor:
    """Rotate the coordinate pairs (i, i + d/2) of x (..., T, d) by the angles whose cos / sin are (T, d/2)."""
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([x1 * cos - x2 * sin, x1 * sin + x2 * cos], dim=-1)


class RotaryEmbedding(nn.Module):
    """RoPE for heads of width `dim` (even) at positions 0 .. max_positions - 1: `forward(x, offset)` rotates
    x (N, heads, T, dim) as if its T rows sat at positions offset .. offset + T - 1."""

    def __init__(self, dim: int, max_positions: int, base: float = 10000.0):
        super().__init__()
        if dim % 2:
            raise ValueError(f"rotary embedding: the head width must be even, got {dim}")
        self.dim, self.max_positions = dim, max_positions
        inv_freq = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)  # theta_i
        angles = torch.arange(max_positions, dtype=torch.float64)[:, None] * inv_freq[None]  # m theta_i
        self.register_buffer("cos", angles.cos().float(), persistent=False)
        self.register_buffer("sin", angles.sin().float(), persistent=False)

    def forward(self, x: Tensor, offset: int = 0) -> Tensor:
        t = x.shape[-2]
        if offset + t > self.max_positions:
            raise ValueError(f"rotary embedding: positions up to {offset + t - 1}, table has {self.max_positions}")
        return rotate(x, self.cos[offset:offset + t].to(x.dtype), self.sin[offset:offset + t].to(x.dtype))
