"""Evaluation: likelihood, sample metrics, mode statistics."""

from genzoo.eval.likelihood import evaluate_likelihood, log_likelihood
from genzoo.eval.modes import mode_stats

__all__ = ["evaluate_likelihood", "log_likelihood", "mode_stats"]
