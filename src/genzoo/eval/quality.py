"""Sample-quality metrics on feature sets: KID, precision / recall / density / coverage, and the Inception score.

KID (Binkowski et al. 2018, "Demystifying MMD GANs", sec. 3): the unbiased estimate of MMD^2 between real and
generated features with the cubic polynomial kernel k(x, y) = (x . y / d + 1)^3 (`genzoo.math.mmd`, kernel "poly"),
averaged over `subsets` random subsets of `subset_size` points of each set (at most half of the smaller set, so
that the subsets differ); "se" is the standard deviation of the
subset estimates (the uncertainty of one estimate at that subset size, as torch-fidelity reports it). Unbiased, so
two samples of one distribution give values scattered around 0, negative ones included.

PRDC with k-nearest-neighbour balls, r_k(z) = the distance from z to its k-th nearest neighbour in its own set:

    precision = 1/M sum_j 1[exists i: |y_j - x_i| < r_k(x_i)]      (Kynkaanniemi et al. 2019)
    recall    = 1/N sum_i 1[exists j: |x_i - y_j| < r_k(y_j)]
    density   = 1/(k M) sum_j sum_i 1[|y_j - x_i| < r_k(x_i)]       (Naeem et al. 2020)
    coverage  = 1/N sum_i 1[min_j |x_i - y_j| < r_k(x_i)]

for real x_1..x_N and fake y_1..y_M. Precision and density ask whether samples land where data are; recall and
coverage whether the data's support is reached. The protocol of `sample_metrics`: k = 3 for precision / recall,
k = 5 for density / coverage, as in the two papers.

Inception score (Salimans et al. 2016) with a classifier's p(y | x): IS = exp(E_x KL(p(y|x) || p(y))), p(y) the
mean prediction, on `splits` equal parts; mean and standard deviation over the parts. 1 for a classifier that is
unsure of every sample, the number of classes for confident, balanced predictions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.errors import DataError
from genzoo.math.divergences import mmd


def _as2d(a: Tensor | np.ndarray, name: str) -> Tensor:
    t = torch.as_tensor(np.asarray(a) if not isinstance(a, Tensor) else a).detach().double().cpu()
    if t.dim() != 2 or len(t) < 2:
        raise DataError(f"{name}: expected features (N, D) with N >= 2, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise DataError(f"{name}: features contain NaN or inf")
    return t


def kid(real_feats: Tensor, fake_feats: Tensor, subsets: int = 100, subset_size: int = 1000,
        seed: int = 0) -> dict[str, Any]:
    """Kernel inception distance (module docstring): {"value", "se", "subsets", "subset_size", "kernel"}."""
    x, y = _as2d(real_feats, "kid real"), _as2d(fake_feats, "kid fake")
    if x.shape[1] != y.shape[1]:
        raise DataError(f"kid: real and fake features differ in size ({x.shape[1]} vs {y.shape[1]})")
    m = int(min(subset_size, min(len(x), len(y)) // 2))  # at most half of each set, so the subsets differ
    if m < 2 or subsets < 1:
        raise DataError(f"kid: needs subset_size >= 2 and subsets >= 1, got {m} and {subsets}")
    g = torch.Generator().manual_seed(seed)
    vals = torch.stack([mmd(x[torch.randperm(len(x), generator=g)[:m]], y[torch.randperm(len(y), generator=g)[:m]],
                            kernel="poly") for _ in range(subsets)])
    se = float(vals.std()) if subsets > 1 else float("nan")
    return {"value": float(vals.mean()), "se": se, "subsets": subsets, "subset_size": m, "kernel": "poly3"}


def _kth_radius(z: Tensor, k: int) -> Tensor:
    """Distance from each row of z to its k-th nearest other row."""
    d = torch.cdist(z, z)
    return d.kthvalue(k + 1, dim=1).values  # the 1st smallest is the point itself (distance 0)


def prdc(real: Tensor, fake: Tensor, k: int = 5) -> dict[str, Any]:
    """Precision, recall, density and coverage with k-NN balls (module docstring)."""
    x, y = _as2d(real, "prdc real"), _as2d(fake, "prdc fake")
    if x.shape[1] != y.shape[1]:
        raise DataError(f"prdc: real and fake features differ in size ({x.shape[1]} vs {y.shape[1]})")
    if not 1 <= k < min(len(x), len(y)):
        raise DataError(f"prdc: k must be in [1, {min(len(x), len(y)) - 1}] for these sets, got {k}")
    c = torch.cat([x, y]).mean(0, keepdim=True)  # centring keeps cdist accurate far from the origin
    x, y = x - c, y - c
    rx, ry = _kth_radius(x, k), _kth_radius(y, k)
    d = torch.cdist(x, y)  # (N, M): real i, fake j
    inside_real = d < rx[:, None]  # fake j inside real i's ball
    return {"precision": float(inside_real.any(0).double().mean()),
            "recall": float((d < ry[None, :]).any(1).double().mean()),
            "density": float(inside_real.double().sum(0).mean() / k),
            "coverage": float((d.min(1).values < rx).double().mean()), "k": k}


def inception_score(probs_or_images: Tensor, splits: int = 10) -> dict[str, Any]:
    """IS of class probabilities (N, K) or of MNIST images (N, 1, 28, 28) under the project's classifier."""
    p = torch.as_tensor(probs_or_images)
    if p.dim() == 4 or (p.dim() == 3 and tuple(p.shape[1:]) == (28, 28)):
        from genzoo.eval.classifier import _check, load_mnist_classifier

        x = _check(p)
        clf = load_mnist_classifier(x.device)
        with torch.no_grad():
            p = torch.cat([torch.softmax(clf(x[i:i + 500]), 1) for i in range(0, len(x), 500)])
    p = p.detach().double().cpu()
    if p.dim() != 2 or (p < 0).any() or not torch.allclose(p.sum(1), torch.ones(len(p), dtype=p.dtype), atol=1e-4):
        raise DataError("inception_score: expected probabilities (N, K) whose rows sum to 1, or MNIST images")
    splits = max(1, min(int(splits), len(p)))
    scores = []
    for part in p.chunk(splits):
        py = part.mean(0, keepdim=True)
        kl = (part * (torch.log(part.clamp_min(1e-300)) - torch.log(py.clamp_min(1e-300)))).sum(1).mean()
        scores.append(math.exp(float(kl)))
    s = torch.tensor(scores, dtype=torch.float64)
    return {"value": float(s.mean()), "se": float(s.std()) if len(s) > 1 else float("nan"), "splits": len(s)}
