"""Analysis: latent interpolation, manifold learning, diagnostics."""
