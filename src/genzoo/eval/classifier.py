"""The project's MNIST classifier: labels stacked-MNIST modes and gives penultimate features for FID-MNIST.

A small CNN (about 0.13 M parameters, 0.5 MB in float32) trained by benchmarks/train_mnist_classifier.py on the
8,000 MNIST-10k training images (random shifts of up to 2 pixels); held-out accuracy on the 2,000 test images is
stored in the weights file's metadata. Weights ship as safetensors under genzoo/eval/assets/ and load through
safetensors only (never pickle).

    logits = classifier(x)            # x: float (N, 1, 28, 28) in [0, 1]
    feats = classifier.features(x)    # (N, 128) penultimate activations (after ReLU)

`train_classifier(x, y, steps=...)` is the recipe (Adam 1e-3 with cosine decay, batch 128, dropout 0.3, random
shifts of up to 2 pixels) as a function: the shipped weights came from it, and the classification accuracy score
(genzoo.eval.cas) trains a fresh classifier the same way on generated digits.
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.errors import CheckpointError, DataError

ASSET = Path(__file__).resolve().parent / "assets" / "mnist_classifier.safetensors"
FEATURE_DIM = 128


class MNISTClassifier(nn.Module):
    """conv3x3(32) -> pool -> conv3x3(64) -> pool -> conv3x3(64) -> pool -> fc(128) -> fc(10), ReLU throughout."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.conv3 = nn.Conv2d(64, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 3 * 3, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, 10)
        self.dropout = nn.Dropout(0.3)

    def features(self, x: Tensor) -> Tensor:
        """Penultimate (FEATURE_DIM) features of images x in [0, 1], shape (N, 1, 28, 28)."""
        h = (x - 0.1307) / 0.3081
        h = F.max_pool2d(F.relu(self.conv1(h)), 2)  # 14
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)  # 7
        h = F.max_pool2d(F.relu(self.conv3(h)), 2)  # 3
        return F.relu(self.fc1(h.flatten(1)))

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.dropout(self.features(x)))


def classifier_metadata(path: str | Path = ASSET) -> dict:
    """The metadata stored with the weights (accuracy, training recipe)."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        meta = f.metadata() or {}
    return {k: json.loads(v) if v[:1] in "[{" else v for k, v in meta.items()}


@lru_cache(maxsize=4)
def _load(path: str) -> MNISTClassifier:
    from genzoo.io import load_tensors

    p = Path(path)
    if not p.is_file():
        raise CheckpointError(f"{p}: the MNIST classifier's weights are missing; train them with "
                              "`python benchmarks/train_mnist_classifier.py`")
    model = MNISTClassifier()
    model.load_state_dict(load_tensors(p), strict=True)
    return model.eval()


def load_mnist_classifier(device: str | torch.device = "cpu", path: str | Path = ASSET) -> MNISTClassifier:
    """The shipped classifier in eval mode on `device` (cached; safetensors only)."""
    return _load(str(path)).to(device)


def _check(x: Tensor) -> Tensor:
    if x.dim() == 3:
        x = x.unsqueeze(1)
    if x.dim() != 4 or tuple(x.shape[1:]) != (1, 28, 28):
        raise DataError(f"MNIST classifier: expected images of shape (N, 1, 28, 28), got {tuple(x.shape)}")
    return x.float()


@torch.no_grad()
def classify_digits(x: Tensor, batch_size: int = 1000, classifier: MNISTClassifier | None = None) -> Tensor:
    """Predicted digit (int64, (N,)) of each image in [0, 1], shape (N, 1, 28, 28) or (N, 28, 28)."""
    x = _check(x)
    clf = classifier or load_mnist_classifier()
    dev = next(clf.parameters()).device
    return torch.cat([clf(x[i:i + batch_size].to(dev)).argmax(1).cpu() for i in range(0, len(x), batch_size)]) \
        if len(x) else torch.zeros(0, dtype=torch.long)


@torch.no_grad()
def mnist_features(x: Tensor, batch_size: int = 1000, classifier: MNISTClassifier | None = None) -> Tensor:
    """Penultimate features (N, 128) of the shipped classifier (for FID-MNIST)."""
    x = _check(x)
    clf = classifier or load_mnist_classifier()
    dev = next(clf.parameters()).device
    return torch.cat([clf.features(x[i:i + batch_size].to(dev)).cpu() for i in range(0, len(x), batch_size)])


def random_shift(x: Tensor, g: torch.Generator, max_shift: int = 2) -> Tensor:
    """Each image moved by its own random (dx, dy) in [-max_shift, max_shift]^2, zeros shifted in."""
    n, _, h, w = x.shape
    pad = F.pad(x, (max_shift,) * 4)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=g).to(x.device)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=g).to(x.device)
    rows = (dy[:, None] + torch.arange(h, device=x.device)[None]).view(n, 1, h, 1).expand(n, 1, h, w + 2 * max_shift)
    out = pad.gather(2, rows)
    cols = (dx[:, None] + torch.arange(w, device=x.device)[None]).view(n, 1, 1, w).expand(n, 1, h, w)
    return out.gather(3, cols)


@torch.no_grad()
def classifier_accuracy(model: MNISTClassifier, x: Tensor, y: Tensor, batch_size: int = 1000) -> float:
    """Fraction of images x (N, 1, 28, 28) whose predicted digit equals y."""
    if len(x) == 0:
        raise DataError("classifier_accuracy: no images")
    return float((classify_digits(x, batch_size, model) == torch.as_tensor(y).cpu().long()).double().mean())


def train_classifier(x: Tensor, y: Tensor, *, steps: int = 1500, batch_size: int = 128, lr: float = 1e-3,
                     seed: int = 0, device: str | torch.device | None = None, progress: bool = False,
                     log_every: int = 0) -> MNISTClassifier:
    """A fresh MNISTClassifier trained on images x (N, 1, 28, 28) in [0, 1] and digits y for `steps` steps of the
    shipped recipe; returned in eval mode. Seeded: the same arguments give the same weights."""
    from tqdm.auto import tqdm

    x, y = _check(torch.as_tensor(x)), torch.as_tensor(y).long()
    if len(x) != len(y) or len(x) == 0:
        raise DataError(f"train_classifier: {len(x)} images and {len(y)} labels")
    if y.min() < 0 or y.max() > 9:
        raise DataError(f"train_classifier: digits must be in 0..9, got {int(y.min())}..{int(y.max())}")
    dev = torch.device(device) if device is not None else x.device
    g = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)  # initial weights and dropout
    model = MNISTClassifier().to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, steps)
    b = min(batch_size, len(x))
    perm, pos = torch.randperm(len(x), generator=g), 0
    model.train()
    for step in tqdm(range(steps), desc="classifier", disable=not progress, unit="step"):
        if pos + b > len(x):
            perm, pos = torch.randperm(len(x), generator=g), 0
        idx = perm[pos:pos + b]
        pos += b
        loss = F.cross_entropy(model(random_shift(x[idx].to(dev), g)), y[idx].to(dev))
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if log_every and (step + 1) % log_every == 0:
            print(f"step {step + 1}: loss {loss.item():.4f}", flush=True)
    return model.eval()
