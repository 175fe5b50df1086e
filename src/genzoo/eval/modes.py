"""Mode statistics for the mode-collapse lab: `mode_stats(samples, dataset)`.

Toy mixtures (ring8, grid25, 8gaussians), the protocol of VEEGAN / PacGAN (Srivastava et al. 2017; Lin et al.
2018; evaluated on 2,500 samples):
- a sample is *high quality* when it lies within `n_std` (3) standard deviations of its nearest mode's mean;
- a mode is *covered* when at least `min_count` (1) high-quality samples have it as their nearest mode;
- *reverse KL* KL(p_hat || U) = sum_k p_hat_k log(K p_hat_k) of the histogram p_hat of the high-quality samples
  over their nearest modes against the uniform distribution over the K modes (0 log 0 = 0), as in the PacGAN
  evaluation code: 0 for perfect balance, log K when every high-quality sample sits at one mode. With no
  high-quality sample the histogram is undefined and `reverse_kl` is reported as log K (the worst value);
  `reverse_kl_all` is the same divergence for the histogram of every sample's nearest mode.
Stacked MNIST (Metz et al. 2017; PacGAN), 1,000 modes: every channel of a (N, 3, 28, 28) sample is labelled by the
project's MNIST classifier (genzoo.eval.classifier), mode = 100 d0 + 10 d1 + d2; modes covered (>= min_count
samples) and KL(p_hat || U) over the 1,000 modes.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.errors import DataError, unknown_name

TOY_SETS = ("ring8", "grid25", "8gaussians")
STACKED = ("stacked-mnist", "stacked_mnist")


def kl_to_uniform(counts: Tensor | np.ndarray) -> float:
    """KL(p || U_K) in nats for the histogram `counts` over K bins (p = counts / sum)."""
    c = torch.as_tensor(np.asarray(counts), dtype=torch.float64)
    k = c.numel()
    p = c / c.sum().clamp_min(1e-300)
    from genzoo.math import kl_divergence

    return float(kl_divergence(p, torch.full_like(p, 1.0 / k)))


def _dataset_name(dataset: Any) -> str:
    if isinstance(dataset, str):
        return dataset
    name = getattr(dataset, "name", None)
    if isinstance(name, str):
        return name
    raise DataError(f"mode_stats: dataset must be a name ({', '.join(TOY_SETS + STACKED[:1])}) or a data set with "
                    f".name, got {type(dataset).__name__}")


def toy_modes(name: str) -> tuple[Tensor, float]:
    """(means (K, 2), std) of a toy mixture, from genzoo.data."""
    from genzoo.data.toy import toy2d_modes

    m = toy2d_modes(name)
    return m.means.double(), float(m.std)


def mode_stats_points(samples: Tensor, means: Tensor, std: float, n_std: float = 3.0,
                      min_count: int = 1) -> dict[str, Any]:
    """Mode statistics of 2-D samples against given mixture means and std (see the module docstring)."""
    x = torch.as_tensor(samples).detach().double().cpu()
    if x.dim() != 2 or x.shape[1] != means.shape[1]:
        raise DataError(f"mode_stats: expected samples of shape (N, {means.shape[1]}), got {tuple(x.shape)}")
    if not torch.isfinite(x).all():
        finite = torch.isfinite(x).all(1)
        x = torch.where(finite[:, None], x, torch.full_like(x, 1e30))
    k = means.shape[0]
    d = torch.cdist(x, means.double())
    dist, nearest = d.min(1)
    hq = dist <= n_std * std
    hq_counts = torch.bincount(nearest[hq], minlength=k)
    all_counts = torch.bincount(nearest, minlength=k)
    n = x.shape[0]
    return {
        "n_samples": n,
        "n_modes": k,
        "modes_covered": int((hq_counts >= min_count).sum()),
        "high_quality_pct": 100.0 * float(hq.double().mean()) if n else 0.0,
        "reverse_kl": kl_to_uniform(hq_counts) if int(hq_counts.sum()) else math.log(k),
        "reverse_kl_all": kl_to_uniform(all_counts) if n else math.log(k),
        "counts": hq_counts.tolist(),
    }


def stacked_mnist_modes(samples: Tensor, classifier=None) -> Tensor:
    """Mode index 100 d0 + 10 d1 + d2 (int64, (N,)) of (N, 3, 28, 28) samples in [0, 1]."""
    from genzoo.eval.classifier import classify_digits

    x = torch.as_tensor(samples).detach().float().cpu()
    if x.dim() != 4 or tuple(x.shape[1:]) != (3, 28, 28):
        raise DataError(f"mode_stats: stacked MNIST samples must have shape (N, 3, 28, 28), got {tuple(x.shape)}")
    digits = classify_digits(x.reshape(-1, 1, 28, 28), classifier=classifier).view(-1, 3)
    return digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]


def mode_stats(samples: Tensor, dataset: Any, *, n_std: float = 3.0, min_count: int = 1,
               classifier=None) -> dict[str, Any]:
    """Mode coverage of `samples` for `dataset` ("ring8", "grid25", "8gaussians", "stacked-mnist", or a data set
    whose .name is one of them). Returns a dict with n_samples, n_modes, modes_covered, reverse_kl, counts, and
    (toy sets) high_quality_pct. The protocols are in the module docstring."""
    name = _dataset_name(dataset)
    if name in TOY_SETS:
        means, std = toy_modes(name)
        out = mode_stats_points(samples, means, std, n_std, min_count)
    elif name in STACKED:
        modes = stacked_mnist_modes(samples, classifier)
        counts = torch.bincount(modes, minlength=1000)
        out = {"n_samples": int(modes.numel()), "n_modes": 1000,
               "modes_covered": int((counts >= min_count).sum()),
               "reverse_kl": kl_to_uniform(counts) if modes.numel() else float("nan"),
               "counts": counts.tolist()}
    else:
        raise unknown_name("mode-statistics data set", name, TOY_SETS + STACKED[:1])
    out["dataset"] = name
    out["max_kl"] = math.log(out["n_modes"])
    return out
