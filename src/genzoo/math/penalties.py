"""Regularisers: the WGAN-GP gradient penalty, R1, and L1/L2 penalties on parameters."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import torch
from torch import Tensor


def _reduce(per_sample: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "none":
        return per_sample
    raise ValueError(f'reduction must be "mean" or "none", got "{reduction}"')


def _per_sample_grad_norm(critic: Callable[[Tensor], Tensor], x: Tensor) -> Tensor:
    x = x.detach().requires_grad_(True)
    out = critic(x)
    (grad,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return grad.reshape(grad.shape[0], -1).norm(2, dim=1)


def gradient_penalty(
    critic: Callable[[Tensor], Tensor],
    real: Tensor,
    fake: Tensor,
    target: float = 1.0,
    generator: torch.Generator | None = None,
    reduction: str = "mean",
) -> Tensor:
    """WGAN-GP penalty (Gulrajani et al. 2017, eq. 3), one interpolation and one norm per sample:

        x_hat_i = eps_i real_i + (1 - eps_i) fake_i,   eps_i ~ U[0, 1]  (one eps per sample, never per batch)
        GP = mean_i ( ||grad_x D(x_hat_i)||_2 - target )^2

    The gradient of the summed critic output w.r.t. x_hat is exact per sample because sample i's output
    depends only on x_hat_i (so the critic must not mix samples, e.g. no batch norm). Differentiable
    (create_graph=True), so it can be added to the critic loss. `reduction="none"` returns the (N,) per-sample
    terms ( ||grad_x D(x_hat_i)||_2 - target )^2 instead of their mean.
    """
    if real.shape != fake.shape:
        raise ValueError(f"real and fake must have the same shape, got {tuple(real.shape)} and {tuple(fake.shape)}")
    shape = (real.shape[0],) + (1,) * (real.dim() - 1)
    eps = torch.rand(shape, dtype=real.dtype, device=real.device, generator=generator)
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    return _reduce((_per_sample_grad_norm(critic, x_hat) - target).pow(2), reduction)


def r1_penalty(critic: Callable[[Tensor], Tensor], real: Tensor, reduction: str = "mean") -> Tensor:
    """R1 (Mescheder et al. 2018, eq. 9): mean_i ||grad_x D(real_i)||^2. Multiply by gamma / 2 in the loss.
    `reduction="none"` returns the (N,) per-sample squared norms."""
    return _reduce(_per_sample_grad_norm(critic, real).pow(2), reduction)


def l1_penalty(params: Iterable[Tensor]) -> Tensor:
    """L1 = sum_j |theta_j| over all given tensors (lasso, Tibshirani 1996; sparse-coding penalties on latents too)."""
    params = list(params)
    return torch.stack([p.abs().sum() for p in params]).sum() if params else torch.tensor(0.0)


def l2_penalty(params: Iterable[Tensor]) -> Tensor:
    """L2 = sum_j theta_j^2 over all given tensors (ridge, Hoerl & Kennard 1970; weight decay's penalty, Krogh & Hertz
    1992, without the 1/2)."""
    params = list(params)
    return torch.stack([p.pow(2).sum() for p in params]).sum() if params else torch.tensor(0.0)
