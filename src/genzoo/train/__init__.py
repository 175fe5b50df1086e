"""Training: one Trainer for every family, checkpoints, callbacks."""
