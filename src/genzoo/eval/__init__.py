"""Evaluation: likelihood, sample metrics, mode statistics."""
