"""A dSprites-like data set made in the package: white shapes on black with five known generative factors.

dSprites (Matthey et al. 2017; used by Higgins et al. 2017 for beta-VAE) renders every combination of five
independent factors; "shapes" does the same on a smaller grid (`FACTOR_VALUES`, 3 x 6 x 8 x 8 x 8 = 9,216 images):

    shape     0 square, 1 ellipse, 2 heart                     (categorical)
    scale     0.5, 0.6, ..., 1.0: the shape's circumradius is RADIUS * scale (in units of half the image width)
    rotation  0, 45, ..., 315 degrees, counter-clockwise on screen (circular; a square repeats every 90 degrees, the
              ellipse every 180, the heart not at all: the factor is not identifiable from the image alone)
    x         horizontal centre, -POSITION ... +POSITION, left to right
    y         vertical centre, -POSITION ... +POSITION, top to bottom (like image rows)

Geometry, in image coordinates [-1, 1]^2 (a pixel is 2 / S wide), for circumradius r (every shape fits in the
disc of radius r about its centre, so POSITION + RADIUS < 1 keeps it inside the image):
    square   half side r / sqrt 2                                       area 2 r^2
    ellipse  semi-axes r (horizontal at rotation 0) and r / 2           area pi r^2 / 2
    heart    a square of side a turned 45 degrees with two discs of diameter a on its upper edges, shifted so its
             bounding box is centred; a = r / HEART_CIRCUMRADIUS            area a^2 (1 + pi / 4)
Each pixel is the fraction of `antialias` x `antialias` sample points of its area inside the shape (k / antialias^2:
`antialias` 1 gives binary images). Rendering is deterministic; only the train / test split is seeded.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

FACTOR_NAMES = ("shape", "scale", "rotation", "x", "y")
FACTOR_KINDS = ("categorical", "continuous", "circular", "continuous", "continuous")
SHAPE_NAMES = ("square", "ellipse", "heart")
RADIUS = 0.4  # circumradius at scale 1, in units of half the image width
POSITION = 35 / 64  # centres span [-POSITION, POSITION] on both axes: 2.5 pixels apart at size 32
FACTOR_VALUES: dict[str, tuple[float, ...]] = {
    "shape": (0.0, 1.0, 2.0),
    "scale": tuple(np.round(np.linspace(0.5, 1.0, 6), 10).tolist()),
    "rotation": tuple((2 * math.pi * np.arange(8) / 8).tolist()),
    "x": tuple(((np.arange(8) * 10 - 35) / 64).tolist()),  # exact binary fractions
    "y": tuple(((np.arange(8) * 10 - 35) / 64).tolist()),
}
# heart of side a = 1: diamond |u| + |v| <= 1/sqrt 2, discs of radius 1/2 at (+-1/(2 sqrt 2), 1/(2 sqrt 2));
# top at 1/(2 sqrt 2) + 1/2, bottom tip at -1/sqrt 2; shift down by half their sum to centre the bounding box.
_H = 1 / (2 * math.sqrt(2))
HEART_SHIFT = (_H + 0.5 - 2 * _H) / 2
HEART_CIRCUMRADIUS = max(math.hypot(_H, _H - HEART_SHIFT) + 0.5, 2 * _H + HEART_SHIFT)
SHAPE_AREAS = (2.0, math.pi / 2, (1 + math.pi / 4) / HEART_CIRCUMRADIUS**2)  # area / r^2 of each shape
_CHUNK_POINTS = 2**22  # sample points evaluated at once


def _inside(shape: int, r: np.ndarray, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether points (u, v) in the shape's own frame (y up, centred, unrotated) lie inside it (circumradius r)."""
    if shape == 0:  # square
        return np.maximum(np.abs(u), np.abs(v)) <= r / math.sqrt(2)
    if shape == 1:  # ellipse
        return (u / r) ** 2 + (2 * v / r) ** 2 <= 1.0
    a = r / HEART_CIRCUMRADIUS  # heart of side a
    hu, hv = np.abs(u / a), v / a + HEART_SHIFT
    return (hu + np.abs(hv) <= 2 * _H) | ((hu - _H) ** 2 + (hv - _H) ** 2 <= 0.25)


def _samples(shape, scale, rotation, x, y, px: np.ndarray, py: np.ndarray) -> np.ndarray:
    """Inside-tests (B, P) of B shapes at the sample points (px, py) (1, P) of image coordinates (y down)."""
    out = np.empty((len(shape), px.shape[1]), dtype=bool)
    for k in np.unique(shape).astype(int):
        if not 0 <= k < len(SHAPE_NAMES):
            raise ValueError(f"shape index must be 0 ({SHAPE_NAMES[0]}), 1 or 2, got {k}")
        m = shape[:, 0] == k
        du, dv = px - x[m], -(py - y[m])  # relative to the centre, y up
        c, sn = np.cos(rotation[m]), np.sin(rotation[m])
        # rotate the point by -rotation: the shape turns by +rotation (counter-clockwise on screen)
        out[m] = _inside(k, RADIUS * scale[m], c * du + sn * dv, -sn * du + c * dv)
    return out


def _coords(n: int, first: int = 0) -> np.ndarray:
    """Coordinates in [-1, 1] of samples first, ..., n - 1 of n evenly spaced across the image (first < 0 reaches
    beyond its left / top edge)."""
    return (np.arange(first, n) + 0.5) / n * 2 - 1


