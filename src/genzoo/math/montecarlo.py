"""Monte Carlo estimation: log-mean-exp and friends."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def log_mean_exp(x: Tensor, dim: int = -1, keepdim: bool = False) -> Tensor:
    """log( 1/n sum_i exp(x_i) ) along `dim`, stably: logsumexp(x) - log n."""
    return torch.logsumexp(x, dim=dim, keepdim=keepdim) - math.log(x.shape[dim])
