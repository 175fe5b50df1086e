"""Latent traversals: decode a code while one latent dimension sweeps a range and the others stay fixed.

The picture of Higgins et al. (2017, beta-VAE, fig. 1 and 7): row j of the grid is decode(z + (v_t - z_j) e_j) for
values v_1 < ... < v_T (default -3 ... 3, prior standard deviations), so a disentangled dimension changes one
factor of the image along its row. The base code z is the prior mean 0, a given code, or the posterior mean of an
example (models with "encode"). For models with an encoder the rows can be ordered by the dimension's average KL
to the prior over data,

    KL_j = E_x[ KL(q(z_j | x) || N(0, 1)) ] = E_x[ (mu_j^2 + sigma_j^2 - 1 - ln sigma_j^2) / 2 ]

(Kingma & Welling 2014, app. B, per dimension), most informative first; dimensions with KL_j ~ 0 are unused
("collapsed": the decoder ignores them, their rows are constant).
"""

from __future__ import annotations

import os
from typing import NamedTuple

import torch
from torch import Tensor

from genzoo.analysis.diagnostics import require
from genzoo.analysis.interpolate import save_image_grid
from genzoo.errors import ConfigError, DataError

ORDERS = ("index", "kl")


class Traversal(NamedTuple):
    images: Tensor  # (len(dims) * steps, *data_shape): row r = dimension dims[r], column t = values[t]
    dims: list[int]  # the latent dimension of each row
    values: Tensor  # (steps,) the values the dimension takes
    kl: Tensor | None  # (latent_dim,) KL_j per dimension in nats when computed (order "kl" or kl_data), else None


def _latent_dim(model) -> int:
    return int(model.config.latent_dim)


@torch.no_grad()
def per_dim_kl(model, x: Tensor, condition: Tensor | None = None, batch_size: int = 512) -> Tensor:
    """KL_j = mean over x of KL(q(z_j | x) || N(0, 1)) (latent_dim,) in nats (see the module); the sum over j is
    the average KL term of the ELBO. Needs the "encode" capability."""
    require(model, "encode", what="per_dim_kl")
    model.check_input(x, condition)
    total = None
    for i in range(0, len(x), batch_size):
        c = None if condition is None else condition[i : i + batch_size]
        mu, logvar = model.encode(x[i : i + batch_size], c)
        kl = 0.5 * (mu.double() ** 2 + logvar.double().exp() - 1.0 - logvar.double())
        total = kl.sum(0) if total is None else total + kl.sum(0)
    return (total / len(x)).cpu()


@torch.no_grad()
def latent_traversal(model, x: Tensor | None = None, z: Tensor | None = None, steps: int = 9, span: float = 3.0,
                     dims: list[int] | None = None, order: str = "index", kl_data: Tensor | None = None,
                     condition: Tensor | None = None, path: str | os.PathLike | None = None) -> Traversal:
    """Decode traversals of each latent dimension (one row per dimension, `steps` values from -span to span).

    The base code is `z` (latent_dim,), else the posterior mean of the one example `x` (needs "encode"), else 0.
    dims: the dimensions to traverse (default all). order: "index" or "kl" (rows by decreasing KL_j over
    `kl_data`, default `x`; needs "encode"). condition: one label of a conditional model. path: also write the grid
    as a PNG (`save_image_grid`, `steps` images per row; image data only). Needs "decode" and "latent".
    """
    require(model, "decode", "latent", what="latent_traversal")
    if order not in ORDERS:
        from genzoo.errors import unknown_name

        raise unknown_name("traversal order", order, ORDERS)
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 2:
        raise ConfigError(f"steps must be an integer >= 2 (the row includes -span and span), got {steps!r}")
    if not (isinstance(span, (int, float)) and 0 < float(span) < float("inf")):
        raise ConfigError(f"span must be a positive number, got {span!r}")
    latent = _latent_dim(model)
    ref = next(model.parameters())
    cond = None if condition is None else torch.as_tensor(condition).reshape(1).to(ref.device)
    if z is not None:
        z = torch.as_tensor(z, dtype=ref.dtype, device=ref.device).reshape(-1)
        if z.numel() != latent or not torch.isfinite(z).all():
            raise DataError(f"z must be {latent} finite numbers (the latent_dim), got {z.numel()}")
    elif x is not None:
        require(model, "encode", what="a traversal from an example")
        x1 = x.unsqueeze(0) if x.dim() == len(model.config.data_shape) else x
        if len(x1) != 1:
            raise DataError(f"x must be one example (a traversal starts from one code), got {len(x1)}")
        model.check_input(x1.to(ref.device), cond)
        z = model.encode(x1.to(ref.device), cond)[0][0]
    else:
        z = torch.zeros(latent, dtype=ref.dtype, device=ref.device)
    kl = None
    data = kl_data if kl_data is not None else (x if order == "kl" else None)
    if data is not None:
        data = data.unsqueeze(0) if data.dim() == len(model.config.data_shape) else data
        kc = None if cond is None else cond.expand(len(data))
        kl = per_dim_kl(model, data.to(ref.device), kc)
    if dims is None:
        dims = list(range(latent))
    dims = [int(d) for d in dims]
    if not dims or any(not 0 <= d < latent for d in dims):
        raise ConfigError(f"dims must be a non-empty list of latent dimensions in [0, {latent}), got {dims}")
    if order == "kl":
        if kl is None:
            raise ConfigError("order='kl' needs data to measure each dimension's KL: pass kl_data (or x)")
        dims = sorted(dims, key=lambda d: (-float(kl[d]), d))
    values = torch.linspace(-float(span), float(span), steps, dtype=ref.dtype, device=ref.device)
    codes = z.repeat(len(dims), steps, 1)  # (rows, steps, latent)
    for r, d in enumerate(dims):
        codes[r, :, d] = values
    was_training = model.training
    model.eval()  # decoders with batch norm decode each code alone
    try:
        images = model.decode(codes.reshape(-1, latent), None if cond is None else cond.expand(len(dims) * steps))
    finally:
        model.train(was_training)
    if path is not None:
        if images.dim() != 4:
            raise DataError(f"a traversal grid is written for image data (N, C, H, W); decoded shape is "
                            f"{tuple(images.shape[1:])}")
        save_image_grid(images, path, nrow=steps)
    return Traversal(images.cpu(), dims, values.cpu(), kl)
