"""Shared helpers of the GAN benchmarks and the classifier script: puts src/ on the path, loads MNIST-10k."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def load_mnist(split: str = "train") -> tuple[torch.Tensor, torch.Tensor, str]:
    """(x float32 (N, 1, 28, 28) in [0, 1], y int64, source) of the MNIST-10k shipped with genzoo."""
    from genzoo.data import get

    ds = get("mnist", split=split)
    return ds.x.float(), ds.y.long(), "genzoo.data.get('mnist')"