def render_shapes(shape, scale, rotation, x, y, size: int = 32, antialias: int = 4) -> torch.Tensor:
    """Images (B, 1, size, size) float32 in [0, 1] of shapes with the given factor values (each a length-B array or
    a scalar; shape an index into SHAPE_NAMES, rotation in radians counter-clockwise, x / y centres in [-1, 1] with
    y downwards). Pixel value = fraction of antialias^2 evenly spaced sample points inside the shape."""
    cols = [np.atleast_1d(np.asarray(f, dtype=np.float64)) for f in (shape, scale, rotation, x, y)]
    shape, scale, rotation, x, y = (c[:, None] for c in np.broadcast_arrays(*cols))
    n = size * antialias
    px, py = np.meshgrid(_coords(n), _coords(n))  # px varies along columns, py along rows
    px, py = px.ravel()[None], py.ravel()[None]
    out = np.empty((len(shape), size, size), dtype=np.float32)
    chunk = max(1, _CHUNK_POINTS // (n * n))
    for i in range(0, len(shape), chunk):
        s = slice(i, i + chunk)
        inside = _samples(shape[s], scale[s], rotation[s], x[s], y[s], px, py)
        out[s] = inside.reshape(-1, size, antialias, size, antialias).mean(axis=(2, 4), dtype=np.float64)
    return torch.from_numpy(out).unsqueeze(1)


def _sample_shifts(size: int, antialias: int) -> np.ndarray | None:
    """The positions as whole numbers of sample steps from the first one, or None if some are not."""
    step = 2.0 / (size * antialias)
    m = (np.asarray(FACTOR_VALUES["x"]) - FACTOR_VALUES["x"][0]) / step
    return np.round(m).astype(int) if np.allclose(m, np.round(m), atol=1e-9) else None


def _render_grid(size: int, antialias: int) -> torch.Tensor:
    """`render_shapes` of every factor combination in `factor_grid` order. When the positions are whole sample
    steps apart, each (shape, scale, rotation) is rendered once on a canvas reaching the farthest shift and the
    64 positions are crops of it: exact translations of one another (the same sample points, shifted)."""
    shifts = _sample_shifts(size, antialias)
    if shifts is None:
        return render_shapes(*factor_values(factor_grid()).numpy().T, size=size, antialias=antialias)
    n, a, top = size * antialias, antialias, int(shifts[-1])
    t = _coords(n, -top)  # canvas: sample index i - shift for every shift
    cx, cy = np.meshgrid(t, t)
    cx, cy = cx.ravel()[None], cy.ravel()[None]
    x0, y0 = FACTOR_VALUES["x"][0], FACTOR_VALUES["y"][0]
    nx, ny = len(FACTOR_VALUES["x"]), len(FACTOR_VALUES["y"])
    out = np.empty((len(FACTOR_VALUES["shape"]), len(FACTOR_VALUES["scale"]), len(FACTOR_VALUES["rotation"]),
                    nx, ny, size, size), dtype=np.float32)
    starts = top - shifts[:, None] + a * np.arange(size)[None]  # (8, size): first canvas sample of each pixel
    rows, cols = starts[None, :, :, None], starts[:, None, None, :]  # out[p, q] = x shift p (columns), y shift q
    for i, j, k in np.ndindex(*out.shape[:3]):
        col = (np.full((1, 1), v) for v in (i, FACTOR_VALUES["scale"][j], FACTOR_VALUES["rotation"][k], x0, y0))
        canvas = _samples(*col, cx, cy).reshape(n + top, n + top)
        integral = np.zeros((n + top + 1, n + top + 1), dtype=np.int64)  # summed-area table
        integral[1:, 1:] = canvas.cumsum(0).cumsum(1)
        block = integral[a:, a:] - integral[:-a, a:] - integral[a:, :-a] + integral[:-a, :-a]  # a x a sums
        out[i, j, k] = block[rows, cols] / a**2
    return torch.from_numpy(out.reshape(-1, 1, size, size))


def factor_grid() -> np.ndarray:
    """Every combination of factor indices, (N, 5) int64 in FACTOR_NAMES order, the last factor varying fastest."""
    sizes = [len(FACTOR_VALUES[k]) for k in FACTOR_NAMES]
    return np.stack(np.unravel_index(np.arange(math.prod(sizes)), sizes), axis=1).astype(np.int64)


def factor_values(index: np.ndarray | torch.Tensor) -> torch.Tensor:
    """Factor values (N, 5) float64 of factor indices (N, 5) (shape as 0, 1, 2; rotation in radians)."""
    index = torch.as_tensor(index).long()
    cols = [torch.tensor(FACTOR_VALUES[k], dtype=torch.float64)[index[:, j]] for j, k in enumerate(FACTOR_NAMES)]
    return torch.stack(cols, 1)


@lru_cache(maxsize=2)
def _all_images(size: int, antialias: int) -> torch.Tensor:
    return _render_grid(size, antialias)


def shapes_images(size: int = 32, antialias: int = 4) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole grid: images (9216, 1, size, size) float32 and factor indices (9216, 5) int64 (`factor_grid`).
    The images are rendered once per (size, antialias) and kept; callers get a copy they may change."""
    return _all_images(size, antialias).clone(), torch.from_numpy(factor_grid())
