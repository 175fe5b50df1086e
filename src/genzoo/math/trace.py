"""Trace of a Jacobian, tr(d f / dx), per example: exactly by autograd, or by Hutchinson's estimator.

Exact: tr J = sum_i d f_i / d x_i, one vector-Jacobian product per dimension (D backward passes).
Hutchinson (1989): tr J = E_v[v^T J v] for any probe with E[v v^T] = I (Rademacher +-1 or standard normal);
one probe costs one backward pass, v^T J = d (f . v) / dx, unbiased whatever D. Used by the probability-flow ODE
likelihood of diffusion models (Song et al. 2021, app. D.2) and by continuous normalizing flows (FFJORD,
Grathwohl et al. 2019, sec. 3.1).

`exact_trace` / `hutchinson_trace` take an output y = f(x) already computed from an x that requires grad (so a
caller can keep the graph, `create_graph=True`, and train through the trace); `exact_divergence` /
`hutchinson_divergence` wrap a function of a detached x and return (f(x), trace).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

NOISES = ("rademacher", "gaussian")


def exact_trace(y: Tensor, x: Tensor, create_graph: bool = False) -> Tensor:
    """tr(d y / d x) = sum_i d y_i / d x_i per example (N,), y and x of the same shape (N, ...), y computed from x
    (the divergence of the instantaneous change of variables, Chen et al. 2018, thm. 1)."""
    yf = y.flatten(1)
    div = torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)
    for i in range(yf.shape[1]):
        (g,) = torch.autograd.grad(yf[:, i].sum(), x, retain_graph=True, create_graph=create_graph)
        div = div + g.flatten(1)[:, i]
    return div


def vjp(y: Tensor, x: Tensor, v: Tensor, create_graph: bool = False) -> Tensor:
    """v^T (d y / d x) per example, the shape of x (one backward pass)."""
    (g,) = torch.autograd.grad(y, x, v, retain_graph=True, create_graph=create_graph)
    return g


def hutchinson_trace(y: Tensor, x: Tensor, v: Tensor, create_graph: bool = False) -> Tensor:
    """v^T (d y / d x) v per example (N,): unbiased for tr(d y / d x) when E[v v^T] = I (Hutchinson 1989)."""
    return (vjp(y, x, v, create_graph) * v).flatten(1).sum(1)


def exact_divergence(fn: Callable[[Tensor], Tensor], x: Tensor, create_graph: bool = False) -> tuple[Tensor, Tensor]:
    """(fn(x), tr d fn / dx = sum_i d fn_i / d x_i) per example, one backward pass per dimension (exact; Chen et al.
    2018, thm. 1)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        y = fn(x)
        div = exact_trace(y, x, create_graph)
    return y.detach() if not create_graph else y, div


def hutchinson_divergence(fn: Callable[[Tensor], Tensor], x: Tensor, v: Tensor) -> tuple[Tensor, Tensor]:
    """(fn(x), v^T (d fn / dx) v) per example: an unbiased estimate of the divergence when E[v v^T] = I
    (Hutchinson 1989)."""
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        y = fn(x)
        div = hutchinson_trace(y, x, v)
    return y.detach(), div.detach()


def hutchinson_noise(shape, kind: str = "rademacher", generator=None, dtype=torch.float32, device=None) -> Tensor:
    """A probe v with E[v v^T] = I: Rademacher (+-1 with probability 1/2 each) or standard normal (Hutchinson 1989;
    Grathwohl et al. 2019, sec. 3.1)."""
    if kind not in NOISES:
        raise ValueError(f"hutchinson noise must be one of {NOISES}, got {kind!r}")
    if kind == "rademacher":
        return torch.randint(0, 2, shape, generator=generator).to(dtype=dtype, device=device) * 2 - 1
    return torch.randn(shape, generator=generator, dtype=dtype).to(device)
