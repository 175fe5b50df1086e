"""The sparse family: `sparse-coding` (dictionary learning with lasso codes, Olshausen & Field 1996) and
`sparse-vae` (a VAE with a Laplace prior or an L1 term on the codes). See docs/models/sparse.md."""

from genzoo.models.sparse.coding import SparseCoding, SparseCodingConfig
from genzoo.models.sparse.vae import SparseVAE, SparseVAEConfig

__all__ = ["SparseCoding", "SparseCodingConfig", "SparseVAE", "SparseVAEConfig"]
