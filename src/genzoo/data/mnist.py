"""MNIST-format image sets (IDX files), Stacked MNIST, and scikit-learn's 8x8 digits.

The package ships MNIST-10k (assets/mnist-10k): the first 10,000 images of the MNIST training set (LeCun, Cortes,
Burges; CC BY-SA 3.0), shuffled with seed 20261124 and split 8,000 train / 2,000 test. It is NOT full MNIST: its
"t10k" files hold 2,000 held-out training images, not the official test set. Full MNIST, Fashion-MNIST and KMNIST
use the same file names and format: pass their folder as `root`.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from genzoo.data.idx import read_idx, verify_checksum
from genzoo.errors import ConfigError, DataError, unknown_name

ASSETS = Path(__file__).resolve().parent / "assets"
MNIST10K = ASSETS / "mnist-10k"

# split -> (images stem, labels stem); each also found with ".gz", and with the "-idx3-ubyte" -> ".idx3-ubyte"
# spelling some mirrors use
MNIST_FILES = {"train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
               "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")}
SPLIT_ALIASES = {"train": "train", "test": "test", "val": "test", "valid": "test", "validation": "test"}


def canonical_split(split: str) -> str:
    """"train" or "test" ("val", "valid", "validation" mean the held-out split)."""
    if split not in SPLIT_ALIASES:
        raise unknown_name("split", split, SPLIT_ALIASES)
    return SPLIT_ALIASES[split]


def _find(root: Path, stem: str) -> Path:
    """The file `stem` in `root` (or in `root/raw`, torchvision's layout), raw or .gz, either spelling."""
    alt = stem.replace("-idx", ".idx")
    for folder in (root, root / "raw"):
        for c in (folder / stem, folder / f"{stem}.gz", folder / alt, folder / f"{alt}.gz"):
            if c.is_file():
                return c
    expected = ", ".join(s for pair in MNIST_FILES.values() for s in pair)
    raise DataError(f"{root}: missing {stem}[.gz]; expected the MNIST IDX files {expected} (raw or .gz, in the "
                    f"folder or its raw/ sub-folder)")


def load_mnist(root: str | os.PathLike | None = None, split: str = "train", *, verify: bool | None = None
               ) -> tuple[Tensor, Tensor]:
    """Images (N, 1, H, W) uint8 and labels (N,) int64 from a folder of MNIST-format IDX files.

    `root=None` loads the shipped MNIST-10k (8,000 train / 2,000 test) and verifies its SHA-256 checksums.
    For a user folder, checksums are verified when it holds a ``SHA256SUMS`` file (or `verify=True` demands one).
    `split` is "train" (train-*) or "test" (t10k-*). The files may also sit in ``root/raw/`` (the layout torchvision
    downloads to, e.g. ``root=".../MNIST"`` or ``".../FashionMNIST"``).
    """
    split = canonical_split(split)
    shipped = root is None
    folder = MNIST10K if shipped else Path(root).expanduser()
    if not folder.exists():
        raise DataError(f"{folder}: MNIST folder does not exist; expected a folder with train-images-idx3-ubyte[.gz], "
                        f"train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz]")
    if not folder.is_dir():
        raise DataError(f"{folder}: not a folder; expected a folder of MNIST IDX files")
    paths = [_find(folder, stem) for stem in MNIST_FILES[split]]
    sums = paths[0].parent / "SHA256SUMS"  # beside the files (the folder, or its raw/)
    if verify is None:
        verify = shipped or sums.is_file()
    if verify and not sums.is_file():
        raise DataError(f"{sums}: checksum file missing; expected sha256sum output for the IDX files")
    if verify:
        for p in paths:
            verify_checksum(p, sums)
    images, labels = (read_idx(p) for p in paths)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise DataError(f"{paths[0]}: expected uint8 images of shape (N, H, W), got {images.dtype} {images.shape}")
    if labels.ndim != 1:
        raise DataError(f"{paths[1]}: expected labels of shape (N,), got {labels.shape}")
    if len(labels) != len(images):
        raise DataError(f"{paths[1]}: {len(labels)} labels for {len(images)} images in {paths[0].name}")
    return torch.from_numpy(images).unsqueeze(1), torch.from_numpy(labels.astype(np.int64))


def stacked_mnist(n: int, seed: int | None = 0, *, split: str = "train", root: str | os.PathLike | None = None
                  ) -> tuple[Tensor, Tensor]:
    """Stacked MNIST (Srivastava et al. 2017; Lin et al. 2018): `n` images (n, 3, 28, 28) uint8 whose channels are
    three MNIST digits drawn independently and uniformly from `split`, and labels 100 d1 + 10 d2 + d3 in 0..999
    (1,000 modes). Deterministic per `seed`."""
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError(f"stacked-mnist: n must be a non-negative integer, got {n!r}")
    images, labels = load_mnist(root, split)
    g = torch.Generator().manual_seed(int(seed)) if seed is not None else None
    if g is None:
        g = torch.Generator()
        g.seed()
    idx = torch.randint(0, len(images), (int(n), 3), generator=g)
    x = images[idx, 0]  # (n, 3, H, W)
    d = labels[idx]
    return x.contiguous(), 100 * d[:, 0] + 10 * d[:, 1] + d[:, 2]


def load_digits() -> tuple[Tensor, Tensor]:
    """scikit-learn's 8x8 handwritten digits (UCI; 1,797 images, levels 0..16, shipped with scikit-learn):
    images (N, 1, 8, 8) float32 = level / 16 in [0, 1], labels (N,) int64."""
    from sklearn.datasets import load_digits as _sk_digits

    d = _sk_digits()
    x = torch.from_numpy(np.asarray(d.images, dtype=np.float32) / 16.0).unsqueeze(1)
    return x, torch.from_numpy(np.asarray(d.target, dtype=np.int64))
