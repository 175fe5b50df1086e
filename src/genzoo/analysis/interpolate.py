"""Latent interpolation: linear and spherical paths between codes, and decoded interpolation grids."""

from __future__ import annotations

import math
import os

import torch
from torch import Tensor

METHODS = ("lerp", "slerp")


def _ts(steps: int, ref: Tensor) -> Tensor:
    if steps < 2:
        raise ValueError(f"steps must be >= 2 (the path includes both endpoints), got {steps}")
    return torch.linspace(0.0, 1.0, steps, dtype=ref.dtype, device=ref.device)


def lerp(z0: Tensor, z1: Tensor, t: Tensor) -> Tensor:
    """(1 - t) z0 + t z1 for every t: (T, *z.shape)."""
    t = t.reshape(-1, *([1] * z0.dim()))
    return (1 - t) * z0 + t * z1


def slerp(z0: Tensor, z1: Tensor, t: Tensor, eps: float = 1e-6) -> Tensor:
    """Spherical linear interpolation (Shoemake 1985) along the last dimension, for every t: (T, *z.shape).

        omega = arccos(<z0, z1> / (|z0| |z1|)),
        slerp(t) = sin((1 - t) omega) / sin(omega) z0 + sin(t omega) / sin(omega) z1.

    For unit vectors the path stays on the unit sphere (for others the norm varies smoothly between the
    endpoints' norms). Near-parallel vectors (sin omega < eps) fall back to lerp, which is then the same path to
    first order. Near-antiparallel ones have no unique great circle: the path turns through a direction
    orthogonal to z0 (the first coordinate axis made orthogonal by Gram-Schmidt), with the norm interpolated
    linearly, so it still hits both endpoints and keeps unit vectors on the sphere.
    """
    t = t.reshape(-1, *([1] * z0.dim()))
    n0 = z0.norm(dim=-1, keepdim=True)
    n1 = z1.norm(dim=-1, keepdim=True)
    u0 = z0 / n0.clamp_min(1e-30)
    u1 = z1 / n1.clamp_min(1e-30)
    cos = (u0 * u1).sum(-1, keepdim=True).clamp(-1.0, 1.0)
    omega = torch.arccos(cos)
    sin = torch.sin(omega)
    ok = sin > eps
    safe_sin = torch.where(ok, sin, torch.ones_like(sin))
    spherical = (torch.sin((1 - t) * omega) * z0 + torch.sin(t * omega) * z1) / safe_sin
    out = torch.where(ok, spherical, lerp(z0, z1, t.flatten()))
    anti = (~ok) & (cos < 0)
    if anti.any() and z0.shape[-1] >= 2:
        # A unit vector orthogonal to u0: Gram-Schmidt on the coordinate axis least aligned with u0.
        axis = torch.zeros_like(u0).scatter_(-1, u0.abs().argmin(-1, keepdim=True), 1.0)
        v = axis - (axis * u0).sum(-1, keepdim=True) * u0
        v = v / v.norm(dim=-1, keepdim=True)
        norm = (1 - t) * n0 + t * n1
        turn = norm * (torch.cos(math.pi * t) * u0 + torch.sin(math.pi * t) * v)
        out = torch.where(anti, turn, out)
    return out


def interpolate(z0: Tensor, z1: Tensor, steps: int, method: str = "lerp") -> Tensor:
    """`steps` points from z0 to z1 inclusive, shape (steps, *z0.shape); batched over leading dimensions
    (vectors along the last one). method: "lerp" (straight line) or "slerp" (great circle, Shoemake 1985)."""
    z0, z1 = torch.as_tensor(z0), torch.as_tensor(z1)
    if z0.shape != z1.shape:
        raise ValueError(f"z0 and z1 must have the same shape, got {tuple(z0.shape)} and {tuple(z1.shape)}")
    if not z0.is_floating_point():
        z0, z1 = z0.float(), z1.float()
    t = _ts(steps, z0)
    if method == "lerp":
        return lerp(z0, z1, t)
    if method == "slerp":
        return slerp(z0, z1, t)
    from genzoo.errors import unknown_name

    raise unknown_name("interpolation method", method, METHODS)


def interpolation_grid(
    model,
    x0: Tensor,
    x1: Tensor,
    steps: int = 10,
    method: str = "slerp",
    condition: Tensor | None = None,
) -> Tensor:
    """Decode interpolations between the latents of x0[i] and x1[i], for any model with a latent: the encoder
    mean (the VAE family), the model's inverse map (flows, ddpm / ddim) or generator inversion (GANs); see
    `genzoo.analysis.latents.latent_grid`, which also takes latents as endpoints. Returns images
    (n * steps, *data_shape), row i = the path from x0[i] to x1[i], ready for
    `save_image_grid(images, path, nrow=steps)`. A model without a latent raises ConfigError."""
    from genzoo.analysis.latents import latent_grid

    return latent_grid(model, x0, x1, steps=steps, method=method, condition=condition)


def image_grid(images: Tensor, nrow: int, pad: int = 1) -> Tensor:
    """Tile images (N, C, H, W) in [0, 1] into one (H', W', C) array, `nrow` images per row."""
    images = images.detach().float().clamp(0, 1).cpu()
    n, c, h, w = images.shape
    rows = math.ceil(n / nrow)
    grid = torch.ones(c, rows * (h + pad) + pad, nrow * (w + pad) + pad)
    for i in range(n):
        r, q = divmod(i, nrow)
        top, left = pad + r * (h + pad), pad + q * (w + pad)
        grid[:, top : top + h, left : left + w] = images[i]
    return grid.permute(1, 2, 0)


def save_image_grid(images: Tensor, path: str | os.PathLike, nrow: int, pad: int = 1) -> None:
    """Write `image_grid(images, nrow)` as a PNG (grey for one channel)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    grid = image_grid(images, nrow, pad).numpy()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if grid.shape[-1] == 1:
        plt.imsave(path, grid[..., 0], cmap="gray", vmin=0.0, vmax=1.0)
    else:
        plt.imsave(path, grid)
