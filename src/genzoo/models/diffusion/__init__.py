"""Diffusion and score-based models: schedules, DDPM, DDIM, NCSN, SDEs (docs/models/diffusion.md)."""
