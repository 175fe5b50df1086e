"""`sample_metrics`: every sample-quality metric that applies to the data, each record stating its protocol.

    from genzoo.eval import sample_metrics
    m = sample_metrics(samples, reference, dataset="ring8")     # {"kid": {"value", "se", "n_samples", ...}, ...}

Images (MNIST-shaped): "fid" (Frechet distance of the features, Heusel et al. 2017: FID-MNIST with the project's
classifier), "kid", "precision", "recall" (k = 3), "density", "coverage" (k = 5), "inception_score" (the MNIST
classifier's predictions, 10 splits) and "classifier" (genzoo.eval.mnist_scores: mean confidence, classes covered,
the class histogram's KL to uniform). Other images: the same distances on the chosen features, without the two
classifier metrics. Points: "kid", the four PRDC parts, "mmd" (unbiased MMD^2, RBF kernel with the median-distance
bandwidth), "sliced_wasserstein" (SW_2, 128 directions) and "modes" (genzoo.eval.mode_stats) when `dataset` is a
Gaussian mixture mode_stats knows (ring8, grid25, 8gaussians).

Every record carries: value (and se where defined), n_samples, n_reference, reference (the split's name),
features (the extractor) and features_sha256 (its weights), and the metric's own settings (k, kernel, subsets,
bandwidth, projections). The formulas and sources are in genzoo.eval.quality, genzoo.eval.sample_scores and
genzoo.math.divergences; docs/evaluation.md says how to read each number.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from genzoo.errors import DataError, unknown_name

METRICS: dict[str, str] = {
    "fid": "Frechet distance between Gaussians fitted to the features (Heusel et al. 2017); images",
    "kid": "unbiased MMD^2 with the cubic polynomial kernel over subsets (Binkowski et al. 2018); images, points",
    "precision": "fraction of samples inside the data's k-NN balls, k = 3 (Kynkaanniemi et al. 2019); images, points",
    "recall": "fraction of data inside the samples' k-NN balls, k = 3 (Kynkaanniemi et al. 2019); images, points",
    "density": "mean count of data k-NN balls holding a sample, / k, k = 5 (Naeem et al. 2020); images, points",
    "coverage": "fraction of data whose k-NN ball holds a sample, k = 5 (Naeem et al. 2020); images, points",
    "inception_score": "exp E KL(p(y|x) || p(y)) with the MNIST classifier (Salimans et al. 2016); MNIST images",
    "classifier": "MNIST classifier confidence, classes covered, class KL to uniform (mnist_scores); MNIST images",
    "mmd": "unbiased MMD^2, RBF kernel, median-distance bandwidth (Gretton et al. 2012); points",
    "sliced_wasserstein": "sliced 2-Wasserstein distance, 128 directions (Bonneel et al. 2015); points",
    "modes": "modes covered, % high quality, reverse KL (PacGAN protocol, Lin et al. 2018); toy mixtures",
}
IMAGE_METRICS = ("fid", "kid", "precision", "recall", "density", "coverage", "inception_score", "classifier")
POINT_METRICS = ("kid", "precision", "recall", "density", "coverage", "mmd", "sliced_wasserstein", "modes")
PR_K, DC_K = 3, 5


def applicable(samples: Tensor, dataset: str | None = None, extractor: str = "auto") -> list[str]:
    """The metric names that apply to these samples (and data set name)."""
    from genzoo.eval.features import resolve_extractor
    from genzoo.eval.modes import TOY_SETS

    if samples.dim() == 4:
        names = list(IMAGE_METRICS)
        if resolve_extractor(samples, extractor) != "mnist" or tuple(samples.shape[1:]) != (1, 28, 28):
            names = [n for n in names if n not in ("inception_score", "classifier")]
        return names
    return [n for n in POINT_METRICS if n != "modes" or dataset in TOY_SETS]


def sample_metrics(samples: Tensor, reference: Tensor, *, metrics: Sequence[str] | None = None,
                   extractor: str = "auto", weights: str | os.PathLike | None = None, reference_name: str = "test",
                   dataset: str | None = None, seed: int = 0,
                   device: str | torch.device | None = None) -> dict[str, dict[str, Any]]:
    """{name: record} for every applicable metric, or the ones named in `metrics` (module docstring). Features
    are extracted in batches on `device` (default: the samples' device, e.g. the model's)."""
    from genzoo.eval.features import features
    from genzoo.eval.quality import inception_score, kid, prdc

    samples, reference = torch.as_tensor(samples).detach(), torch.as_tensor(reference).detach()
    device = device if device is not None else samples.device
    samples, reference = samples.cpu(), reference.cpu()
    if samples.shape[1:] != reference.shape[1:]:
        raise DataError(f"sample_metrics: samples {tuple(samples.shape[1:])} and reference "
                        f"{tuple(reference.shape[1:])} differ in shape")
    if len(samples) < 2 or len(reference) < 2:
        raise DataError("sample_metrics: needs at least 2 samples and 2 reference examples")
    valid = applicable(samples, dataset, extractor)
    names = list(valid) if metrics is None else list(metrics)
    for n in names:
        if n not in valid:
            if n in METRICS:
                raise DataError(f'metric "{n}" does not apply to these samples (applicable: {", ".join(valid)})')
            raise unknown_name("metric", n, METRICS)
    feats_needed = any(n not in ("classifier", "inception_score", "modes") for n in names)
    base: dict[str, Any] = {"n_samples": len(samples), "n_reference": len(reference), "reference": reference_name}
    if feats_needed:
        fs, info = features(samples.float(), extractor, weights, device=device)
        fr, _ = features(reference.float(), extractor, weights, device=device)
        base.update(features=info["extractor"], features_sha256=info["sha256"])
    out: dict[str, dict[str, Any]] = {}
    pr = dc = None
    for n in names:
        if n == "fid":
            from genzoo.eval.sample_scores import frechet_distance

            out[n] = {"value": frechet_distance(fs, fr), **base}
        elif n == "kid":
            out[n] = {**kid(fr, fs, seed=seed), **base}
        elif n in ("precision", "recall"):
            pr = pr or prdc(fr, fs, k=PR_K)
            out[n] = {"value": pr[n], "k": PR_K, **base}
        elif n in ("density", "coverage"):
            dc = dc or prdc(fr, fs, k=DC_K)
            out[n] = {"value": dc[n], "k": DC_K, **base}
        elif n == "inception_score":
            from genzoo.eval.classifier import ASSET
            from genzoo.eval.features import file_sha256

            out[n] = {**inception_score(samples.float()), **base, "features": "mnist-classifier softmax",
                      "features_sha256": file_sha256(ASSET)}
        elif n == "classifier":
            from genzoo.eval.classifier import ASSET
            from genzoo.eval.features import file_sha256
            from genzoo.eval.sample_scores import mnist_scores

            s = mnist_scores(samples.float())
            out[n] = {"value": s["mean_confidence"], **s, **base, "features": "mnist-classifier softmax",
                      "features_sha256": file_sha256(ASSET)}
        elif n == "mmd":
            from genzoo.math.divergences import median_bandwidth, mmd

            h = float(median_bandwidth(fr.double(), fs.double()))
            out[n] = {"value": float(mmd(fr.double(), fs.double(), kernel="rbf", bandwidth=h)), "kernel": "rbf",
                      "bandwidth": h, **base}
        elif n == "sliced_wasserstein":
            from genzoo.math.divergences import sliced_wasserstein

            g = torch.Generator().manual_seed(seed)
            out[n] = {"value": float(sliced_wasserstein(fr.double(), fs.double(), n_proj=128, generator=g)),
                      "projections": 128, "p": 2, **base}
        elif n == "modes":
            from genzoo.eval.modes import mode_stats

            s = mode_stats(samples, dataset)
            s.pop("counts", None)
            out[n] = {"value": s["modes_covered"], **s, **base, "features": "raw", "features_sha256": None}
    return out
