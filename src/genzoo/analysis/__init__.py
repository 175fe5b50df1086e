"""Analysis: latent interpolation, manifold learning, diagnostics."""

from genzoo.analysis.interpolate import image_grid, interpolate, interpolation_grid, save_image_grid

__all__ = ["image_grid", "interpolate", "interpolation_grid", "save_image_grid"]
