"""Shared helpers of the GAN benchmarks and the classifier script: MNIST-10k loading with an IDX fallback."""

from __future__ import annotations

import gzip
import os
import struct
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def _read_idx(path: Path) -> torch.Tensor:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = struct.unpack(">i", data[:4])[0] & 0xFF
    shape = struct.unpack(">" + "i" * ndim, data[4: 4 + 4 * ndim])
    return torch.frombuffer(bytearray(data[4 + 4 * ndim:]), dtype=torch.uint8).reshape(shape)


def load_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor, str]:
    """(x float32 (N, 1, 28, 28) in [0, 1], y int64, source): genzoo.data.get when it works, else IDX files."""
    try:
        from genzoo.data import get

        ds = get("mnist", split=split)
        return ds.x.float(), ds.y.long(), "genzoo.data.get('mnist')"
    except Exception as e:  # noqa: BLE001  genzoo.data may not be finished
        reason = type(e).__name__
    prefix = "train" if split == "train" else "t10k"
    for r in [os.environ.get("GENZOO_MNIST", ""), str(ROOT / "src/genzoo/data/assets/mnist-10k"),
              "/work/shared/data/mnist-10k"]:
        p = Path(r) / f"{prefix}-images-idx3-ubyte.gz"
        if r and p.is_file():
            x = _read_idx(p).float().div(255).unsqueeze(1)
            y = _read_idx(Path(r) / f"{prefix}-labels-idx1-ubyte.gz").long()
            return x, y, f"IDX files in {r} (genzoo.data unavailable: {reason})"
    raise SystemExit("MNIST-10k not found")
