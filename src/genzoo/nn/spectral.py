"""Spectral normalisation (Miyato et al. 2018) of every weight layer of a module.

W -> W / sigma_max(W), sigma_max the largest singular value of W reshaped to (out, rest), estimated by power
iteration: u <- W v / ||W v||, v <- W^T u / ||W^T u||, sigma ~ u^T W v (Miyato et al., alg. 1), with
`n_power_iterations` steps per forward call in training mode (torch.nn.utils.parametrizations.spectral_norm).
"""

from __future__ import annotations

from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

SPECTRAL_NORM_KINDS: tuple[type[nn.Module], ...] = (nn.Linear, nn.Conv2d, nn.ConvTranspose2d, nn.Embedding)


def apply_spectral_norm(module: nn.Module, n_power_iterations: int = 1,
                        extra_kinds: tuple[type[nn.Module], ...] = ()) -> nn.Module:
    """Spectral norm on the `weight` of every submodule of `module` (itself included) that is one of
    SPECTRAL_NORM_KINDS or `extra_kinds`, once (a layer that already has it is left alone); returns `module`.

    A module of an extra kind that multiplies its weight at run time by a constant `scale` (e.g. an
    equalised-learning-rate layer, W * c) gets scale = 1, so that its effective weight is W / sigma_max(W)."""
    kinds = SPECTRAL_NORM_KINDS + tuple(extra_kinds)
    for m in list(module.modules()):
        if isinstance(m, kinds) and not has_spectral_norm(m):
            if isinstance(m, tuple(extra_kinds)) and hasattr(m, "scale"):
                m.scale = 1.0
            spectral_norm(m, n_power_iterations=n_power_iterations)
    return module


def has_spectral_norm(m: nn.Module) -> bool:
    """Whether `m.weight` is already parametrised (by spectral norm or another parametrisation)."""
    return hasattr(m, "parametrizations") and "weight" in m.parametrizations
