"""Annealed importance sampling (Neal 2001) for ratios of normalising constants.

Intermediate unnormalised densities f_beta, beta_0 < ... < beta_K (or the reverse), are joined by transitions
T_beta that leave f_beta invariant. A run starts from x_0 ~ p_{beta_0} (exactly) and accumulates

    log w = sum_{k=1..K} [ log f_{beta_k}(x_{k-1}) - log f_{beta_{k-1}}(x_{k-1}) ],   x_k ~ T_{beta_k}(x_{k-1}, .)

so that E[w] = Z_{beta_K} / Z_{beta_0} (Neal 2001, sec. 2). Over n independent runs the estimate is

    log r = log mean_i w_i                   (unbiased in w; E[log r] <= log Z_K / Z_0 by Jensen)
    se(log r) = std(w) / (sqrt(n) mean(w))   (delta method on the weights)

and mean_i log w_i <= log r is the lower-bound form (E[log w] <= log Z_K / Z_0, Jensen). Run from exact samples of
p_{beta_K} down to beta_0 (reverse AIS, Burda, Grosse & Salakhutdinov 2015), the same estimator gives
log Z_0 / Z_K, hence a stochastic upper bound on log Z_K: the pair brackets log Z in expectation.
Salakhutdinov & Murray (2008) use this with a geometric path between a base-rate RBM and the target RBM.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

LogDensity = Callable[[Tensor, float], Tensor]
Transition = Callable[[Tensor, float, "torch.Generator | None"], Tensor]


class AISResult(NamedTuple):
    log_ratio: Tensor  # log mean_i w_i, the estimate of log Z_{beta_K} / Z_{beta_0}
    stderr: Tensor  # delta-method standard error of log_ratio
    lower: Tensor  # mean_i log w_i (<= log Z_K / Z_0 in expectation, Jensen)
    log_w: Tensor  # (n,) log importance weights of the runs
    ess: Tensor  # effective sample size of the weights
    x: Tensor  # (n, ...) final states (approximate samples of p_{beta_K})


def log_mean_exp_stderr(log_w: Tensor) -> tuple[Tensor, Tensor]:
    """(log mean_i w_i, std(w) / (sqrt(n) mean(w))) from log-weights (n,), stably: with normalised weights
    u_i = w_i / sum_j w_j, std(w) / mean(w) = n std(u), so se = sqrt(n) std(u) (delta method; Owen 2013, sec. 9.2)."""
    n = log_w.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 runs for a standard error, got {n}")
    log_mean = torch.logsumexp(log_w, 0) - math.log(n)
    u = torch.softmax(log_w, 0)
    return log_mean, math.sqrt(n) * u.std(0, unbiased=True)


def geometric_betas(n: int, dtype: torch.dtype = torch.float64) -> Tensor:
    """n + 1 inverse temperatures from 0 to 1 with the spacing of Salakhutdinov & Murray (2008): uniform steps of
    1e-3 up to 0.5, 1e-4 up to 0.9, 1e-5 up to 1 (500 + 4,000 + 10,000 = 14,500), here scaled to n intervals in the
    same proportions (n = 14,500 reproduces the paper's schedule)."""
    if n < 1:
        raise ValueError(f"need at least one annealing step, got {n}")
    parts = ((0.5, 500), (0.4, 4000), (0.1, 10000))
    counts = [max(1, round(n * c / 14500)) for _, c in parts]
    counts[-1] = max(1, n - sum(counts[:-1]))
    pieces, start = [torch.zeros(1, dtype=dtype)], 0.0
    for (width, _), c in zip(parts, counts):
        pieces.append(start + width * torch.arange(1, c + 1, dtype=dtype) / c)
        start += width
    betas = torch.cat(pieces)
    betas[-1] = 1.0
    return betas


def annealed_importance_sampling(
    x0: Tensor,
    log_f: LogDensity,
    transition: Transition,
    betas: Sequence[float] | Tensor,
    generator: torch.Generator | None = None,
) -> AISResult:
    """AIS (Neal 2001) from exact samples `x0` of p_{betas[0]} along `betas` (increasing: forward; decreasing:
    reverse): log w = sum_k log f_{beta_k}(x_{k-1}) - log f_{beta_{k-1}}(x_{k-1}), E[w] = Z_{beta_K} / Z_{beta_0}.

    `log_f(x, beta)` is log f_beta per run, shape (n,); `transition(x, beta, generator)` one Markov step that
    leaves f_beta invariant. Returns AISResult with the estimate of log Z_{betas[-1]} / Z_{betas[0]} (see the
    module docstring). No transition is applied after the last beta.
    """
    b = [float(v) for v in (betas.tolist() if isinstance(betas, Tensor) else betas)]
    if len(b) < 2:
        raise ValueError(f"need at least two inverse temperatures, got {len(b)}")
    x = x0
    log_w = torch.zeros(x.shape[0], dtype=torch.float64, device=x.device)
    for k in range(1, len(b)):
        log_w += (log_f(x, b[k]) - log_f(x, b[k - 1])).double()
        if k < len(b) - 1:
            x = transition(x, b[k], generator)
    log_ratio, se = log_mean_exp_stderr(log_w)
    ess = torch.exp(2 * torch.logsumexp(log_w, 0) - torch.logsumexp(2 * log_w, 0))
    return AISResult(log_ratio, se, log_w.mean(), log_w, ess, x)
