"""GANs: losses, DCGAN, WGAN(-GP), conditional, spectral norm, PGGAN, stabilisers (docs/models/gans.md)."""
