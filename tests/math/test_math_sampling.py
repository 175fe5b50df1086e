"""The next-token filters of genzoo.math.sampling: temperature, top-k, top-p, and their order."""

from __future__ import annotations

import math

import pytest
import torch
from scipy import stats

from genzoo.math.sampling import filter_logits, sample_next, top_k_filter, top_p_filter


def kept(logits: torch.Tensor) -> set[int]:
    return set(torch.isfinite(logits).nonzero().reshape(-1).tolist())


def test_greedy_at_temperature_zero_and_its_limit():
    logits = torch.randn(200, 7) * 3
    assert torch.equal(sample_next(logits, 0), logits.argmax(-1))
    g = torch.Generator().manual_seed(0)
    assert torch.equal(sample_next(logits, 1e-6, generator=g), logits.argmax(-1))
    ties = torch.tensor([[1.0, 3.0, 3.0, 0.0]])
    assert sample_next(ties, 0).item() == 1  # ties: the lowest id
    assert not torch.equal(sample_next(logits, 1.0, generator=g), logits.argmax(-1))


def test_top_k_never_leaves_the_k_most_likely():
    torch.manual_seed(0)
    logits = torch.randn(50, 10)
    top3 = logits.topk(3, -1).indices
    g = torch.Generator().manual_seed(0)
    draws = torch.stack([sample_next(logits, 1.0, top_k=3, generator=g) for _ in range(200)], 1)  # (50, 200)
    assert (draws[:, :, None] == top3[:, None, :]).any(-1).all()
    # every one of the k is drawn (a filter keeping fewer would fail): probabilities 0.42, 0.34, 0.25 among them
    row = torch.tensor([[2.0, 1.8, 1.5, 1.4, 0.0, -1.0]])
    d = torch.cat([sample_next(row, 1.0, top_k=3, generator=g) for _ in range(400)])
    assert set(d.tolist()) == {0, 1, 2}
    assert kept(top_k_filter(row, 3)[0]) == {0, 1, 2}
    assert torch.equal(top_k_filter(row, 6), row) and torch.equal(top_k_filter(row, 99), row)
    assert len(kept(top_k_filter(torch.zeros(1, 5), 2)[0])) == 2  # exactly k, also among ties


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = torch.tensor([0.1, 0.5, 0.05, 0.3, 0.05])  # ranked: 1 (0.5), 3 (0.8), 0 (0.9), 2 / 4 (0.95, 1.0)
    logits = probs.log()[None]
    for p, expected in [(0.3, {1}), (0.49, {1}), (0.51, {1, 3}), (0.79, {1, 3}), (0.81, {1, 3, 0}),
                        (0.89, {1, 3, 0}), (0.91, {1, 3, 0, 2}), (0.96, {0, 1, 2, 3, 4}), (1.0, {0, 1, 2, 3, 4})]:
        assert kept(top_p_filter(logits, p)[0]) == expected, p
    # ties: four equal tokens, p = 0.6 needs three of them (the lowest ids, by the stable ranking), not all four
    tied = torch.tensor([[0.0, 0.0, 0.0, 0.0, -50.0]])
    assert kept(top_p_filter(tied, 0.6)[0]) == {0, 1, 2}
    assert kept(top_p_filter(tied, 0.24)[0]) == {0}
    # the most likely token is always kept, also for a tiny p; kept logits are unchanged
    out = top_p_filter(logits, 1e-9)
    assert kept(out[0]) == {1} and out[0, 1] == logits[0, 1]
    # rows are filtered independently
    two = torch.stack([logits[0], logits[0].flip(0)])
    assert [kept(r) for r in top_p_filter(two, 0.79)] == [{1, 3}, {3, 1}]


def test_filters_apply_temperature_then_top_k_then_top_p():
    logits = torch.tensor([[math.log(0.6), math.log(0.3), math.log(0.1)]])
    assert kept(filter_logits(logits, 1.0, top_p=0.7)[0]) == {0, 1}
    # temperature first: at tau = 0.25 token 0 has 0.6^4 / (0.6^4 + 0.3^4 + 0.1^4) = 0.94 >= 0.7 alone
    assert kept(filter_logits(logits, 0.25, top_p=0.7)[0]) == {0}
    # top-p on what top-k left: after top-2 the mass is renormalised to (2/3, 1/3), so p = 0.65 keeps token 0 only
    assert kept(filter_logits(logits, 1.0, top_k=2, top_p=0.65)[0]) == {0}
    assert kept(filter_logits(logits, 1.0, top_p=0.65)[0]) == {0, 1}


@pytest.mark.parametrize("temperature, top_k", [(1.0, None), (0.5, None), (1.0, 2), (2.0, 3)])
def test_draws_match_the_filtered_softmax(temperature, top_k):
    """20,000 draws against softmax(filter(logits)): chi-square at the 0.1 % level; the unfiltered softmax at
    temperature 1 (a wrong answer where a filter is on) fails it."""
    logits = torch.tensor([1.0, 0.3, -0.4, -1.0])
    n = 20_000
    g = torch.Generator().manual_seed(0)
    draws = sample_next(logits.expand(n, -1), temperature, top_k, generator=g)
    counts = torch.bincount(draws, minlength=4).double()
    p = filter_logits(logits[None], temperature, top_k).softmax(-1)[0].double()
    support = p > 0
    assert (counts[~support] == 0).all()
    chi2 = ((counts - n * p)[support] ** 2 / (n * p[support])).sum()
    assert chi2 < stats.chi2.ppf(0.999, int(support.sum()) - 1)
    if (temperature, top_k) != (1.0, None):
        q = logits.softmax(-1).double()
        assert ((counts - n * q) ** 2 / (n * q)).sum() > stats.chi2.ppf(0.999, 3)
