"""Latent-space tools for every model with a latent: the latent of data, interpolation grids, attribute vectors
(latent arithmetic) and generator inversion.

A model reaches its latent by one of three routes, read from its declared capabilities (`latent_route`):

    "invert"     flows, continuous flows, ddpm / ddim: z = model.to_latent(x), x = model.from_latent(z), a
                 deterministic bijection onto an N(0, I) latent of the data's size (DDIM: the eta = 0 path to x_T,
                 Song et al. 2021, sec. 4.3)
    "encoder"    the VAE family, vae-gan, sparse-vae (encode + decode): z = mu(x), the mean of q(z | x);
                 x = decode(z)
    "generator"  GANs (decode + latent, no encoder): z = argmin_z ||G(z) - x||^2 / D by Adam (`invert`); x = G(z)

On top of the route everything is arithmetic on z: interpolation paths (lerp / slerp,
`genzoo.analysis.interpolate`), and attribute vectors v = mean z(with the attribute) - mean z(without), added to
latents and decoded (White 2016, "Sampling generative networks").

    from genzoo.analysis import latent_grid, attribute_vector, attribute_grid, invert, save_image_grid
    save_image_grid(latent_grid(model, x[:6], x[6:12], steps=10), "interp.png", nrow=10)
    v = attribute_vector(model, x, y, target=1, baseline=0)        # "1" minus "0"
    save_image_grid(attribute_grid(model, v, x[:6], scales=(-2, -1, 0, 1, 2)), "arith.png", nrow=5)
    inv = invert(gan, x[:8], steps=500)                             # inv.z, inv.error (N,), inv.trace (501, N)
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from genzoo.analysis.interpolate import interpolate
from genzoo.errors import ConfigError, DataError

ROUTES = ("invert", "encoder", "generator")
INIT = (None, "encoder")


def _name(model) -> str:
    return getattr(model, "name", "") or type(model).__name__


def _caps(model) -> set[str]:
    return set(getattr(model, "capabilities", ()))


def latent_route(model) -> str:
    """How `model` maps data to its latent, from its declared capabilities: "invert" (it declares invert),
    "encoder" (encode and decode), "generator" (decode and latent, no encoder: z is found by `invert`).
    A model with none of these raises ConfigError naming what is missing."""
    caps = _caps(model)
    if "invert" in caps:
        return "invert"
    if {"encode", "decode"} <= caps:
        return "encoder"
    if {"decode", "latent"} <= caps:
        return "generator"
    raise ConfigError(
        f"{_name(model)}: has no latent to map data to: needs the invert capability (flows, ddpm / ddim), encode + "
        f"decode (the VAE family) or decode + latent (GANs); it declares {', '.join(sorted(caps)) or 'none'}"
    )


def latent_size(model) -> int:
    """The size L of the model's latent vectors: `latent_dim` of a decoder / generator, prod(data_shape) of an
    invertible model."""
    if latent_route(model) == "invert":
        return math.prod(model.config.data_shape)
    return int(model.config.latent_dim)


@contextmanager
def _evaluating(model) -> Iterator[None]:
    """The model in eval mode (no dropout, batch-norm running statistics), its mode restored afterwards."""
    was = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was)


def _batch(model, x: Tensor, condition: Tensor | None) -> tuple[Tensor, Tensor | None]:
    """One example (data_shape) becomes a batch of one (its condition too)."""
    if x.dim() == len(model.config.data_shape):
        x = x.unsqueeze(0)
        if condition is not None and torch.as_tensor(condition).dim() == 0:
            condition = torch.as_tensor(condition).reshape(1)
    if x.shape[0] == 0:
        raise DataError(f"{_name(model)}: no examples (an empty batch of shape {tuple(x.shape)})")
    return x, condition


def random_latents(model, n: int, generator: torch.Generator | None = None) -> Tensor:
    """n latents z ~ N(0, I), (n, L): the prior of a VAE / GAN with the latent capability, the base of a flow, the
    x_T of DDIM. A model whose latent is not N(0, I) (no latent capability, e.g. sparse-vae) raises ConfigError."""
    route = latent_route(model)
    if route != "invert" and "latent" not in _caps(model):
        raise ConfigError(f"{_name(model)}: its latent is not N(0, I) (no latent capability): give latents or data "
                          "instead of drawing them")
    z = torch.randn(n, latent_size(model), generator=generator)
    return z.to(model.device)


def to_latent(model, x: Tensor, condition: Tensor | None = None, inversion: dict[str, Any] | None = None) -> Tensor:
    """The latents (N, L) of data x (N, *data_shape), by the model's route (`latent_route`): model.to_latent(x)
    (invert), the encoder mean mu(x) (encoder), or `invert(model, x, **inversion).z` (generator; `inversion`:
    keyword options of `invert`, used by that route only). Runs in eval mode."""
    route = latent_route(model)
    x, condition = _batch(model, x, condition)
    if inversion and route != "generator":
        raise ConfigError(f"{_name(model)}: inversion options apply to generators only; this model's route is "
                          f"{route!r}")
    with _evaluating(model):
        if route == "invert":
            with torch.no_grad():
                return model.to_latent(x, condition)
        model.check_input(x, condition)
        if route == "encoder":
            with torch.no_grad():
                return model.encode(x, condition)[0]
        return invert(model, x, condition=condition, **(inversion or {})).z


def from_latent(model, z: Tensor, condition: Tensor | None = None) -> Tensor:
    """Data (N, *data_shape) from latents z (N, L): model.from_latent(z) (invert) or model.decode(z) (the decoder
    mean / the generator), in eval mode and without gradients."""
    route = latent_route(model)
    if z.dim() == 1:
        z = z.unsqueeze(0)
    if z.shape[-1] != latent_size(model):
        raise DataError(f"{_name(model)}: latents must have {latent_size(model)} entries, got shape {tuple(z.shape)}")
    with _evaluating(model), torch.no_grad():
        if route == "invert":
            return model.from_latent(z.to(model.device), condition)
        return model.decode(z.to(model.device), condition)


def _tile(t: Tensor, times: int) -> Tensor:
    """t stacked `times` times along the batch dimension."""
    return t.repeat(times, *([1] * (t.dim() - 1)))


def _repeat(condition: Tensor | None, times: int) -> Tensor | None:
    return None if condition is None else torch.as_tensor(condition).repeat_interleave(times, 0)


def latent_grid(
    model,
    x0: Tensor | None = None,
    x1: Tensor | None = None,
    *,
    z0: Tensor | None = None,
    z1: Tensor | None = None,
    steps: int = 10,
    method: str = "slerp",
    condition: Tensor | None = None,
    inversion: dict[str, Any] | None = None,
) -> Tensor:
    """Decoded interpolations between two endpoints per row, for any model with a latent.

    The endpoints are data (x0[i], x1[i], mapped by `to_latent`; a GAN inverts them) or latents (z0[i], z1[i],
    e.g. `random_latents`). Row i is from_latent of `steps` points on the path z0[i] -> z1[i] (both included;
    method "lerp": (1 - t) z0 + t z1, "slerp": the great circle, Shoemake 1985, which keeps N(0, I) latents at a
    typical norm; White 2016). Returns (n * steps, *data_shape), ready for
    `save_image_grid(images, path, nrow=steps)`."""
    if (x0 is None) == (z0 is None) or (x1 is None) == (z1 is None) or (x0 is None) != (x1 is None):
        raise ValueError("give the two endpoints either as data (x0, x1) or as latents (z0, z1)")
    if x0 is not None:
        if x0.shape != x1.shape:
            raise ValueError(f"x0 and x1 must have the same shape, got {tuple(x0.shape)} and {tuple(x1.shape)}")
        x0, condition = _batch(model, x0, condition)
        x1, _ = _batch(model, x1, None)
        cond2 = None if condition is None else torch.cat([condition, condition])
        z = to_latent(model, torch.cat([x0, x1]), cond2, inversion)
        z0, z1 = z.chunk(2)
    else:
        z0, z1 = torch.as_tensor(z0), torch.as_tensor(z1)
        if z0.dim() == 1:
            z0, z1 = z0.unsqueeze(0), z1.unsqueeze(0)
            if condition is not None and torch.as_tensor(condition).dim() == 0:
                condition = torch.as_tensor(condition).reshape(1)
    path = interpolate(z0, z1, steps, method)  # (steps, n, L)
    n = z0.shape[0]
    return from_latent(model, path.transpose(0, 1).reshape(n * steps, -1), _repeat(condition, steps))


def attribute_vector(
    model,
    x: Tensor,
    labels: Tensor,
    target: int,
    baseline: int | Sequence[int] | None = None,
    condition: Tensor | None = None,
    inversion: dict[str, Any] | None = None,
) -> Tensor:
    """An attribute vector (White 2016, "Sampling generative networks"): the mean latent of the examples
    whose label is `target` minus the mean latent of the baseline examples (label `baseline`, one of the labels in
    a sequence, or None: every other example),

        v = (1 / |A|) sum_{i in A} z_i - (1 / |B|) sum_{i in B} z_i,   z_i = to_latent(x_i),

    so z + s v moves a latent by s times the attribute (`attribute_grid`). Returns (L,)."""
    x, condition = _batch(model, x, condition)
    labels = torch.as_tensor(labels).reshape(-1)
    if labels.shape[0] != x.shape[0]:
        raise DataError(f"{labels.shape[0]} labels for {x.shape[0]} examples")
    labels = labels.to(x.device)
    a = labels == target
    if baseline is None:
        b = ~a
    else:
        base = torch.as_tensor([baseline] if isinstance(baseline, int) else list(baseline), device=labels.device)
        b = torch.isin(labels, base) & ~a
    for mask, what in ((a, f"label {target}"), (b, "the baseline")):
        if not bool(mask.any()):
            raise DataError(f"attribute_vector: no example with {what} among the {labels.shape[0]} given")
    z = to_latent(model, x, condition, inversion)
    return z[a.to(z.device)].mean(0) - z[b.to(z.device)].mean(0)


def attribute_grid(
    model,
    vector: Tensor,
    x: Tensor | None = None,
    *,
    z: Tensor | None = None,
    scales: Sequence[float] = (-2.0, -1.0, 0.0, 1.0, 2.0),
    condition: Tensor | None = None,
    inversion: dict[str, Any] | None = None,
) -> Tensor:
    """Latent arithmetic, decoded: row i is from_latent(z_i + s v) for every s in `scales` (z_i = to_latent(x_i),
    or the latents z given). Scale 0 is the example's own reconstruction. Returns (n * len(scales),
    *data_shape), ready for `save_image_grid(images, path, nrow=len(scales))`."""
    if (x is None) == (z is None):
        raise ValueError("give the examples either as data x or as latents z")
    if x is not None:
        x, condition = _batch(model, x, condition)
        z = to_latent(model, x, condition, inversion)
    z = torch.as_tensor(z)
    if z.dim() == 1:
        z = z.unsqueeze(0)
    s = torch.as_tensor(list(scales), dtype=z.dtype, device=z.device)
    v = torch.as_tensor(vector).to(z.device, z.dtype).reshape(1, 1, -1)
    shifted = z[:, None, :] + s[None, :, None] * v  # (n, S, L)
    return from_latent(model, shifted.reshape(-1, z.shape[-1]), _repeat(condition, len(scales)))


@dataclass
class Inversion:
    """The result of `invert`: per example the best latent found, its reconstruction and errors.

    z (N, L); x = decode(z) (N, *data_shape); error (N,) = mean squared error per dimension of x against the data;
    trace (steps + 1, N) = the error of the iterate before every Adam step and after the last (of the restart
    kept); restart (N,) = which start was kept (the one of least E(z))."""

    z: Tensor
    x: Tensor
    error: Tensor
    trace: Tensor
    restart: Tensor


def invert(
    model,
    x: Tensor,
    steps: int = 500,
    lr: float = 0.05,
    init: str | Tensor | None = None,
    condition: Tensor | None = None,
    *,
    prior: float = 0.0,
    restarts: int = 1,
    generator: torch.Generator | None = None,
) -> Inversion:
    """Generator inversion: per example, z* = argmin_z E(z) with

        E(z) = (1 / D) ||decode(z) - x||^2 + prior ||z||^2 / L,

    minimised by Adam (Kingma & Ba 2015, learning rate `lr`, `steps` steps) through the differentiable decoder
    (Creswell & Bharath 2018, "Inverting the generator of a generative adversarial network"; Lipton & Tripathi
    2017). `prior` > 0 pulls z towards the typical set of N(0, I). Starts: init None draws z ~ N(0, I) (from
    `generator`); "encoder" starts from the encoder's mean mu(x) (Zhu et al. 2016, "Generative visual manipulation
    on the natural image manifold": an encoder's guess refined by optimisation; needs the encode capability); a
    tensor (N, L) starts there. With `restarts` R > 1 every example also gets R - 1 random starts and keeps the
    start of least final error. Each example's objective involves its own z only and Adam updates every entry
    separately, so a batch inverts as its examples would one by one. Returns every example's iterate of least
    E(z) (an `Inversion`; with prior = 0 the least reconstruction error); the model runs in eval mode and its
    parameters receive no gradients."""
    caps = _caps(model)
    if "decode" not in caps:
        raise ConfigError(f"{_name(model)}: invert needs the decode capability (a decoder z -> x to optimise z "
                          "through); the model lacks decode")
    if isinstance(init, str) and init not in INIT:
        from genzoo.errors import unknown_name

        raise unknown_name("inversion init", init, [i for i in INIT if i])
    if init == "encoder" and "encode" not in caps:
        raise ConfigError(f"{_name(model)}: init='encoder' needs the encode capability; the model lacks encode")
    if (init is None or restarts > 1) and "latent" not in caps:
        raise ConfigError(f"{_name(model)}: random starts need the latent capability (an N(0, I) latent); pass "
                          "init='encoder' or a tensor, with restarts=1")
    if steps < 0 or restarts < 1 or not lr > 0 or prior < 0:
        raise ConfigError(f"invert: need steps >= 0, restarts >= 1, lr > 0, prior >= 0; got steps={steps}, "
                          f"restarts={restarts}, lr={lr}, prior={prior}")
    x, condition = _batch(model, x, condition)
    model.check_input(x, condition)
    n, L = x.shape[0], int(model.config.latent_dim)
    dtype = next(model.parameters()).dtype
    x = x.to(model.device, dtype)
    with _evaluating(model):
        starts = []
        if isinstance(init, Tensor):
            if init.shape != (n, L):
                raise DataError(f"invert: init must have shape ({n}, {L}), got {tuple(init.shape)}")
            starts.append(init.detach().to(model.device, dtype))
        elif init == "encoder":
            with torch.no_grad():
                starts.append(model.encode(x, condition)[0].detach().to(dtype))
        while len(starts) < restarts:
            starts.append(torch.randn(n, L, generator=generator).to(model.device, dtype))
        z = torch.cat(starts).requires_grad_(True)  # (R n, L), restart r in rows r n .. (r + 1) n - 1
        target = _tile(x, restarts)
        cond = None if condition is None else _tile(torch.as_tensor(condition), restarts)
        opt = torch.optim.Adam([z], lr=lr)
        best = torch.full((restarts * n,), math.inf, dtype=dtype, device=model.device)  # least E(z) seen
        best_z = z.detach().clone()
        trace = []
        with torch.enable_grad():
            for step in range(steps + 1):
                err = (model.decode(z, cond) - target).flatten(1).square().mean(1)
                energy = err + (prior / L) * z.square().sum(1) if prior > 0 else err
                trace.append(err.detach())
                better = energy.detach() < best
                best = torch.where(better, energy.detach(), best)
                best_z = torch.where(better[:, None], z.detach(), best_z)
                if step == steps:
                    break
                (grad,) = torch.autograd.grad(energy.sum(), z)
                z.grad = grad
                opt.step()
        trace_all = torch.stack(trace).reshape(steps + 1, restarts, n)
        pick = best.reshape(restarts, n).argmin(0)  # (n,)
        cols = torch.arange(n, device=pick.device)
        z_best = best_z.reshape(restarts, n, L)[pick, cols]
        with torch.no_grad():
            x_hat = model.decode(z_best, condition)
        error = (x_hat - x).flatten(1).square().mean(1)
    return Inversion(z=z_best.detach(), x=x_hat.detach(), error=error.detach(),
                     trace=trace_all[:, pick, cols].detach(), restart=pick)
