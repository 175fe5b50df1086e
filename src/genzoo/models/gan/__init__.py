"""GANs: losses, DCGAN, WGAN(-GP), conditional, spectral norm, PGGAN, stabilisers (docs/models/gans.md)."""

from genzoo.models.gan import losses  # noqa: F401
from genzoo.models.gan.models import CGAN, DCGAN, GAN, NSGAN, SNGAN, WGAN, WGANGP, GANConfig, PacGAN, VanillaGAN
from genzoo.models.gan.pggan import PGGAN, PGGANConfig

__all__ = ["CGAN", "DCGAN", "GAN", "GANConfig", "NSGAN", "PGGAN", "PGGANConfig", "PacGAN", "SNGAN", "VanillaGAN",
           "WGAN", "WGANGP"]
