"""k-means++ seeding (Arthur & Vassilvitskii 2007, "k-means++: The Advantages of Careful Seeding", section 2.2).

    c_1 ~ uniform over the points x_1..x_N
    c_j ~ P(x_n) = D(x_n)^2 / sum_m D(x_m)^2,    D(x) = min_{i < j} ||x - c_i||     (j = 2..k)

Each draw uses the given `torch.Generator`, so the centres are a pure function of (x, k, seed). This is the plain
algorithm (one candidate per draw), not scikit-learn's greedy variant with 2 + log k trials per draw.
"""

from __future__ import annotations

import torch
from torch import Tensor

from genzoo.errors import DataError


def kmeans_plusplus(x: Tensor, k: int, generator: torch.Generator | None = None) -> Tensor:
    """k centres (k, D), rows of x (N, D), by D^2 sampling. Points equal to a chosen centre have D = 0 and are
    never chosen again, unless every point is already a centre's copy (then the draw is uniform)."""
    n = x.shape[0]
    if n < k:
        raise DataError(f"k-means++: {n} points for {k} centres (need at least {k})")
    first = int(torch.randint(n, (1,), generator=generator))
    centres = [x[first]]
    d2 = (x - x[first]).pow(2).sum(1)
    for _ in range(1, k):
        total = d2.sum()
        w = d2 / total if total > 0 else torch.full_like(d2, 1.0 / n)
        i = int(torch.multinomial(w.double(), 1, generator=generator))
        centres.append(x[i])
        d2 = torch.minimum(d2, (x - x[i]).pow(2).sum(1))
    return torch.stack(centres)


def nearest(x: Tensor, centres: Tensor) -> Tensor:
    """Index (N,) of the nearest centre of each point (squared Euclidean distance, ties to the lowest index)."""
    return torch.cdist(x, centres).argmin(1)
