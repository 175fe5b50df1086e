"""Diffusion and score-based models: schedules, DDPM, DDIM, NCSN, SDEs (docs/models/diffusion.md).

Importing this package registers `ddpm`, `ddim`, `ncsn` and `score-sde`.
"""

from genzoo.models.diffusion.ddpm import DDIM, DDPM, DDIMConfig, DDPMConfig
from genzoo.models.diffusion.samplers import (
    Prediction,
    annealed_langevin,
    ddim_invert,
    ddim_sample,
    ddpm_sample,
    pf_ode_sample,
    predictor_corrector_sample,
    reverse_sde_sample,
)
from genzoo.models.diffusion.schedule import NoiseSchedule
from genzoo.models.diffusion.score import NCSN, NCSNConfig, ScoreSDE, ScoreSDEConfig
from genzoo.models.diffusion.sde import SDE, VESDE, VPSDE, ScheduleVPSDE, SubVPSDE, geometric_sigmas, make_sde

__all__ = [
    "DDIM",
    "DDIMConfig",
    "DDPM",
    "DDPMConfig",
    "NCSN",
    "NCSNConfig",
    "NoiseSchedule",
    "Prediction",
    "SDE",
    "ScheduleVPSDE",
    "ScoreSDE",
    "ScoreSDEConfig",
    "SubVPSDE",
    "VESDE",
    "VPSDE",
    "annealed_langevin",
    "ddim_invert",
    "ddim_sample",
    "ddpm_sample",
    "geometric_sigmas",
    "make_sde",
    "pf_ode_sample",
    "predictor_corrector_sample",
    "reverse_sde_sample",
]
