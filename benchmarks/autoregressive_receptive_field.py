"""The receptive fields of pixelcnn (blind spot) and gated-pixelcnn (none), as gradient maps: one PNG.

    python benchmarks/autoregressive_receptive_field.py --out docs/results/autoregressive

For the pixel marked x of a 12 x 12 image, |d params / d input| of untrained models (6 blocks / layers, 7x7 first
layer, 3x3 after; `genzoo.models.autoregressive.receptive_field`) on a log scale: white is exactly zero. Pixels
before x in raster order that stay white are pixelcnn's blind spot (up and to the right).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from genzoo.models import create
from genzoo.models.autoregressive import receptive_field


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="docs/results/autoregressive")
    ap.add_argument("--size", type=int, default=12)
    ap.add_argument("--blocks", type=int, default=6)
    args = ap.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    s = args.size
    pixel = (s * 5 // 8, s // 2)
    fig, axes = plt.subplots(1, 2, figsize=(8, 4.3))
    for ax, name in zip(axes, ["pixelcnn", "gated-pixelcnn"]):
        torch.manual_seed(0)
        m = create(name, data_shape=(1, s, s), channels=32, out_channels=32, blocks=args.blocks)
        field = receptive_field(m, pixel, n=8)
        earlier = torch.arange(s * s).reshape(s, s) < pixel[0] * s + pixel[1]
        blind = int((earlier & (field == 0)).sum())
        img = torch.where(field > 0, field.clamp_min(1e-12).log10(), torch.tensor(float("nan")))
        cmap = plt.get_cmap("viridis").copy()
        cmap.set_bad("white")
        ax.imshow(img.numpy(), cmap=cmap)
        ax.plot(pixel[1], pixel[0], "rx", ms=10, mew=2)
        ax.set_title(f"{name}: {blind} earlier pixels unseen")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"log10 |d output(x) / d input|, {s}x{s} image, {args.blocks} blocks (white: exactly 0)")
    fig.tight_layout()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    fig.savefig(out / "receptive_field.png", dpi=110)
    print(out / "receptive_field.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
