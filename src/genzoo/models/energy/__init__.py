"""Energy-based models: `ebm`, an energy network trained with SGLD negatives from a replay buffer
(docs/models/energy.md)."""

from genzoo.models.energy.ebm import EBM, EBMConfig

__all__ = ["EBM", "EBMConfig"]
