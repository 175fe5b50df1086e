"""Likelihood units: the one audited conversion from nats to bits per dimension."""

from __future__ import annotations

import math

import torch
from torch import Tensor


def bits_per_dim(nll_nats: Tensor | float, num_dims: int, n_bins: int = 256) -> Tensor:
    """Bits per dimension of a negative log-likelihood in nats.

    For 8-bit data dequantized as x = (k + u) / 256, u ~ U[0, 1), a density p on [0, 1)^D relates to the
    density on the integer scale [0, 256)^D by p_256(k + u) = p(x) / 256^D, so

        bpd = ( NLL / D + ln(n_bins) ) / ln 2            (Theis et al. 2016; Dinh et al. 2017, sec. 4.1)

    where NLL = -ln p(x) in nats on [0, 1)^D. A model uniform on [0, 1)^D has NLL = 0 and scores exactly
    log2(256) = 8. For a probability mass function over the data's own values (binary or categorical
    decoders, autoregressive models over 256 levels) pass n_bins=1: bpd = NLL / (D ln 2).
    A preprocessing map (logit, scaling) must already have added its log-determinant to the NLL.
    """
    if num_dims <= 0:
        raise ValueError(f"num_dims must be positive, got {num_dims}")
    if n_bins <= 0:
        raise ValueError(f"n_bins must be positive, got {n_bins}")
    nll = torch.as_tensor(nll_nats)
    if not nll.is_floating_point():
        nll = nll.double()
    return (nll / num_dims + math.log(n_bins)) / math.log(2.0)
