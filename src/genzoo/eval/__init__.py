"""Evaluation: likelihood, sample metrics, mode statistics."""

from genzoo.eval.likelihood import evaluate_likelihood, log_likelihood
from genzoo.eval.modes import mode_stats
from genzoo.eval.sample_scores import frechet_distance, mnist_scores

__all__ = ["evaluate_likelihood", "frechet_distance", "log_likelihood", "mnist_scores", "mode_stats"]
