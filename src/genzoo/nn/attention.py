"""Multi-head self-attention over the positions of a feature map (as in the DDPM UNet, Ho et al. 2020).

For x of shape (N, C, H, W), with the H W positions as tokens h_p = GroupNorm(x)[:, :, p] and `heads` heads of
width d = C / heads:

    [q, k, v] = h W_qkv + b_qkv,   head_m = softmax(q_m k_m^T / sqrt(d)) v_m   (Vaswani et al. 2017, eq. 1),
    out = x + [head_1, ..., head_heads] W_proj + b_proj

with W_proj zero-initialised, so a fresh block is the identity. The product is evaluated by
`F.scaled_dot_product_attention` on (N, heads, H W, d) tensors; the projections are Linear layers on (N, H W, C)
tokens, so q, k, v are contiguous in their last dim and the fused CPU kernel is used.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.nn.norm import group_norm


class AttnBlock(nn.Module):
    """Residual multi-head self-attention block: (N, C, H, W) -> (N, C, H, W), by the module docstring."""

    def __init__(self, ch: int, heads: int = 1, groups: int | None = None):
        super().__init__()
        if ch % heads:
            raise ValueError(f"attention: {ch} channels not divisible by {heads} heads")
        self.heads = heads
        self.norm = group_norm(ch, groups)
        self.qkv = nn.Linear(ch, 3 * ch)
        self.proj = nn.Linear(ch, ch)
        nn.init.zeros_(self.proj.weight)
        nn.init.zeros_(self.proj.bias)

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        tokens = self.norm(x).permute(0, 2, 3, 1).reshape(n, h * w, c)
        q, k, v = self.qkv(tokens).view(n, h * w, 3, self.heads, c // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        out = F.scaled_dot_product_attention(q, k, v)  # (n, heads, hw, c / heads)
        out = self.proj(out.transpose(1, 2).reshape(n, h * w, c))
        return x + out.transpose(1, 2).reshape(n, c, h, w)

