"""Diagonal Gaussians: KL, entropy, log-density, reparameterization. All in nats, summed over the last dim."""

from __future__ import annotations

import math

import torch
from torch import Tensor

LOG_2PI = math.log(2.0 * math.pi)


def gaussian_kl(mu_q: Tensor, logvar_q: Tensor, mu_p: Tensor | None = None, logvar_p: Tensor | None = None) -> Tensor:
    """KL(N(mu_q, diag e^logvar_q) || N(mu_p, diag e^logvar_p)), summed over the last dimension.

    KL = 1/2 sum_i [ logvar_p - logvar_q + (e^logvar_q + (mu_q - mu_p)^2) / e^logvar_p - 1 ]
    With the standard normal prior (defaults): KL = -1/2 sum_i [1 + logvar_q - mu_q^2 - e^logvar_q]
    (Kingma & Welling 2014, appendix B).

    The variance ratio is computed as e^(logvar_q - logvar_p), never e^logvar_q * e^-logvar_p, so equal large
    log-variances (e.g. 100 in float32, where e^100 overflows) give the exact 0 rather than inf or NaN.
    """
    if mu_p is None:
        mu_p = torch.zeros_like(mu_q)
    if logvar_p is None:
        logvar_p = torch.zeros_like(logvar_q)
    d = logvar_q - logvar_p
    kl = 0.5 * (torch.expm1(d) - d + (mu_q - mu_p).pow(2) * torch.exp(-logvar_p))
    return kl.sum(-1)


def gaussian_entropy(logvar: Tensor) -> Tensor:
    """Differential entropy of N(mu, diag e^logvar): H = 1/2 sum_i (log(2 pi e) + logvar_i)
    (Cover & Thomas 2006, sec. 8.4)."""
    return 0.5 * (LOG_2PI + 1.0 + logvar).sum(-1)


def gaussian_log_prob(x: Tensor, mu: Tensor, logvar: Tensor) -> Tensor:
    """log N(x; mu, diag e^logvar) = -1/2 sum_i [ log 2 pi + logvar_i + (x_i - mu_i)^2 e^-logvar_i ]
    (Bishop 2006, eq. 2.43, with a diagonal covariance)."""
    logvar = torch.as_tensor(logvar, dtype=x.dtype, device=x.device)
    return -0.5 * (LOG_2PI + logvar + (x - mu).pow(2) * torch.exp(-logvar)).sum(-1)


def reparameterize(mu: Tensor, logvar: Tensor, generator: torch.Generator | None = None) -> Tensor:
    """z = mu + e^(logvar/2) * eps, eps ~ N(0, I): a sample whose gradient flows to mu and logvar
    (the reparameterization trick, Kingma & Welling 2014, section 2.4).

    mu and logvar broadcast against each other; the noise has the broadcast shape, so a shared mean with a batch
    of log-variances (or the reverse) still draws independent noise for every element."""
    shape = torch.broadcast_shapes(mu.shape, logvar.shape)
    eps = torch.randn(shape, dtype=torch.promote_types(mu.dtype, logvar.dtype), device=mu.device, generator=generator)
    return mu + torch.exp(0.5 * logvar) * eps
