"""Evaluation: likelihood, sample metrics, mode statistics, classification accuracy score (CAS)."""

from genzoo.eval.cas import classification_accuracy_score, real_data_accuracy
from genzoo.eval.classifier import classifier_accuracy, train_classifier
from genzoo.eval.likelihood import evaluate_likelihood, log_likelihood
from genzoo.eval.modes import mode_stats
from genzoo.eval.sample_scores import frechet_distance, mnist_scores

__all__ = [
    "classification_accuracy_score",
    "classifier_accuracy",
    "evaluate_likelihood",
    "frechet_distance",
    "log_likelihood",
    "mnist_scores",
    "mode_stats",
    "real_data_accuracy",
    "train_classifier",
]
