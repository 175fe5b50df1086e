"""Analysis: latent interpolation and arithmetic, generator inversion, manifold learning, diagnostics."""

from genzoo.analysis.interpolate import image_grid, interpolate, interpolation_grid, save_image_grid
from genzoo.analysis.latents import (
    Inversion,
    attribute_grid,
    attribute_vector,
    from_latent,
    invert,
    latent_grid,
    latent_route,
    latent_size,
    random_latents,
    to_latent,
)

__all__ = [
    "Inversion",
    "attribute_grid",
    "attribute_vector",
    "from_latent",
    "image_grid",
    "interpolate",
    "interpolation_grid",
    "invert",
    "latent_grid",
    "latent_route",
    "latent_size",
    "random_latents",
    "save_image_grid",
    "to_latent",
]
