"""Data transforms, with the log-determinant of each one that changes a density.

Convention: a transform y = f(x) that is a bijection returns ``(y, logdet)`` with
``logdet = log |det df/dx|`` summed over every non-batch dimension, shape (N,), so that a density model on y gives
the density of x by the change of variables

    log p_X(x) = log p_Y(f(x)) + logdet.

Images are float in [0, 1] (= uint8 / 255) in genzoo; uint8 input is accepted wherever it makes sense. uint8 (and
half-precision) input gives float32 results; float64 input stays float64.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from genzoo.errors import ConfigError, DataError


def _per_example(x: Tensor, value: float) -> Tensor:
    """`value` times the number of dimensions per example, as a (N,) tensor (dim 0 is the batch)."""
    d = int(x[0].numel()) if x.dim() > 0 and x.shape[0] > 0 else 1
    n = x.shape[0] if x.dim() > 0 else 1
    dtype = x.dtype if x.is_floating_point() else torch.float32
    return torch.full((n,), d * value, dtype=dtype, device=x.device)


def _sum_per_example(v: Tensor) -> Tensor:
    """Sum over every dimension but the first (the batch); 1-D input is N examples of one dimension."""
    return v.flatten(1).sum(1) if v.dim() > 1 else v.reshape(-1)


def _float_dtype(x: Tensor) -> torch.dtype:
    """float64 for float64 input, float32 for everything else (uint8 levels, half precision, float32)."""
    return torch.float64 if x.dtype == torch.float64 else torch.float32


def to_float(x: Tensor) -> Tensor:
    """uint8 {0..255} -> float32 k / 255 in [0, 1]; float input is checked to lie in [0, 1] and returned as float32,
    or as float64 when it is float64."""
    x = torch.as_tensor(x)
    if x.dtype == torch.uint8:
        return x.float() / 255.0
    if not x.is_floating_point():
        raise DataError(f"expected uint8 or float images, got dtype {x.dtype}")
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise DataError(f"expected float images in [0, 1], got values in [{x.min().item():.4g}, {x.max().item():.4g}]")
    return x.to(_float_dtype(x))


def to_levels(x: Tensor, n_bins: int = 256) -> Tensor:
    """Integer levels k in {0..n_bins-1} (int64) of uint8 data, or of float data in [0, 1] (k = round(x (n_bins-1)))."""
    x = torch.as_tensor(x)
    if x.dtype == torch.uint8:
        return x.long()
    return torch.round(to_float(x) * (n_bins - 1)).long()


def _in_bins(k: Tensor, u: Tensor, n_bins: int, dtype: torch.dtype = torch.float32) -> Tensor:
    """(k + u) / n_bins in `dtype`, kept inside [k / n_bins, (k + 1) / n_bins): rounding k + u for u near 1 (in
    float32, or in float64 for u within 2^-53 of 1) would otherwise carry it to k + 1."""
    zero = torch.zeros((), dtype=dtype, device=k.device)
    top = torch.nextafter((k + 1).to(dtype), zero)
    v = torch.minimum((k.double() + u.double()).to(dtype), top)
    below_one = torch.nextafter(torch.ones((), dtype=dtype, device=k.device), zero)
    return torch.minimum(v / n_bins, below_one)


def dequantize(x: Tensor, generator: torch.Generator | None = None, *, n_bins: int = 256,
               return_logdet: bool = False, offset: float | None = None):
    """Uniform dequantization: y = (k + u) / n_bins, u ~ U[0, 1) i.i.d., so y lies in [0, 1) and floor(n_bins y) = k.

    `x` is uint8 levels k (0..255) or floats in [0, 1] (k = round(255 x)). Returns float32 y (float64 for float64
    input), and with `return_logdet` also the log-determinant of the scaling v = k + u -> y = v / n_bins,
    -D ln(n_bins) per example. `offset`: a fixed u in [0, 1) for every value instead of noise (0.5: the bin
    centres, a deterministic evaluation).

    A density p on [0, 1)^D then bounds the discrete likelihood (Theis et al. 2016):
    ln P(k) >= E_u[ln p(y)] - D ln(n_bins). `genzoo.math.bits_per_dim(nll, D, n_bins=256)` already adds the
    D ln 256 term; do not add this logdet as well.
    """
    x = torch.as_tensor(x)
    dtype = _float_dtype(x)
    k = to_levels(x, n_bins)
    if k.numel() and (k.min() < 0 or k.max() >= n_bins):
        raise DataError(f"dequantize: levels must lie in [0, {n_bins}), got [{k.min().item()}, {k.max().item()}]")
    if offset is None:
        u = torch.rand(k.shape, generator=generator, device=k.device, dtype=torch.float64)
    elif 0.0 <= offset < 1.0:
        u = torch.full(k.shape, float(offset), device=k.device, dtype=torch.float64)
    else:
        raise ConfigError(f"dequantize: offset must lie in [0, 1), got {offset}")
    y = _in_bins(k, u, n_bins, dtype)
    if return_logdet:
        return y, _per_example(y, -math.log(n_bins))
    return y


def binarize(x: Tensor, mode: str = "dynamic", *, threshold: float = 0.5, generator: torch.Generator | None = None,
             seed: int = 0) -> Tensor:
    """Binary images (0/1, same shape; float32, or float64 for float64 input) from intensities p = x in [0, 1]
    (uint8 is divided by 255).

    - ``"dynamic"``: b ~ Bernoulli(p), drawn afresh at every call (from `generator`) - the usual training-time
      binarization for VAEs (e.g. Burda et al. 2016).
    - ``"static"``: b ~ Bernoulli(p) drawn with a generator seeded by `seed`, so the same input always gives the
      same output: binarize the whole data set once for a fixed binarized set (Salakhutdinov & Murray 2008).
    - ``"threshold"``: b = 1[p > threshold], deterministic.
    """
    p = to_float(x)
    if mode == "dynamic":
        return torch.bernoulli(p, generator=generator)
    if mode == "static":
        g = torch.Generator(device=p.device).manual_seed(int(seed))
        return torch.bernoulli(p, generator=g)
    if mode == "threshold":
        return (p > threshold).float()
    raise ConfigError(f'binarize: unknown mode "{mode}"; expected "static", "dynamic" or "threshold"')


def affine(x: Tensor, scale: float, shift: float = 0.0) -> tuple[Tensor, Tensor]:
    """y = scale x + shift with logdet = D ln |scale| per example."""
    if scale == 0:
        raise ConfigError("affine: scale must be non-zero")
    x = torch.as_tensor(x)
    y = x * scale + shift
    return y, _per_example(y, math.log(abs(scale)))


def to_minus_one_one(x: Tensor) -> tuple[Tensor, Tensor]:
    """[0, 1] -> [-1, 1]: y = 2 x - 1, logdet = D ln 2. uint8 input is divided by 255 first (no logdet for that:
    the discrete levels have no density)."""
    return affine(to_float(x) if torch.as_tensor(x).dtype == torch.uint8 else torch.as_tensor(x), 2.0, -1.0)


def from_minus_one_one(y: Tensor) -> tuple[Tensor, Tensor]:
    """[-1, 1] -> [0, 1]: x = (y + 1) / 2, logdet = -D ln 2."""
    return affine(y, 0.5, 0.5)


def logit_transform(x: Tensor, alpha: float = 0.05) -> tuple[Tensor, Tensor]:
    """y = logit(s), s = alpha + (1 - 2 alpha) x, mapping [0, 1] into the reals (RealNVP, Dinh et al. 2017, sec. 4.1).

    logdet = sum_i [ ln(1 - 2 alpha) - ln s_i - ln(1 - s_i) ]  (dy/dx = (1 - 2 alpha) / (s (1 - s))).
    RealNVP uses alpha = 0.05; MAF (Papamakarios et al. 2017) uses alpha = 1e-6 on MNIST. 0 < alpha < 1/2.
    """
    if not 0.0 < alpha < 0.5:
        raise ConfigError(f"logit_transform: alpha must lie in (0, 0.5), got {alpha}")
    x = torch.as_tensor(x)
    if x.dtype == torch.uint8:
        x = to_float(x)
    if x.numel() and (x.min() < 0 or x.max() > 1):
        raise DataError(f"logit_transform: expected data in [0, 1], got values in [{x.min().item():.4g}, "
                        f"{x.max().item():.4g}] (outside it the logit is NaN)")
    s = alpha + (1.0 - 2.0 * alpha) * x
    y = torch.log(s) - torch.log1p(-s)
    ld = math.log(1.0 - 2.0 * alpha) - torch.log(s) - torch.log1p(-s)
    return y, _sum_per_example(ld)


def inverse_logit_transform(y: Tensor, alpha: float = 0.05) -> tuple[Tensor, Tensor]:
    """x = (sigmoid(y) - alpha) / (1 - 2 alpha), the inverse of `logit_transform`.

    logdet = sum_i [ ln s_i + ln(1 - s_i) - ln(1 - 2 alpha) ], s = sigmoid(y), with ln s = -softplus(-y) and
    ln(1 - s) = -softplus(y) for stability; it is minus the forward logdet at x.
    """
    if not 0.0 < alpha < 0.5:
        raise ConfigError(f"inverse_logit_transform: alpha must lie in (0, 0.5), got {alpha}")
    y = torch.as_tensor(y)
    x = (torch.sigmoid(y) - alpha) / (1.0 - 2.0 * alpha)
    ld = -torch.nn.functional.softplus(-y) - torch.nn.functional.softplus(y) - math.log(1.0 - 2.0 * alpha)
    return x, _sum_per_example(ld)
