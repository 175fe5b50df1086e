"""A tiny image-grid writer (matplotlib only) for the diffusion benchmarks."""

from __future__ import annotations

import math
from pathlib import Path


def save_grid(x, path, nrow: int | None = None) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = x.detach().cpu().clamp(0, 1)
    n, c, h, w = x.shape
    nrow = nrow or int(math.ceil(math.sqrt(n)))
    ncol = int(math.ceil(n / nrow))
    import torch

    grid = torch.ones(c, ncol * (h + 2), nrow * (w + 2))
    for i in range(n):
        r, q = divmod(i, nrow)
        grid[:, r * (h + 2) + 1 : r * (h + 2) + 1 + h, q * (w + 2) + 1 : q * (w + 2) + 1 + w] = x[i]
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    plt.imsave(str(path), grid[0].numpy() if c == 1 else grid.permute(1, 2, 0).numpy(), cmap="gray", vmin=0, vmax=1)
