"""Evaluation: likelihood, sample metrics, mode statistics."""

from genzoo.eval.cas import classification_accuracy_score, real_data_accuracy
from genzoo.eval.classifier import classifier_accuracy, train_classifier
from genzoo.eval.features import features
from genzoo.eval.likelihood import evaluate_likelihood, log_likelihood
from genzoo.eval.metrics import METRICS, sample_metrics
from genzoo.eval.modes import mode_stats
from genzoo.eval.quality import inception_score, kid, prdc
from genzoo.eval.sample_scores import frechet_distance, mnist_scores

__all__ = ["METRICS", "classification_accuracy_score", "classifier_accuracy", "evaluate_likelihood", "features",
           "frechet_distance", "inception_score", "kid", "log_likelihood", "mnist_scores", "mode_stats", "prdc",
           "real_data_accuracy", "sample_metrics", "train_classifier"]
