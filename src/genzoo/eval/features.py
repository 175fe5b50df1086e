"""Feature extractors for the sample metrics, each named with the checksum of its weights.

    feats, info = features(x, extractor="auto")

- "mnist": the project's MNIST classifier (genzoo.eval.classifier), eval mode, its 128-d penultimate activations;
  with it the Frechet distance is "FID-MNIST", comparable between runs of this project only.
- "inception": Inception-v3 pool3 (2048-d) features of images resized to 299 x 299, as in FID (Heusel et al. 2017)
  and KID. genzoo never downloads weights: pass `weights=` a safetensors file holding torchvision's `inception_v3`
  state dict (torchvision must be installed to build the network); a missing piece is one clear error.
- "raw": the flattened values (2-D points, or any data a user wants compared as is).
- "auto": "mnist" for (N, 1, 28, 28) images, "raw" otherwise.

`info` = {"extractor", "dim", "sha256"} records what produced the features (sha256 of the weights file; None for
"raw"). Extraction is batched and runs on `device` (default: the device of x).
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from genzoo.errors import ConfigError, DataError, unknown_name

EXTRACTORS = ("auto", "mnist", "inception", "raw")


@lru_cache(maxsize=8)
def _sha256(path: str, mtime: float) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def file_sha256(path: str | os.PathLike) -> str:
    """The sha256 of a file (cached while the file is unchanged)."""
    p = str(Path(path).resolve())
    return _sha256(p, os.path.getmtime(p))


def resolve_extractor(x: Tensor, extractor: str = "auto") -> str:
    if extractor not in EXTRACTORS:
        raise unknown_name("feature extractor", extractor, EXTRACTORS)
    if extractor != "auto":
        return extractor
    return "mnist" if x.dim() == 4 and tuple(x.shape[1:]) == (1, 28, 28) else "raw"


def _inception(weights: str | os.PathLike | None, device: torch.device):
    if weights is None:
        raise ConfigError('the "inception" extractor needs Inception-v3 weights: pass weights=PATH (--weights), a '
                          "safetensors file of torchvision's inception_v3 state dict (genzoo never downloads them)")
    path = Path(weights)
    if not path.is_file():
        raise ConfigError(f"{path}: no such Inception-v3 weights file")
    try:
        from torchvision.models import inception_v3
    except ImportError:
        raise ConfigError('the "inception" extractor builds Inception-v3 with torchvision, which is not installed '
                          "(pip install torchvision)") from None
    from genzoo.io import load_tensors

    net = inception_v3(weights=None, aux_logits=True, init_weights=False)
    net.load_state_dict(load_tensors(path), strict=False)
    net.fc = torch.nn.Identity()
    return net.eval().to(device)


@torch.no_grad()
def features(x: Tensor, extractor: str = "auto", weights: str | os.PathLike | None = None,
             device: str | torch.device | None = None, batch_size: int = 500) -> tuple[Tensor, dict[str, Any]]:
    """(features (N, D) float32 on the CPU, info) of images in [0, 1] (N, C, H, W) or points (N, D)."""
    x = torch.as_tensor(x)
    if x.dim() < 2 or len(x) == 0:
        raise DataError(f"features: expected a batch (N, ...) with N >= 1, got shape {tuple(x.shape)}")
    if not torch.isfinite(x.float()).all():
        raise DataError("features: the samples contain NaN or inf")
    name = resolve_extractor(x, extractor)
    dev = torch.device(device) if device is not None else x.device
    if name == "raw":
        return x.detach().float().flatten(1).cpu(), {"extractor": "raw", "dim": x[0].numel(), "sha256": None}
    if name == "mnist":
        from genzoo.eval.classifier import ASSET, load_mnist_classifier, mnist_features

        clf = load_mnist_classifier(dev)
        f = mnist_features(x.to(dev), batch_size=batch_size, classifier=clf)
        return f, {"extractor": "mnist-classifier", "dim": f.shape[1], "sha256": file_sha256(ASSET)}
    if x.dim() != 4 or x.shape[1] not in (1, 3):
        raise DataError(f'features: the "inception" extractor takes images (N, 1 or 3, H, W), got {tuple(x.shape)}')
    net = _inception(weights, dev)
    mean = torch.tensor([0.485, 0.456, 0.406], device=dev).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225], device=dev).view(1, 3, 1, 1)
    out = []
    for i in range(0, len(x), batch_size):
        b = x[i:i + batch_size].to(dev).float()
        b = b.expand(-1, 3, -1, -1) if b.shape[1] == 1 else b
        b = torch.nn.functional.interpolate(b, size=(299, 299), mode="bilinear", align_corners=False)
        out.append(net((b - mean) / std).cpu())
    f = torch.cat(out)
    return f, {"extractor": "inception-v3", "dim": f.shape[1], "sha256": file_sha256(weights)}
