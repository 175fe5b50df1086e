"""Analysis: latent interpolation and traversals, disentanglement scores, manifold learning, diagnostics."""

from genzoo.analysis.disentanglement import MIGResult, ProbeResult, linear_probe, mig, mutual_info_matrix
from genzoo.analysis.interpolate import image_grid, interpolate, interpolation_grid, save_image_grid
from genzoo.analysis.traversal import Traversal, latent_traversal, per_dim_kl

__all__ = ["MIGResult", "ProbeResult", "Traversal", "image_grid", "interpolate", "interpolation_grid",
           "latent_traversal", "linear_probe", "mig", "mutual_info_matrix", "per_dim_kl", "save_image_grid"]
