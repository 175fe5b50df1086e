"""Toy 2-D data sets, with exact densities for the ones that have one.

Gaussian mixtures (equal weights 1/K, isotropic std sigma), the mode-collapse protocol of PacGAN (Lin et al. 2018,
after VEEGAN, Srivastava et al. 2017) by default:

    ring8        K = 8 means r (cos 2 pi k/8, sin 2 pi k/8), r = 1, sigma = 0.01
    grid25       K = 25 means {-4, -2, 0, 2, 4}^2 (i.e. linspace(-r, r, 5)^2 with r = 4), sigma = 0.05
    8gaussians   FFJORD's set (Grathwohl et al. 2019): means 2 sqrt(2) (cos pi k/4, sin pi k/4), sigma = 1/(2 sqrt 2)

    log p(x) = logsumexp_k [ log N(x; mu_k, sigma^2 I) ] - log K

    checkerboard FFJORD's set: uniform on the 8 squares [2i, 2i+2) x [2j, 2j+2), i, j in {-2..1}, i + j even, inside
                 [-4, 4)^2: total area 8 * 4 = 32, so p(x) = 1/32 on the support and H = ln 32 = 3.466 nats.

Sets without a closed-form density (shapes as in FFJORD's toy_data.py): moons, circles, swissroll, pinwheel,
2spirals. Every sampler draws from its own `numpy.random.Generator` seeded by `seed` (never global state): the same
seed gives the same points, and `seed=None` draws fresh entropy.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from genzoo.errors import ConfigError, DataError, unknown_name
from genzoo.math.gaussian import gaussian_log_prob

MIXTURES = ("ring8", "grid25", "8gaussians")
DENSITIES = MIXTURES + ("checkerboard",)
TOY2D_NAMES = ("ring8", "grid25", "8gaussians", "moons", "circles", "swissroll", "checkerboard", "pinwheel",
               "2spirals")

# default (radius, std) of each mixture
_MIXTURE_DEFAULTS = {
    "ring8": (1.0, 0.01),
    "grid25": (4.0, 0.05),
    "8gaussians": (2.0 * math.sqrt(2.0), 0.5 / math.sqrt(2.0)),
}
# number of components (labels) of each set, where the set has them
NUM_COMPONENTS = {"ring8": 8, "grid25": 25, "8gaussians": 8, "checkerboard": 8, "moons": 2, "circles": 2,
                  "pinwheel": 5, "2spirals": 2}

DESCRIPTIONS = {
    "ring8": "8 Gaussians on a circle of radius 1, std 0.01 (PacGAN/VEEGAN 2D-ring); exact density",
    "grid25": "25 Gaussians at {-4,-2,0,2,4}^2, std 0.05 (PacGAN/VEEGAN 2D-grid); exact density",
    "8gaussians": "8 Gaussians on a circle of radius 2.83, std 0.354 (FFJORD); exact density",
    "moons": "two interleaved half circles with Gaussian noise 0.1 (FFJORD scaling)",
    "circles": "two concentric circles, radii 3 and 1.5, Gaussian noise 0.24 (FFJORD scaling)",
    "swissroll": "2-D Swiss roll (x, z of sklearn's roll with noise 1, divided by 5)",
    "checkerboard": "uniform on 8 squares of side 2 in [-4,4]^2 (FFJORD); exact density 1/32, entropy ln 32",
    "pinwheel": "5 curved arms (FFJORD pinwheel)",
    "2spirals": "two interleaved spirals (FFJORD)",
}


class ToyModes(NamedTuple):
    """Component means (K, 2) and their common isotropic std."""

    means: Tensor
    std: float


def toy2d_names() -> list[str]:
    """Names `toy2d` accepts."""
    return list(TOY2D_NAMES)


def _check_name(name: str, allowed=TOY2D_NAMES, what="toy 2-D data set") -> str:
    if name not in allowed:
        raise unknown_name(what, name, allowed)
    return name


def _mixture_params(name: str, radius: float | None, std: float | None) -> tuple[float, float]:
    r0, s0 = _MIXTURE_DEFAULTS[name]
    r = r0 if radius is None else float(radius)
    s = s0 if std is None else float(std)
    if not (s > 0 and math.isfinite(s)):
        raise ConfigError(f"{name}: std must be a positive number, got {std}")
    if not (r > 0 and math.isfinite(r)):
        raise ConfigError(f"{name}: radius must be a positive number, got {radius}")
    return r, s


def _means(name: str, r: float) -> np.ndarray:
    if name == "grid25":
        v = np.linspace(-r, r, 5)
        return np.array([(a, b) for a in v for b in v])
    k = np.arange(8)
    angles = 2.0 * np.pi * k / 8
    return r * np.stack([np.cos(angles), np.sin(angles)], 1)


def toy2d_modes(name: str, *, radius: float | None = None, std: float | None = None) -> ToyModes:
    """The means (K, 2) (float32) and std of a Gaussian-mixture toy set (ring8, grid25, 8gaussians).

    ring8/8gaussians: mean k at radius * (cos 2 pi k/8, sin 2 pi k/8); grid25: mean 5 a + b at
    (linspace(-radius, radius, 5)[a], linspace(...)[b]). Component k is label k in `toy2d(..., return_labels=True)`.
    """
    _check_name(name, MIXTURES, "Gaussian-mixture toy set")
    r, s = _mixture_params(name, radius, std)
    return ToyModes(torch.from_numpy(_means(name, r)).float(), s)


def _sample(name: str, n: int, rng: np.random.Generator, radius, std) -> tuple[np.ndarray, np.ndarray | None]:
    if name in MIXTURES:
        r, s = _mixture_params(name, radius, std)
        mu = _means(name, r)
        labels = rng.integers(0, len(mu), n)
        return mu[labels] + s * rng.standard_normal((n, 2)), labels
    if radius is not None or std is not None:
        raise ConfigError(f"{name}: radius/std apply only to the Gaussian mixtures {', '.join(MIXTURES)}")
    if name == "checkerboard":
        cells = np.array([(i, j) for i in range(-2, 2) for j in range(-2, 2) if (i + j) % 2 == 0])  # 8 squares
        labels = rng.integers(0, 8, n)
        return 2.0 * (cells[labels] + rng.uniform(0.0, 1.0, (n, 2))), labels
    if name == "moons":  # sklearn.make_moons with uniform angles, then FFJORD's 2 x + (-1, -0.2)
        labels = rng.integers(0, 2, n)
        t = rng.uniform(0.0, np.pi, n)
        outer = np.stack([np.cos(t), np.sin(t)], 1)
        inner = np.stack([1.0 - np.cos(t), 0.5 - np.sin(t)], 1)
        x = np.where(labels[:, None] == 0, outer, inner) + 0.1 * rng.standard_normal((n, 2))
        return 2.0 * x + np.array([-1.0, -0.2]), labels
    if name == "circles":  # sklearn.make_circles(factor=0.5, noise=0.08) with uniform angles, times 3
        labels = rng.integers(0, 2, n)
        t = rng.uniform(0.0, 2.0 * np.pi, n)
        rad = np.where(labels == 0, 1.0, 0.5)[:, None]
        x = rad * np.stack([np.cos(t), np.sin(t)], 1) + 0.08 * rng.standard_normal((n, 2))
        return 3.0 * x, labels
    if name == "swissroll":  # sklearn.make_swiss_roll(noise=1.0)[:, [0, 2]] / 5
        t = 1.5 * np.pi * (1.0 + 2.0 * rng.uniform(0.0, 1.0, n))
        x = np.stack([t * np.cos(t), t * np.sin(t)], 1) + rng.standard_normal((n, 2))
        return x / 5.0, None
    if name == "pinwheel":  # FFJORD: radial std 0.3, tangential std 0.1, 5 arms, rate 0.25, times 2
        labels = rng.integers(0, 5, n)
        feats = rng.standard_normal((n, 2)) * np.array([0.3, 0.1])
        feats[:, 0] += 1.0
        angles = 2.0 * np.pi * labels / 5 + 0.25 * np.exp(feats[:, 0])
        c, s = np.cos(angles), np.sin(angles)
        x = np.stack([feats[:, 0] * c + feats[:, 1] * s, -feats[:, 0] * s + feats[:, 1] * c], 1)
        return 2.0 * x, labels
    if name == "2spirals":  # FFJORD
        labels = rng.integers(0, 2, n)
        t = np.sqrt(rng.uniform(0.0, 1.0, n)) * 540.0 * (2.0 * np.pi) / 360.0
        d = np.stack([-np.cos(t) * t + 0.5 * rng.uniform(0.0, 1.0, n), np.sin(t) * t + 0.5 * rng.uniform(0.0, 1.0, n)],
                     1)
        sign = np.where(labels == 0, 1.0, -1.0)[:, None]
        return sign * d / 3.0 + 0.1 * rng.standard_normal((n, 2)), labels
    raise AssertionError(name)  # pragma: no cover


def toy2d(name: str, n: int, seed: int | None = None, *, return_labels: bool = False, radius: float | None = None,
          std: float | None = None):
    """`n` points (float32, shape (n, 2)) of toy set `name`; with `return_labels`, also (n,) int64 labels.

    Labels are the component index (mixture component, checkerboard square, moon, circle, pinwheel arm, spiral
    arm); swissroll has none and raises DataError when asked. `radius` and `std` change the Gaussian mixtures
    (ring8, grid25, 8gaussians; see `toy2d_modes`). Deterministic per `seed`.
    """
    _check_name(name)
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError(f"{name}: n must be a non-negative integer, got {n!r}")
    if return_labels and name not in NUM_COMPONENTS:
        raise DataError(f"{name}: has no component labels; sets with labels: {', '.join(NUM_COMPONENTS)}")
    rng = np.random.default_rng(seed)
    x, labels = _sample(name, int(n), rng, radius, std)
    x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32)).reshape(int(n), 2)
    if return_labels:
        return x, torch.from_numpy(np.asarray(labels, dtype=np.int64))
    return x


def toy2d_log_prob(name: str, x: Tensor, *, radius: float | None = None, std: float | None = None) -> Tensor:
    """Exact log-density in nats of points `x` (..., 2) under toy set `name` (ring8, grid25, 8gaussians,
    checkerboard); returns shape (...), in x's floating dtype (computed in float64).

    Mixtures: log p(x) = logsumexp_k log N(x; mu_k, std^2 I) - log K. Checkerboard: -ln 32 on its 8 squares, -inf
    elsewhere.
    """
    _check_name(name, DENSITIES, "toy 2-D set with an exact density")
    x = torch.as_tensor(x)
    if x.shape[-1:] != (2,):
        raise DataError(f"{name}: toy2d_log_prob expects points of shape (..., 2), got {tuple(x.shape)}")
    out_dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    xd = x.double()
    if name == "checkerboard":
        if radius is not None or std is not None:
            raise ConfigError("checkerboard: radius/std apply only to the Gaussian mixtures")
        cell = torch.floor(xd / 2.0)
        inside = (xd >= -4.0).all(-1) & (xd < 4.0).all(-1) & ((cell[..., 0] + cell[..., 1]) % 2 == 0)
        lp = torch.where(inside, torch.full_like(xd[..., 0], -math.log(32.0)),
                         torch.full_like(xd[..., 0], -math.inf))
        return lp.to(out_dtype)
    modes = toy2d_modes(name, radius=radius, std=std)
    mu = modes.means.double().to(x.device)
    logvar = torch.full((2,), 2.0 * math.log(modes.std), dtype=torch.float64, device=x.device)
    comp = gaussian_log_prob(xd.unsqueeze(-2), mu, logvar)  # (..., K)
    return (torch.logsumexp(comp, -1) - math.log(mu.shape[0])).to(out_dtype)


def toy2d_entropy(name: str, *, radius: float | None = None, std: float | None = None) -> float | None:
    """Differential entropy in nats where it has a closed form or a tight one: checkerboard ln 32; a mixture of
    well-separated Gaussians ln K + ln(2 pi e std^2) (exact up to the overlap of the components). None otherwise."""
    if name == "checkerboard":
        return math.log(32.0)
    if name in MIXTURES:
        modes = toy2d_modes(name, radius=radius, std=std)
        return math.log(len(modes.means)) + math.log(2.0 * math.pi * math.e * modes.std**2)
    _check_name(name)
    return None
