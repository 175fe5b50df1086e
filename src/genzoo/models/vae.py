"""The VAE family: vae, beta-vae, cvae, iwae (see docs/models/vae.md)."""
