"""Analysis: latent interpolation, manifold learning, diagnostics."""

from genzoo.analysis.interpolate import image_grid, interpolate, interpolation_grid, save_image_grid
from genzoo.analysis.manifold import (
    Embedding,
    embed,
    intrinsic_dimension,
    levina_bickel,
    levina_bickel_from_distances,
    neighbour_distances,
    pca_dimension,
    plot_embeddings,
    two_nn,
    two_nn_from_distances,
)

__all__ = ["image_grid", "interpolate", "interpolation_grid", "save_image_grid"]
__all__ += ["Embedding", "embed", "intrinsic_dimension", "levina_bickel", "levina_bickel_from_distances",
            "neighbour_distances", "pca_dimension", "plot_embeddings", "two_nn", "two_nn_from_distances"]
