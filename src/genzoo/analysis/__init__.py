"""Analysis of trained models: latent interpolation, training diagnostics (posterior collapse, mode collapse,
vanishing gradients, likelihood on shifted data) as functions and Trainer callbacks, and `analyze_run` behind
`genzoo analyze`."""

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
from genzoo.analysis.interpolate import image_grid, interpolate, interpolation_grid, save_image_grid
from genzoo.analysis.run_analysis import ANALYSES, analyze_run

__all__ = ["ANALYSES", "GANMonitor", "GradientMonitor", "ModeMonitor", "Monitor", "PosteriorCollapseMonitor",
           "analyze_run", "discriminator_outputs", "discriminator_summary", "generator_gradients", "gradient_norms",
           "image_grid", "interpolate", "interpolation_grid", "likelihood_ood", "mode_coverage", "monitors_for",
           "posterior_stats", "read_history", "save_image_grid", "shifted_sets"]
