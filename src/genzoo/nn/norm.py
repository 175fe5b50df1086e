"""Normalisation layers shared by the families: group norm with a default group count, and ActNorm as a plain layer.

ActNorm (Kingma & Dhariwal 2018, Glow sec. 3.1) is the per-channel affine y = (x - loc) * exp(log_scale) whose
first forward call sets loc = mean and log_scale = -log(std + eps) per channel (over the batch and every position),
so that batch leaves with zero mean and unit variance per channel. The flows family has its own invertible
version with a log-determinant (genzoo.models.flows.ActNorm); this one is a layer inside a network.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn


def default_groups(ch: int, max_groups: int = 32) -> int:
    """Group-norm groups: at most 32, at least 4 channels per group where possible, always a divisor of `ch`."""
    return math.gcd(ch, max(1, min(max_groups, ch // 4)))


def group_norm(ch: int, groups: int | None = None) -> nn.GroupNorm:
    """nn.GroupNorm over `ch` channels with `groups` groups (None: `default_groups(ch)`)."""
    g = default_groups(ch) if groups is None else groups
    if ch % g:
        raise ValueError(f"group norm: {ch} channels not divisible by {g} groups")
    return nn.GroupNorm(g, ch)


class ActNormLayer(nn.Module):
    """y = (x - loc) * exp(log_scale) per channel (dim 1), data-initialised on the first forward call.

    The "initialised" flag is a registered buffer, so it is saved with the weights: a loaded network does not
    re-initialise on its first batch."""

    def __init__(self, channels: int, eps: float = 1e-6):
        super().__init__()
        self.loc = nn.Parameter(torch.zeros(channels))
        self.log_scale = nn.Parameter(torch.zeros(channels))
        self.eps = eps
        self.register_buffer("initialized", torch.tensor(0, dtype=torch.uint8))

    @torch.no_grad()
    def initialize(self, x: Tensor) -> None:
        dims = [d for d in range(x.dim()) if d != 1]
        self.loc.data.copy_(x.mean(dims))
        self.log_scale.data.copy_(-torch.log(x.std(dims, unbiased=False) + self.eps))
        self.initialized.fill_(1)

    def forward(self, x: Tensor) -> Tensor:
        if not bool(self.initialized):
            self.initialize(x)
        shape = (1, -1) + (1,) * (x.dim() - 2)
        return (x - self.loc.view(shape)) * torch.exp(self.log_scale).view(shape)
