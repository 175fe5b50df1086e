"""Causal multi-head self-attention over a sequence, with an optional key/value cache (Vaswani et al. 2017).

For tokens h (N, T, C) and `heads` heads of width d = C / heads, one Linear layer gives [q, k, v] = h W_qkv, and each
head m attends only to the positions at or before its own (the causal mask M_ts = 0 for s <= t, -inf otherwise):

    head_m = softmax(q_m k_m^T / sqrt(d) + M) v_m          (Vaswani et al. 2017, section 3.2.1, eq. 1)
    out    = [head_1, ..., head_heads] W_proj

followed by dropout on the output (the residual dropout of GPT-2). With a rotary embedding (genzoo.nn.rotary), q and
k are rotated by their positions before the product. Attention weights are dropped out with probability `dropout`
in training. The product is `F.scaled_dot_product_attention(is_causal=True)` (a fused kernel).

Cache: `forward(x, past)` also returns (k, v) of every position seen so far. Given `past` = the (k, v) of the P
positions before x, the T new queries sit at positions P .. P + T - 1 and attend to all P + T keys up to their own
position, so running a sequence in pieces gives the same outputs as running it whole. Generation feeds one token at
a time (T = 1: every cached key is visible and no mask is needed).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.nn.rotary import RotaryEmbedding

KV = tuple[Tensor, Tensor]


class CausalSelfAttention(nn.Module):
    """Masked multi-head self-attention (N, T, C) -> (N, T, C), by the module docstring."""

    def __init__(self, n_embd: int, n_head: int, dropout: float = 0.0, bias: bool = False,
                 rotary: RotaryEmbedding | None = None):
        super().__init__()
        if n_embd % n_head:
            raise ValueError(f"causal attention: width {n_embd} is not divisible by {n_head} heads")
        self.n_head = n_head
        self.dropout = dropout
        self.qkv = nn.Linear(n_embd, 3 * n_embd, bias=bias)
        self.proj = nn.Linear(n_embd, n_embd, bias=bias)
        self.resid_dropout = nn.Dropout(dropout)
        self.rotary = rotary  # shared between the layers of a model (it holds no parameters)

    def forward(self, x: Tensor, past: KV | None = None) -> tuple[Tensor, KV]:
        n, t, c = x.shape
        q, k, v = self.qkv(x).view(n, t, 3, self.n_head, c // self.n_head).permute(2, 0, 3, 1, 4).unbind(0)
        p = 0 if past is None else past[0].shape[2]  # positions already in the cache
        if self.rotary is not None:
            q, k = self.rotary(q, p), self.rotary(k, p)
        if past is not None:
            k, v = torch.cat([past[0], k], 2), torch.cat([past[1], v], 2)
        drop = self.dropout if self.training else 0.0
        if p == 0:
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop, is_causal=True)
        elif t == 1:  # one new query: every cached key lies at or before it
            y = F.scaled_dot_product_attention(q, k, v, dropout_p=drop)
        else:  # query i (position p + i) sees keys j <= p + i
            mask = torch.ones(t, p + t, dtype=torch.bool, device=x.device).tril(p)
            y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, dropout_p=drop)
        y = y.transpose(1, 2).reshape(n, t, c)
        return self.resid_dropout(self.proj(y)), (k, v)
