"""Evaluation: likelihood, sample metrics, mode statistics."""

from genzoo.eval.features import features
from genzoo.eval.likelihood import evaluate_likelihood, log_likelihood
from genzoo.eval.metrics import METRICS, sample_metrics
from genzoo.eval.modes import mode_stats
from genzoo.eval.quality import inception_score, kid, prdc
from genzoo.eval.sample_scores import frechet_distance, mnist_scores

__all__ = ["METRICS", "evaluate_likelihood", "features", "frechet_distance", "inception_score", "kid",
           "log_likelihood", "mnist_scores", "mode_stats", "prdc", "sample_metrics"]
