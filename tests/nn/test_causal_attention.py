"""genzoo.nn.CausalSelfAttention and RotaryEmbedding against their formulas (docs/models/transformer.md)."""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.nn import CausalSelfAttention, RotaryEmbedding, rotate


def reference_attention(attn: CausalSelfAttention, x, rotary=None, causal=True):
    """softmax(q k^T / sqrt(d) + M) v per head, with M = -inf above the diagonal, written out (no fused kernel)."""
    n, t, c = x.shape
    h = attn.n_head
    q, k, v = attn.qkv(x).split(c, -1)
    q, k, v = (z.view(n, t, h, c // h).transpose(1, 2) for z in (q, k, v))
    if rotary is not None:
        q, k = rotary(q), rotary(k)
    scores = q @ k.transpose(-1, -2) / math.sqrt(c // h)
    mask = torch.ones(t, t, dtype=torch.bool).triu(1) & causal
    y = scores.masked_fill(mask, float("-inf")).softmax(-1) @ v
    return attn.proj(y.transpose(1, 2).reshape(n, t, c))


@pytest.mark.parametrize("use_rotary", [False, True])
def test_attention_is_the_masked_softmax_formula(use_rotary):
    rotary = RotaryEmbedding(4, 16) if use_rotary else None
    attn = CausalSelfAttention(8, 2, rotary=rotary).eval()
    x = torch.randn(3, 7, 8)
    out, (k, v) = attn(x)
    ref = reference_attention(attn, x, rotary)
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=1e-5)
    assert k.shape == v.shape == (3, 2, 7, 4)
    # the wrong variant (no mask) is told apart; they agree at the last position, which sees everything
    wrong = reference_attention(attn, x, rotary, causal=False)
    assert not torch.allclose(out[:, :-1], wrong[:, :-1], atol=1e-4)
    torch.testing.assert_close(out[:, -1], wrong[:, -1], atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("use_rotary", [False, True])
def test_cached_pieces_equal_the_whole_sequence(use_rotary):
    """Running 3 positions, then 1 (the T = 1 branch), then 3 (the masked branch) with the cache = running all 7."""
    rotary = RotaryEmbedding(4, 16) if use_rotary else None
    attn = CausalSelfAttention(8, 2, rotary=rotary).eval()
    x = torch.randn(2, 7, 8)
    whole, _ = attn(x)
    outs, past = [], None
    for a, b in ((0, 3), (3, 4), (4, 7)):
        out, past = attn(x[:, a:b], past)
        outs.append(out)
    torch.testing.assert_close(torch.cat(outs, 1), whole, atol=1e-5, rtol=1e-5)
    assert past[0].shape[2] == 7


def test_rotary_dot_product_depends_only_on_the_offset():
    torch.manual_seed(1)
    rope = RotaryEmbedding(8, 64)
    q, k = torch.randn(8), torch.randn(8)

    def dot(m, n):  # <R_m q, R_n k>
        qm = rope(q.view(1, 1, 1, 8).expand(1, 1, 64, 8))[0, 0, m]
        kn = rope(k.view(1, 1, 1, 8).expand(1, 1, 64, 8))[0, 0, n]
        return float(qm @ kn)

    for offset in (0, 1, 5, -3):
        values = [dot(m, m - offset) for m in range(max(offset, 0), 40, 7)]
        assert max(values) - min(values) < 1e-4, (offset, values)
    assert abs(dot(10, 10) - dot(10, 7)) > 1e-3  # another offset, another product
    # a rotation: norms are kept; and a position-free "embedding" would fail the offset check above
    x = torch.randn(2, 3, 10, 8)
    torch.testing.assert_close(rope(x).norm(dim=-1), x.norm(dim=-1), atol=1e-5, rtol=1e-5)


def test_rotary_is_complex_multiplication_by_e_to_the_i_m_theta():
    """Pairs (i, i + d/2) as z = x_i + j x_{i+d/2}: R_m z = z exp(j m theta_i), theta_i = 10000^(-2i/d)."""
    d, m = 6, 9
    rope = RotaryEmbedding(d, 16)
    x = torch.randn(d, dtype=torch.float64)
    z = torch.complex(x[: d // 2], x[d // 2:])
    theta = 10000.0 ** (-torch.arange(0, d, 2, dtype=torch.float64) / d)
    expected = z * torch.exp(1j * m * theta)
    got = rope(x.float().view(1, 1, 1, d).expand(1, 1, 16, d))[0, 0, m].double()
    torch.testing.assert_close(got, torch.cat([expected.real, expected.imag]), atol=1e-5, rtol=1e-5)
    # the offset argument places rows at later positions
    rows = x.float().view(1, 1, 1, d).expand(1, 1, 3, d)
    torch.testing.assert_close(rope(rows, offset=m)[0, 0, 0], got.float(), atol=1e-6, rtol=1e-6)
    assert rotate(rows, rope.cos[:3], rope.sin[:3]).shape == rows.shape
    with pytest.raises(ValueError):
        rope(rows, offset=14)
