"""Laboratory experiments that reproduce known phenomena, as library functions (`genzoo lab` calls them).

    from genzoo.lab import mode_collapse_lab
    records = mode_collapse_lab(["gan", "pacgan"], ["ring8"], seeds=[0, 1], steps=8000, out="docs/results/gans")

The layer above train/ and eval/ and below cli/ (docs/architecture.md): every run is trained by
`genzoo.train.Trainer` (the one training loop) and scored by `genzoo.eval`.
"""

from genzoo.lab.augment import augmentation, labelled_samples
from genzoo.lab.mode_collapse import (
    PACGAN_MODELS,
    PROTOCOLS,
    LabRun,
    lab_data,
    lab_run,
    lab_settings,
    mode_collapse_lab,
    pacgan_variant,
    protocol_settings,
    run_one,
    run_staged,
    score_model,
    train_lab_model,
)

__all__ = [
    "PACGAN_MODELS",
    "PROTOCOLS",
    "LabRun",
    "augmentation",
    "lab_data",
    "labelled_samples",
    "lab_run",
    "lab_settings",
    "mode_collapse_lab",
    "pacgan_variant",
    "protocol_settings",
    "run_one",
    "run_staged",
    "score_model",
    "train_lab_model",
]
