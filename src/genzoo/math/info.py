"""Information theory of discrete distributions: entropy, cross-entropy, KL, JSD, mutual information, capacity.

Distributions are probability tensors over the last dimension (a joint table over the last two for
`mutual_information` and a transition matrix p(y|x) for `channel_capacity`), batched over any leading dims.
Results are in nats; `base=2` gives bits, any other base b divides by ln b. By convention 0 log 0 = 0.
Inputs are checked: a negative entry or a row that does not sum to 1 raises ValueError naming the worst offender.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

_SUM_TOL = {torch.float64: 1e-6, torch.float32: 1e-4}


def _log_base(base: float | None) -> float:
    if base is None:
        return 1.0
    if base <= 0 or base == 1:
        raise ValueError(f"base must be positive and not 1, got {base}")
    return math.log(base)


def _as_prob(p: Tensor | object, name: str, dims: int = 1) -> Tensor:
    """Validate that `p` is a probability tensor over its last `dims` dimensions and return it as floating point."""
    p = torch.as_tensor(p)
    if not p.is_floating_point():
        p = p.double()
    if p.dim() < dims:
        raise ValueError(f"{name} must have at least {dims} dimension(s), got shape {tuple(p.shape)}")
    if not torch.isfinite(p).all():
        raise ValueError(f"{name} contains NaN or inf")
    if (p < 0).any():
        raise ValueError(f"{name} has negative entries (most negative: {p.min().item():.6g})")
    sums = p.flatten(-dims).sum(-1) if dims > 1 else p.sum(-1)
    dev = (sums - 1).abs()
    tol = _SUM_TOL.get(p.dtype, 1e-2)
    if (dev > tol).any():
        worst = sums.flatten()[dev.flatten().argmax()].item()
        over = "the last dimension" if dims == 1 else f"the last {dims} dimensions"
        raise ValueError(
            f"{name} does not sum to 1 over {over}: a sum of {worst:.6g} deviates by {abs(worst - 1):.3g} "
            f"(tolerance {tol:g})"
        )
    return p


def _xlogy(x: Tensor, y: Tensor) -> Tensor:
    """x log y with 0 log y = 0 (also for y = 0); x > 0, y = 0 gives -inf."""
    return torch.special.xlogy(x, y)


def entropy(p: Tensor, base: float | None = None) -> Tensor:
    """Shannon entropy H(p) = -sum_i p_i log p_i, with 0 log 0 = 0 (Cover & Thomas 2006, eq. 2.1)."""
    p = _as_prob(p, "p")
    return -_xlogy(p, p).sum(-1) / _log_base(base)


def cross_entropy(p: Tensor, q: Tensor, base: float | None = None) -> Tensor:
    """Cross-entropy H(p, q) = -sum_i p_i log q_i = H(p) + KL(p || q); +inf where q_i = 0 < p_i
    (Cover & Thomas 2006, sec. 2.3 and problem 2.39)."""
    p, q = _as_prob(p, "p"), _as_prob(q, "q")
    return -_xlogy(p, q).sum(-1) / _log_base(base)


def kl_divergence(p: Tensor, q: Tensor, base: float | None = None) -> Tensor:
    """Kullback-Leibler divergence KL(p || q) = sum_i p_i log(p_i / q_i) >= 0 (Kullback & Leibler 1951;
    Cover & Thomas 2006, eq. 2.26). Terms with p_i = 0 are 0; a term with q_i = 0 < p_i makes KL = +inf."""
    p, q = _as_prob(p, "p"), _as_prob(q, "q")
    kl = (_xlogy(p, p) - _xlogy(p, q)).sum(-1)
    return kl.clamp_min(0.0) / _log_base(base)


def js_divergence(p: Tensor, q: Tensor, base: float | None = None) -> Tensor:
    """Jensen-Shannon divergence JSD(p, q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2 (Lin 1991).

    Symmetric, finite and bounded: 0 <= JSD <= ln 2 nats (1 bit). The GAN value function at the optimal
    discriminator is -ln 4 + 2 JSD(p_data, p_g) (Goodfellow et al. 2014, theorem 1).
    """
    p, q = _as_prob(p, "p"), _as_prob(q, "q")
    m = 0.5 * (p + q)
    jsd = 0.5 * (_xlogy(p, p) - _xlogy(p, m)).sum(-1) + 0.5 * (_xlogy(q, q) - _xlogy(q, m)).sum(-1)
    return jsd.clamp(0.0, math.log(2.0)) / _log_base(base)


def mutual_information(joint: Tensor, base: float | None = None) -> Tensor:
    """Mutual information of a joint table p(x, y) over the last two dims (rows x, columns y):

        I(X; Y) = sum_{x,y} p(x, y) log[ p(x, y) / (p(x) p(y)) ] = H(X) + H(Y) - H(X, Y)

    (Cover & Thomas 2006, eq. 2.28). Zero iff the table is the outer product of its marginals.
    """
    joint = _as_prob(joint, "joint", dims=2)
    px = joint.sum(-1, keepdim=True)
    py = joint.sum(-2, keepdim=True)
    mi = (_xlogy(joint, joint) - _xlogy(joint, px * py)).sum((-2, -1))
    return mi.clamp_min(0.0) / _log_base(base)


class Capacity(NamedTuple):
    capacity: Tensor  # max_{p(x)} I(X; Y), in nats (or `base`)
    input: Tensor  # the capacity-achieving input distribution p*(x)


def channel_capacity(
    transition: Tensor, base: float | None = None, tol: float = 1e-10, max_iter: int = 10_000
) -> Capacity:
    """Capacity C = max_{p(x)} I(X; Y) of a discrete memoryless channel by Blahut-Arimoto
    (Blahut 1972; Arimoto 1972; Cover & Thomas 2006, sec. 10.8).

    `transition[..., x, y] = p(y | x)`, each row a distribution. With q(y) = sum_x r(x) p(y|x) and
    D(x) = KL(p(.|x) || q), iterate r(x) <- r(x) e^{D(x)} / sum_x' r(x') e^{D(x')}. The bounds
    log sum_x r(x) e^{D(x)} <= C <= max_x D(x) bracket the capacity; iteration stops when their gap is below
    `tol` nats for every channel in the batch (`tol` is raised to 8 machine epsilons of the dtype, so float32
    input cannot ask for a gap it cannot resolve). Returns `Capacity(capacity, input)`.
    """
    W = _as_prob(transition, "transition")
    if W.dim() < 2:
        raise ValueError(f"transition must be a matrix p(y|x) of shape (..., X, Y), got shape {tuple(W.shape)}")
    tol = max(float(tol), 8 * torch.finfo(W.dtype).eps)
    r = torch.full(W.shape[:-1], 1.0 / W.shape[-2], dtype=W.dtype, device=W.device)
    w_log_w = _xlogy(W, W).sum(-1)  # sum_y p(y|x) log p(y|x)
    lower = torch.zeros(W.shape[:-2], dtype=W.dtype, device=W.device)
    for _ in range(max_iter):
        q = (r.unsqueeze(-1) * W).sum(-2)  # (..., Y)
        d = w_log_w - _xlogy(W, q.unsqueeze(-2)).sum(-1)  # D(x) = KL(p(.|x) || q), (..., X)
        log_z = torch.logsumexp(torch.log(r) + d, dim=-1)
        lower = log_z
        upper = d.amax(-1)
        r = torch.exp(torch.log(r) + d - log_z.unsqueeze(-1))
        if bool(((upper - lower) < tol).all()):
            break
    return Capacity(lower.clamp_min(0.0) / _log_base(base), r)
