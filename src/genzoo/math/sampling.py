"""Choosing the next token from logits: temperature, top-k, top-p (nucleus), as small pure functions.

For logits l (N, V) of p(x_t | x_<t) = softmax(l):

    temperature tau   softmax(l / tau): tau = 1 is the model's distribution, tau -> 0 concentrates on the argmax
                      (tau = 0 exactly is greedy decoding, argmax l, ties to the lowest id), tau > 1 flattens it.
    top-k             keep the k largest logits (exactly k; ties broken by torch.topk), the rest get -inf
                      (Fan et al. 2018, "Hierarchical Neural Story Generation").
    top-p             keep the smallest set of most likely tokens whose probability mass reaches p (>= p), the rest
                      get -inf (Holtzman et al. 2020, "The Curious Case of Neural Text Degeneration", section 3.1).
                      Tokens are ranked by a stable sort, so among tied probabilities the lowest ids enter first;
                      p = 1 keeps every token.

`filter_logits` applies them in that order (temperature, then top-k, then top-p on the distribution that the first
two left), and `sample_next` draws from the softmax of the result with an optional seeded `torch.Generator`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genzoo.errors import ConfigError


def check_sampling(temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None) -> None:
    """ConfigError unless tau >= 0, top_k >= 1 and 0 < top_p <= 1 (the domains of Fan et al. 2018 and Holtzman
    et al. 2020)."""
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0:
        raise ConfigError(f"temperature must be a number >= 0 (0: greedy), got {temperature!r}")
    if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
        raise ConfigError(f"top_k must be an integer >= 1 (or None: off), got {top_k!r}")
    if top_p is not None and (isinstance(top_p, bool) or not isinstance(top_p, (int, float)) or not 0 < top_p <= 1):
        raise ConfigError(f"top_p must lie in (0, 1] (or None: off), got {top_p!r}")


def top_k_filter(logits: Tensor, k: int) -> Tensor:
    """Logits with every entry outside the k largest of each row set to -inf (k >= V: unchanged):
    l'_i = l_i if l_i is among the k largest, else -inf (Fan et al. 2018)."""
    if k >= logits.shape[-1]:
        return logits
    values, index = logits.topk(k, dim=-1)
    return torch.full_like(logits, float("-inf")).scatter(-1, index, values)


def top_p_filter(logits: Tensor, p: float) -> Tensor:
    """Logits with -inf outside the smallest set S of most likely tokens whose softmax mass reaches p:
    sum_{i in S} softmax(l)_i >= p (Holtzman et al. 2020)."""
    if p >= 1:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True, stable=True)
    probs = sorted_logits.softmax(-1)
    mass_before = probs.cumsum(-1) - probs  # mass of the strictly more likely tokens (rank order)
    drop_sorted = mass_before >= p  # the set has already reached p without this token
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def filter_logits(logits: Tensor, temperature: float = 1.0, top_k: int | None = None,
                  top_p: float | None = None) -> Tensor:
    """Temperature (> 0), then top-k, then top-p, by the module docstring: l' = top_p(top_k(l / tau)) (Holtzman et al.
    2020 apply the nucleus to the tempered distribution)."""
    logits = logits / temperature
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return logits


def sample_next(logits: Tensor, temperature: float = 1.0, top_k: int | None = None, top_p: float | None = None,
                generator: torch.Generator | None = None) -> Tensor:
    """One token id per row of logits (N, V) -> (N,) int64: greedy at temperature 0 (x = argmax l), else a draw
    x ~ softmax(filter_logits(l)) (Holtzman et al. 2020)."""
    if temperature == 0:
        return logits.argmax(-1)
    probs = filter_logits(logits.float(), temperature, top_k, top_p).softmax(-1)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)
