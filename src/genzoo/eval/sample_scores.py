"""Sample-quality scores of generated MNIST digits under the project's classifier, and the Frechet distance.

    frechet_distance(a, b) = ||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2))

is the 2-Wasserstein distance between the Gaussians fitted to two feature sets (Dowson & Landau 1982), the
formula of FID (Heusel et al. 2017). With the shipped MNIST classifier's 128-d penultimate features
(`genzoo.eval.classifier.mnist_features`) it is "FID-MNIST": comparable between runs of this project, not with
Inception-FID figures of papers.

`mnist_scores(samples, reference)` reports, for images in [0, 1] of shape (N, 1, 28, 28): the mean max-softmax
probability, the fraction classified with probability >= `confident`, the class histogram, the number of classes
present and the histogram's KL to uniform (a mode-coverage score over the 10 digits), and FID-MNIST against the
reference images when given.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from genzoo.errors import DataError


def frechet_distance(a: Tensor | np.ndarray, b: Tensor | np.ndarray) -> float:
    """||mu_a - mu_b||^2 + tr(S_a + S_b - 2 (S_a S_b)^(1/2)) between Gaussians fitted (mean, unbiased covariance)
    to the rows of a (N, D) and b (M, D), in float64."""
    import warnings

    from scipy import linalg

    a, b = (np.asarray(t.detach().cpu() if isinstance(t, Tensor) else t, dtype=np.float64) for t in (a, b))
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1]:
        raise DataError(f"frechet_distance: expected (N, D) and (M, D) features, got {a.shape} and {b.shape}")
    if min(len(a), len(b)) < 2:
        raise DataError("frechet_distance: needs at least 2 rows in each set")
    if not (np.isfinite(a).all() and np.isfinite(b).all()):
        raise DataError("frechet_distance: features contain NaN or inf")
    mu_a, mu_b = a.mean(0), b.mean(0)
    sa, sb = np.atleast_2d(np.cov(a, rowvar=False)), np.atleast_2d(np.cov(b, rowvar=False))
    with warnings.catch_warnings():  # dead ReLU units make S_a S_b singular; sqrtm then warns but is accurate
        warnings.simplefilter("ignore", linalg.LinAlgWarning)
        covmean = linalg.sqrtm(sa @ sb)
    if not np.isfinite(covmean).all():  # singular product: regularise as in the reference FID code
        eps = 1e-6 * np.eye(len(sa))
        covmean = linalg.sqrtm((sa + eps) @ (sb + eps))
    covmean = covmean.real if np.iscomplexobj(covmean) else covmean
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(sa) + np.trace(sb) - 2 * np.trace(covmean))


@torch.no_grad()
def mnist_scores(samples: Tensor, reference: Tensor | None = None, confident: float = 0.9) -> dict[str, Any]:
    """Classifier scores of `samples` (module docstring); "fid_mnist" against `reference` images when given."""
    from genzoo.eval.classifier import _check, load_mnist_classifier, mnist_features
    from genzoo.eval.modes import kl_to_uniform

    x = _check(torch.as_tensor(samples))  # (N, 1, 28, 28) float, or a DataError naming the shape
    if not torch.isfinite(x).all():
        raise DataError("mnist_scores: samples contain NaN or inf")
    clf = load_mnist_classifier()
    p = torch.cat([torch.softmax(clf(x[i:i + 500]), 1) for i in range(0, len(x), 500)])
    conf = p.max(1).values
    counts = torch.bincount(p.argmax(1), minlength=10)
    out: dict[str, Any] = {
        "n": len(x), "mean_confidence": round(float(conf.mean()), 4),
        "confident_fraction": round(float((conf >= confident).double().mean()), 4),
        "classes_covered": int((counts > 0).sum()), "class_kl_to_uniform": round(kl_to_uniform(counts), 4),
        "class_counts": counts.tolist(),
    }
    if reference is not None:
        out["fid_mnist"] = round(frechet_distance(mnist_features(x), mnist_features(torch.as_tensor(reference))), 3)
    return out
