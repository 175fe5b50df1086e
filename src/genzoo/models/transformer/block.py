"""The pre-norm transformer block of GPT-2 (Radford et al. 2019, section 2.3; Vaswani et al. 2017, section 3.1).

    h = h + Attention(LayerNorm(h))          causal multi-head self-attention (genzoo.nn.CausalSelfAttention)
    h = h + MLP(LayerNorm(h))                MLP(u) = Dropout(W_2 GELU(W_1 u)), W_1: C -> 4C, W_2: 4C -> C

Layer normalisation comes before each sub-layer (GPT-2 moved it there from the original post-norm block), so the
residual stream h is a sum of the sub-layers' outputs and the model ends with one more LayerNorm.
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.nn import CausalSelfAttention, RotaryEmbedding
from genzoo.nn.causal_attention import KV


class MLP(nn.Module):
    """Position-wise feed-forward layer C -> 4C -> C with GELU, then dropout."""

    def __init__(self, n_embd: int, dropout: float = 0.0, bias: bool = False):
        super().__init__()
        self.fc = nn.Linear(n_embd, 4 * n_embd, bias=bias)
        self.proj = nn.Linear(4 * n_embd, n_embd, bias=bias)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.proj(F.gelu(self.fc(x))))


class Block(nn.Module):
    """One pre-norm block; `forward(h, past)` -> (h, the attention's (k, v) cache)."""

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, bias: bool = False,
                 rotary: RotaryEmbedding | None = None):
        super().__init__()
        self.ln_1 = nn.LayerNorm(n_embd, bias=bias)
        self.attn = CausalSelfAttention(n_embd, n_head, dropout, bias, rotary)
        self.ln_2 = nn.LayerNorm(n_embd, bias=bias)
        self.mlp = MLP(n_embd, dropout, bias)

    def forward(self, h: Tensor, past: KV | None = None) -> tuple[Tensor, KV]:
        a, present = self.attn(self.ln_1(h), past)
        h = h + a
        return h + self.mlp(self.ln_2(h)), present
