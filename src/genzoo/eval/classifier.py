"""The project's MNIST classifier: labels stacked-MNIST modes and gives penultimate features for FID-MNIST.

A small CNN (about 0.13 M parameters, 0.5 MB in float32) trained by benchmarks/train_mnist_classifier.py on the
8,000 MNIST-10k training images (random shifts of up to 2 pixels); held-out accuracy on the 2,000 test images is
stored in the weights file's metadata. Weights ship as safetensors under genzoo/eval/assets/ and load through
safetensors only (never pickle).

    logits = classifier(x)            # x: float (N, 1, 28, 28) in [0, 1]
    feats = classifier.features(x)    # (N, 128) penultimate activations (after ReLU)

`train_classifier(x, y, steps=...)` is the recipe that trained the shipped weights, as a function: Adam (lr 1e-3)
with a cosine decay to 0 over `steps`, batches of 128 drawn epoch by epoch from a seeded permutation, each image
shifted by up to 2 pixels, dropout 0.3. The classification accuracy score (genzoo.eval.cas) and the augmentation
experiment (genzoo.lab.augment) train fresh classifiers with it.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.errors import CheckpointError, DataError

ASSET = Path(__file__).resolve().parent / "assets" / "mnist_classifier.safetensors"
FEATURE_DIM = 128
NUM_CLASSES = 10
RECIPE_STEPS = 1550  # the shipped weights: 25 epochs of the 8,000 images in batches of 128


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


def random_shift(x: Tensor, generator: torch.Generator, max_shift: int = 2) -> Tensor:
    """Each image of x (N, C, H, W) moved by an independent integer offset in [-max_shift, max_shift] along each
    axis, the uncovered border filled with 0 (zero padding, then a crop at the drawn offset)."""
    n, c, h, w = x.shape
    pad = F.pad(x, (max_shift,) * 4)
    dx = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    dy = torch.randint(0, 2 * max_shift + 1, (n,), generator=generator)
    rows = (dy[:, None] + torch.arange(h)[None]).view(n, 1, h, 1).expand(n, c, h, w + 2 * max_shift)
    cols = (dx[:, None] + torch.arange(w)[None]).view(n, 1, 1, w).expand(n, c, h, w)
    return pad.gather(2, rows).gather(3, cols)


def _check_labelled(x: Tensor, y: Tensor, where: str) -> tuple[Tensor, Tensor]:
    x = _check(x)
    y = torch.as_tensor(y)
    if y.dim() != 1 or len(y) != len(x) or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise DataError(f"{where}: labels must be integers of shape ({len(x)},), got {y.dtype} {tuple(y.shape)}")
    if len(y) and (int(y.min()) < 0 or int(y.max()) >= NUM_CLASSES):
        raise DataError(f"{where}: labels must lie in [0, {NUM_CLASSES}), got [{int(y.min())}, {int(y.max())}]")
    if not torch.isfinite(x).all():
        raise DataError(f"{where}: images contain NaN or inf")
    return x, y.long()


def train_classifier(x: Tensor, y: Tensor, *, steps: int = RECIPE_STEPS, batch_size: int = 128, seed: int = 0,
                     device: str | torch.device | None = None, progress: bool = False,
                     lr: float = 1e-3) -> MNISTClassifier:
    """A fresh MNISTClassifier trained on images x (N, 1, 28, 28) in [0, 1] with digit labels y, in eval mode.

    The shipped recipe (module docstring) for `steps` Adam steps. Deterministic for a given seed (the weights'
    initialisation, the permutations, the shifts and dropout all draw from it); the global torch RNG is left as it
    was. `device` None: CUDA when available, else the CPU.
    """
    x, y = _check_labelled(x, y, "train_classifier")
    if isinstance(steps, bool) or int(steps) != steps or steps < 1:
        raise DataError(f"train_classifier: steps must be a positive integer, got {steps!r}")
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise DataError(f"train_classifier: batch_size must be a positive integer, got {batch_size!r}")
    if len(x) < batch_size:
        raise DataError(f"train_classifier: {len(x)} images are fewer than one batch of {batch_size}")
    dev = torch.device(device if device is not None else ("cuda" if torch.cuda.is_available() else "cpu"))
    from tqdm.auto import tqdm

    g = torch.Generator().manual_seed(int(seed))
    with torch.random.fork_rng(devices=[dev] if dev.type == "cuda" else []):
        torch.manual_seed(int(seed))
        model = MNISTClassifier().to(dev)
        opt = torch.optim.Adam(model.parameters(), lr=lr)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, int(steps))
        model.train()
        per_epoch = len(x) // batch_size
        bar = tqdm(total=int(steps), desc="classifier", disable=not progress, leave=False)
        step = 0
        for _ in range(math.ceil(steps / per_epoch)):
            perm = torch.randperm(len(x), generator=g)
            for i in range(min(per_epoch, steps - step)):
                idx = perm[i * batch_size:(i + 1) * batch_size]
                xb = random_shift(x[idx], g).to(dev)
                loss = F.cross_entropy(model(xb), y[idx].to(dev))
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
                step += 1
                bar.update(1)
        bar.close()
    return model.eval()


@torch.no_grad()
def classifier_accuracy(classifier: MNISTClassifier, x: Tensor, y: Tensor, batch_size: int = 1000) -> float:
    """Fraction of images x whose predicted digit equals the label y."""
    x, y = _check_labelled(x, y, "classifier_accuracy")
    if not len(x):
        raise DataError("classifier_accuracy: no test images")
    was_training = classifier.training
    classifier.eval()
    pred = classify_digits(x, batch_size, classifier)
    classifier.train(was_training)
    return float((pred == y).double().mean())
