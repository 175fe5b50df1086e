"""Generated data for augmentation: does adding class-conditional samples to a small real training set help a
classifier? (the augmentation question of Ravuri & Vinyals 2019, at MNIST scale).

For each seed s and each N in `n_per_class`, a fresh MNISTClassifier (genzoo.eval.train_classifier, the shipped
recipe, `steps` steps, seed s) is trained on

    D(N, s) = R_s  u  G_N,      R_s: n_real real images (the first n_real of a permutation seeded by s),
                                G_N: N generated images per class, (x, y) with x ~ p_model(x | y),

and scored on the real test set: a(N, s). Reported per N: the accuracies over the seeds, their mean and standard
deviation (ddof = 1) and standard error, and the paired difference d(N, s) = a(N, s) - a(0, s) (same real subset,
same classifier seed) with its mean and spread. The N = 0 row is the real-only classifier. The generated pool is
drawn once (`sample_seed`), balanced by the model's label rule (`sample_labels`: labels cycle 0, 1, ..., K-1), and
G_N is the first N images of each class in it, so the sets are nested: G_1000 is part of G_5000.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor

from genzoo.errors import ConfigError, DataError
from genzoo.eval.classifier import RECIPE_STEPS, classifier_accuracy, train_classifier


def num_classes_of(model) -> int:
    """The model's number of labels; ConfigError (one line) for an unconditional model."""
    k = int(getattr(getattr(model, "config", None), "num_classes", 0) or 0)
    if k < 1:
        name = getattr(model, "name", type(model).__name__)
        raise ConfigError(f"{name} is unconditional (num_classes = 0): generated data for augmentation needs a "
                          "class-conditional model (train one on labelled data, e.g. cvae, cgan, ddpm or pixelcnn "
                          "with num_classes)")
    return k


@torch.no_grad()
def labelled_samples(model, n: int, *, seed: int = 0, batch_size: int = 500, progress: bool = False
                     ) -> tuple[Tensor, Tensor]:
    """(x, y): n samples of a conditional model on the CPU, labels by the model's own rule (`sample_labels(n)`:
    0, 1, ..., K-1 cycling, so every class gets n // K or n // K + 1), drawn in batches under torch.manual_seed(seed)
    (the global RNG is restored afterwards). Images are clipped to [0, 1], the data's range."""
    num_classes_of(model)
    if isinstance(n, bool) or int(n) != n or n < 1:
        raise ConfigError(f"number of samples must be a positive integer, got {n!r}")
    if isinstance(batch_size, bool) or int(batch_size) != batch_size or batch_size < 1:
        raise ConfigError(f"batch size must be a positive integer, got {batch_size!r}")
    from tqdm.auto import tqdm

    was_training = model.training
    model.eval()
    labels = model.sample_labels(int(n))
    xs = []
    with torch.random.fork_rng(devices=[torch.cuda.current_device()] if torch.cuda.is_available() else []):
        torch.manual_seed(int(seed))
        with tqdm(total=int(n), desc=f"{model.name} samples", unit="img", disable=not progress) as bar:
            for i in range(0, int(n), int(batch_size)):
                cond = labels[i:i + batch_size]
                xs.append(model.sample(len(cond), cond).detach().float().cpu())
                bar.update(len(cond))
    model.train(was_training)
    x = torch.cat(xs)
    if x.dim() >= 3:
        x = x.clamp(0.0, 1.0)
    return x, labels.detach().cpu().long()


def real_subset(n_total: int, n_real: int, seed: int) -> Tensor:
    """Indices of the real images of seed `seed`: the first n_real of a permutation of n_total seeded by seed."""
    if not 1 <= n_real <= n_total:
        raise DataError(f"augmentation: n_real must lie in [1, {n_total}] (the real training images), got {n_real}")
    return torch.randperm(n_total, generator=torch.Generator().manual_seed(int(seed)))[:n_real]


def per_class_prefix(y: Tensor, n_per_class: int, num_classes: int) -> Tensor:
    """Indices of the first n_per_class examples of every class 0..K-1 in y (DataError when a class has fewer)."""
    idx = []
    for k in range(num_classes):
        where = torch.nonzero(y == k).flatten()
        if len(where) < n_per_class:
            raise DataError(f"augmentation: the generated pool has {len(where)} images of class {k}, fewer than "
                            f"{n_per_class}")
        idx.append(where[:n_per_class])
    return torch.cat(idx) if idx else torch.zeros(0, dtype=torch.long)


def _spread(values: Sequence[float]) -> dict:
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
    return {"mean": mean, "std": std, "se": std / math.sqrt(n)}


def augmentation(model, x_real: Tensor, y_real: Tensor, x_test: Tensor, y_test: Tensor, *, n_real: int = 1000,
                 n_per_class: Sequence[int] = (0, 1000, 5000), seeds: Sequence[int] = (0, 1, 2),
                 steps: int = RECIPE_STEPS, batch_size: int = 128, sample_seed: int = 0,
                 samples: tuple[Tensor, Tensor] | None = None, device=None, progress: bool = False) -> dict:
    """The augmentation experiment (module docstring). `samples`: a generated pool (x, y) to use instead of drawing
    one from `model` (model may then be None); it must hold max(n_per_class) images of every class.

    Returns {"model", "num_classes", "n_real", "n_per_class", "seeds", "steps", "batch_size", "sample_seed",
    "n_test", "rows": [{"n_per_class", "n_generated", "n_train", "accuracies", "mean", "std", "se",
    "diffs", "diff_mean", "diff_std", "diff_se"}, ...]} with one row per N (N = 0 first)."""
    counts = sorted({0, *(int(n) for n in n_per_class)})
    if counts[0] < 0:
        raise ConfigError(f"augmentation: n_per_class must be >= 0, got {list(n_per_class)}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ConfigError("augmentation: give at least one seed")
    k = num_classes_of(model) if samples is None else int(getattr(getattr(model, "config", None), "num_classes", 0)
                                                          or int(samples[1].max()) + 1)
    if samples is None and counts[-1] > 0:
        samples = labelled_samples(model, counts[-1] * k, seed=sample_seed, progress=progress)
    accs: dict[int, list[float]] = {n: [] for n in counts}
    for s in seeds:
        ridx = real_subset(len(x_real), n_real, s)
        xr, yr = x_real[ridx].float(), y_real[ridx].long()
        for n in counts:
            if n:
                gidx = per_class_prefix(samples[1], n, k)
                x, y = torch.cat([xr, samples[0][gidx].float()]), torch.cat([yr, samples[1][gidx].long()])
            else:
                x, y = xr, yr
            clf = train_classifier(x, y, steps=steps, batch_size=batch_size, seed=s, device=device, progress=progress)
            accs[n].append(classifier_accuracy(clf, x_test, y_test))
    rows = []
    for n in counts:
        diffs = [a - a0 for a, a0 in zip(accs[n], accs[0])]
        d = _spread(diffs)
        rows.append({"n_per_class": n, "n_generated": n * k, "n_train": n_real + n * k, "accuracies": accs[n],
                     **_spread(accs[n]), "diffs": diffs, "diff_mean": d["mean"], "diff_std": d["std"],
                     "diff_se": d["se"]})
    return {"model": getattr(model, "name", None), "num_classes": k, "n_real": int(n_real), "n_per_class": counts,
            "seeds": seeds, "steps": int(steps), "batch_size": int(batch_size), "sample_seed": int(sample_seed),
            "n_test": len(x_test), "classifier": "MNISTClassifier", "rows": rows}
