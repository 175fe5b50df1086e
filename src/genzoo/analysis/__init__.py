"""Analysis of trained models: latents of every latent model (interpolation, traversals, attribute arithmetic,
generator inversion), disentanglement scores (MIG, linear probe), manifold embeddings and intrinsic dimension,
training diagnostics (posterior collapse, mode collapse, vanishing gradients, likelihood on shifted data) as
functions and Trainer callbacks, and `analyze_run` behind `genzoo analyze`."""

from genzoo.analysis.diagnostics import (
    GANMonitor,
    GradientMonitor,
    ModeMonitor,
    Monitor,
    PosteriorCollapseMonitor,
    discriminator_outputs,
    discriminator_summary,
    generator_gradients,
    gradient_norms,
    likelihood_ood,
    mode_coverage,
    monitors_for,
    posterior_stats,
    read_history,
    shifted_sets,
)
from genzoo.analysis.disentanglement import MIGResult, ProbeResult, linear_probe, mig, mutual_info_matrix
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
from genzoo.analysis.run_analysis import ANALYSES, analyze_run
from genzoo.analysis.traversal import Traversal, latent_traversal, per_dim_kl

__all__ = ["image_grid", "interpolate", "interpolation_grid", "save_image_grid"]
__all__ += ["Inversion", "attribute_grid", "attribute_vector", "from_latent", "invert", "latent_grid",
            "latent_route", "latent_size", "random_latents", "to_latent"]
__all__ += ["ANALYSES", "GANMonitor", "GradientMonitor", "ModeMonitor", "Monitor", "PosteriorCollapseMonitor",
            "analyze_run", "discriminator_outputs", "discriminator_summary", "generator_gradients", "gradient_norms",
            "likelihood_ood", "mode_coverage", "monitors_for", "posterior_stats", "read_history", "shifted_sets"]
__all__ += ["Embedding", "embed", "intrinsic_dimension", "levina_bickel", "levina_bickel_from_distances",
            "neighbour_distances", "pca_dimension", "plot_embeddings", "two_nn", "two_nn_from_distances"]
__all__ += ["MIGResult", "ProbeResult", "Traversal", "latent_traversal", "linear_probe", "mig", "mutual_info_matrix",
            "per_dim_kl"]
