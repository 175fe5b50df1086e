"""The GAN family (likelihood = "none"): one model class, one config; the registered names differ in defaults.

    gan       minimax (saturating) loss, Goodfellow et al. (2014)
    ns-gan    non-saturating generator loss
    wgan      Wasserstein critic with weight clipping, n_critic = 5, RMSprop (Arjovsky et al. 2017)
    wgan-gp   Wasserstein critic with the per-sample gradient penalty, n_critic = 5, Adam (0, 0.9) (Gulrajani 2017)
    dcgan     DCGAN architecture on 28x28 / 32x32 images, Adam (0.5, 0.999) (Radford et al. 2016)
    cgan      conditional DCGAN / MLP GAN on labels (concatenated embedding or projection discriminator)
    pacgan    PacGAN-2: the discriminator judges packs of 2 samples (Lin et al. 2018)
    sngan     spectral normalisation on the discriminator with the hinge loss (Miyato et al. 2018)

Players: "generator" and "discriminator"; update_order(step) is ["discriminator"] * n_critic + ["generator"] * n_gen.
Images are scaled to [-1, 1] inside `loss`; `sample` maps back to [0, 1].
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
from torch import Tensor, nn

from genzoo.data.transforms import from_minus_one_one, to_minus_one_one
from genzoo.errors import ConfigError
from genzoo.math import gradient_penalty, r1_penalty
from genzoo.models.base import Batch, GenerativeModel, ModelConfig
from genzoo.models.gan.layers import apply_spectral_norm
from genzoo.models.gan.layers import pack as pack_samples
from genzoo.models.gan.losses import LOSSES, discriminator_loss, feature_matching_loss, generator_loss
from genzoo.models.gan.nets import (
    DCGAN_SIZES,
    DCGANDiscriminator,
    DCGANGenerator,
    MLPDiscriminator,
    MLPGenerator,
    normal_init,
)
from genzoo.models.registry import register


@dataclass
class GANConfig(ModelConfig):
    """Configuration of the GAN family (docs/models/gans.md).

    loss: "minimax" | "ns" | "wgan" | "wgan-gp" | "hinge". arch: "auto" (dcgan for 28x28 / 32x32 images, else
    mlp) | "mlp" | "dcgan". latent_dim: size of z ~ N(0, I). g_hidden / d_hidden: MLP widths; width: DCGAN base
    channels. g_batch_norm: batch norm in the generator. d_norm: "auto" (batch for a DCGAN discriminator unless the
    loss is wgan-gp or R1 is on, none otherwise) | "batch" | "layer" | "none". n_critic: discriminator steps per
    generator step. gp_weight: lambda of WGAN-GP. clip: weight-clipping bound c of WGAN. r1_gamma: R1 penalty
    gamma / 2 * E||grad D(x)||^2 on real data (0: off). spectral_norm: on every discriminator layer. pack: PacGAN
    degree m. minibatch_std (group size mbstd_group) / minibatch_disc (number of kernels, 0: off): stabilisers in
    the discriminator's last layer. feature_matching: the generator matches the mean penultimate discriminator
    features instead of its loss. cond: how labels enter the discriminator, "concat" | "projection" (the
    generator always concatenates an embedding of embed_dim). reuse_fake: the generator step of a training step
    reuses the fakes (and their generator graph) of the step's last discriminator update on the same batch, as the
    reference DCGAN loop does, instead of drawing new ones (saves one generator forward per step).
    d_act: hidden units of the MLP discriminator, "lrelu" (LeakyReLU 0.2) | "maxout" (maxout_pieces linear
    pieces per unit, Goodfellow et al. 2013). init_std: 0 keeps PyTorch's initialisation of the MLP pair; > 0 draws
    its Linear weights from N(0, init_std) with zero biases (the PacGAN toy code). n_gen: generator updates per
    step (the stacked-MNIST DCGAN code of PacGAN runs 2). latent: the prior of z, "normal" N(0, I) | "uniform"
    U[-1, 1]^d (the DCGAN code).
    """

    data_shape: tuple[int, ...] = (2,)
    loss: Literal["minimax", "ns", "wgan", "wgan-gp", "hinge"] = "ns"
    arch: Literal["auto", "mlp", "dcgan"] = "auto"
    latent_dim: int = 64
    g_hidden: tuple[int, ...] = (256, 256, 256)
    d_hidden: tuple[int, ...] = (256, 256, 256)
    width: int = 64
    g_batch_norm: bool = True
    d_norm: Literal["auto", "batch", "layer", "none"] = "auto"
    n_critic: int = 1
    gp_weight: float = 10.0
    clip: float = 0.01
    r1_gamma: float = 0.0
    spectral_norm: bool = False
    pack: int = 1
    minibatch_std: bool = False
    mbstd_group: int = 4
    minibatch_disc: int = 0
    feature_matching: bool = False
    cond: Literal["concat", "projection"] = "concat"
    embed_dim: int = 16
    reuse_fake: bool = True
    d_act: Literal["lrelu", "maxout"] = "lrelu"
    maxout_pieces: int = 5
    init_std: float = 0.0
    n_gen: int = 1
    latent: Literal["normal", "uniform"] = "normal"

    positive: ClassVar[tuple[str, ...]] = ("latent_dim", "width", "embed_dim", "n_critic", "pack", "clip",
                                           "g_hidden", "d_hidden", "maxout_pieces", "n_gen")

    def checks(self) -> list[tuple[bool, str]]:
        image = len(self.data_shape) == 3
        return [
            (self.loss in LOSSES, f"loss must be one of {LOSSES}"),
            (len(self.d_hidden) > 0, "d_hidden needs at least one layer"),
            (self.arch != "dcgan" or (image and self.data_shape[1] == self.data_shape[2]
                                      and self.data_shape[1] in DCGAN_SIZES),
             f"arch 'dcgan' needs square images of side {sorted(DCGAN_SIZES)}, got data_shape {self.data_shape}"),
            (self.pack == 1 or self.num_classes == 0, "pack > 1 with labels is not supported"),
            (self.init_std >= 0, f"init_std must be >= 0, got {self.init_std}"),
            (self.n_critic + self.n_gen <= 10**6,
             f"n_critic + n_gen must be at most 1,000,000 updates per step, got {self.n_critic + self.n_gen}"),
        ]

    @property
    def is_image(self) -> bool:
        return len(self.data_shape) == 3

    @property
    def resolved_arch(self) -> str:
        if self.arch != "auto":
            return self.arch
        ok = self.is_image and self.data_shape[1] == self.data_shape[2] and self.data_shape[1] in DCGAN_SIZES
        return "dcgan" if ok else "mlp"

    @property
    def resolved_d_norm(self) -> str:
        if self.d_norm != "auto":
            return self.d_norm
        if self.resolved_arch == "dcgan" and self.loss != "wgan-gp" and self.r1_gamma == 0 and not self.spectral_norm:
            return "batch"
        return "none"


class GAN(GenerativeModel):
    """A generator G(z [, y]) and a discriminator D(x [, y]) playing the game of `config.loss`."""

    likelihood = "none"
    Config = GANConfig
    capabilities = frozenset({"decode", "latent", "discriminate"})
    train_defaults: dict[str, Any] = {"lr": 2e-4, "betas": (0.5, 0.999)}

    def __init__(self, config: GANConfig):
        super().__init__(config)
        c = config
        k = c.num_classes
        shape = c.data_shape
        d_shape = (shape[0] * c.pack, *shape[1:])
        if c.resolved_arch == "dcgan":
            self.generator = DCGANGenerator(c.latent_dim, shape, c.width, k, c.embed_dim, c.g_batch_norm)
            self.discriminator = DCGANDiscriminator(d_shape, c.width, k, c.cond, c.minibatch_std, c.mbstd_group,
                                                    c.minibatch_disc, c.resolved_d_norm, c.spectral_norm)
        else:
            self.generator = MLPGenerator(c.latent_dim, shape, c.g_hidden, k, c.embed_dim, c.g_batch_norm,
                                          "tanh" if c.is_image else "none")
            if c.init_std > 0:  # before spectral norm wraps the weights
                normal_init(self.generator, c.init_std)
            self.discriminator = MLPDiscriminator(d_shape, c.d_hidden, k, c.cond, c.minibatch_std, c.mbstd_group,
                                                  c.minibatch_disc, c.resolved_d_norm, False, c.d_act,
                                                  c.maxout_pieces)
            if c.init_std > 0:
                normal_init(self.discriminator, c.init_std)
            if c.spectral_norm:
                apply_spectral_norm(self.discriminator)
        self._clip_weights()
        self._fake_cache: dict[tuple, tuple[int, Tensor]] = {}  # batch key -> (discriminator calls, fakes)

    # ---- data space <-> model space ------------------------------------------------------------------------
    def to_model_space(self, x: Tensor) -> Tensor:
        """Images [0, 1] -> [-1, 1] (genzoo.data.transforms.to_minus_one_one); points unchanged."""
        return to_minus_one_one(x)[0] if self.config.is_image else x

    def to_data_space(self, x: Tensor) -> Tensor:
        """Images [-1, 1] -> [0, 1] (clamped; genzoo.data.transforms.from_minus_one_one); points unchanged."""
        return from_minus_one_one(x)[0].clamp(0.0, 1.0) if self.config.is_image else x

    # ---- the training contract ---------------------------------------------------------------------------------
    def players(self) -> dict[str, list[nn.Parameter]]:
        return {"generator": list(self.generator.parameters()),
                "discriminator": list(self.discriminator.parameters())}

    def update_order(self, step: int) -> list[str]:
        return ["discriminator"] * self.config.n_critic + ["generator"] * self.config.n_gen

    def on_step_end(self, step: int) -> None:
        self._fake_cache.clear()
        self._clip_weights()

    @torch.no_grad()
    def _clip_weights(self) -> None:
        """WGAN weight clipping to [-c, c] (applied before every use of the critic and after every step)."""
        if self.config.loss == "wgan":
            for p in self.discriminator.parameters():
                p.clamp_(-self.config.clip, self.config.clip)

    def noise(self, n: int) -> Tensor:
        """z ~ N(0, I) or, with latent="uniform", U[-1, 1]^latent_dim."""
        if self.config.latent == "uniform":
            return torch.rand(n, self.config.latent_dim, device=self.device) * 2 - 1
        return torch.randn(n, self.config.latent_dim, device=self.device)

    def _labels(self, n: int, y: Tensor | None) -> Tensor | None:
        k = self.config.num_classes
        if not k:
            return None
        if y is None:
            return torch.randint(0, k, (n,), device=self.device)
        return y.to(self.device).long()

    def fake(self, n: int, y: Tensor | None = None) -> Tensor:
        """n samples in model space ([-1, 1] for images)."""
        return self.generator(self.noise(n), self._labels(n, y))

    def critic(self, x: Tensor, y: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Discriminator outputs and features on model-space samples x (packed by `config.pack`)."""
        return self.discriminator(pack_samples(x, self.config.pack), y)

    def loss(self, batch: Batch, player: str = "generator") -> dict[str, Tensor]:
        c = self.config
        x = self.to_model_space(batch.x.to(self.device))
        n = x.shape[0]
        y = self._labels(n, batch.y) if c.num_classes else None
        self._clip_weights()
        key = (batch.x.data_ptr(), tuple(batch.x.shape), n)
        cache = c.reuse_fake and self.training and torch.is_grad_enabled()
        if player == "discriminator":
            calls = self._fake_cache.get(key, (0, None))[0] + 1 if cache else 0
            if cache and calls == c.n_critic:  # the last critic update of this step: keep G's graph for the G step
                fake_g = self.generator(self.noise(n), y)
                self._fake_cache[key] = (calls, fake_g)
                fake = fake_g.detach()
            else:
                if cache:
                    self._fake_cache[key] = (calls, None)
                with torch.no_grad():
                    fake = self.generator(self.noise(n), y)
            real_out, _ = self.critic(x, y)
            fake_out, _ = self.critic(fake, y)
            loss = discriminator_loss(c.loss, real_out, fake_out)
            out = {"d_real": real_out.detach().mean(), "d_fake": fake_out.detach().mean()}
            if c.loss in ("wgan", "wgan-gp"):
                out["wasserstein"] = (real_out.mean() - fake_out.mean()).detach()
            # the penalties need input gradients; under no_grad (evaluation) the loss is reported without them
            if c.loss == "wgan-gp" and c.gp_weight > 0 and torch.is_grad_enabled():
                gp = gradient_penalty(lambda t: self.discriminator(t, y)[0], pack_samples(x, c.pack),
                                      pack_samples(fake, c.pack))
                loss = loss + c.gp_weight * gp
                out["gp"] = gp.detach()
            if c.r1_gamma > 0 and torch.is_grad_enabled():
                r1 = r1_penalty(lambda t: self.discriminator(t, y)[0], pack_samples(x, c.pack))
                loss = loss + 0.5 * c.r1_gamma * r1
                out["r1"] = r1.detach()
            return {"loss": loss, **out}
        if player == "generator":
            # The generator's backward needs no discriminator parameter gradients: build the graph without them.
            d_params = [p for p in self.discriminator.parameters() if p.requires_grad]
            for p in d_params:
                p.requires_grad_(False)
            try:
                cached = self._fake_cache.pop(key, (0, None))[1] if cache else None
                fake = cached if cached is not None else self.generator(self.noise(n), y)
                fake_out, f_fake = self.critic(fake, y)
                if c.feature_matching:
                    with torch.no_grad():
                        _, f_real = self.critic(x, y)
                    loss = feature_matching_loss(f_real, f_fake)
                else:
                    loss = generator_loss(c.loss, fake_out)
            finally:
                for p in d_params:
                    p.requires_grad_(True)
            return {"loss": loss, "d_fake": fake_out.detach().mean()}
        raise ConfigError(f'{self.name or "gan"}: unknown player "{player}"; players: generator, discriminator')

    # ---- the generative contract -------------------------------------------------------------------------------
    @torch.no_grad()
    def sample(self, n: int, condition: Tensor | None = None) -> Tensor:
        """n samples G(z), z ~ N(0, I), in data space; labels by `sample_labels` (cycling 0..K-1 by default)."""
        return self.to_data_space(self.fake(n, self.sample_labels(n, condition)))

    def decode(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        """G(z) in data space for given latents z (N, latent_dim): the generator as a decoder (interpolation), with
        its graph, so that z can be optimised (generator inversion, `genzoo.analysis.invert`)."""
        y = self.sample_labels(z.shape[0], condition)
        return self.to_data_space(self.generator(z.to(self.device), y))

    def discriminate(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        """D's raw output (logit / critic value) on data-space x (unpacked models only)."""
        y = self._labels(x.shape[0], condition) if self.config.num_classes else None
        return self.critic(self.to_model_space(x.to(self.device)), y)[0]


# ---- registered variants (each with its own config defaults and train defaults) -----------------------------------
@dataclass
class _VanillaConfig(GANConfig):
    loss: Literal["minimax", "ns", "wgan", "wgan-gp", "hinge"] = "minimax"


def _variant(name: str, config_cls: type, defaults: dict[str, Any], doc: str, **declared: Any) -> type[GAN]:
    attrs = {"Config": config_cls, "train_defaults": defaults, "__doc__": doc, "__module__": __name__, **declared}
    cls = type(name.replace("-", "_").upper(), (GAN,), attrs)
    return register(name, family="gan")(cls)


@dataclass
class NSGANConfig(GANConfig):
    loss: Literal["minimax", "ns", "wgan", "wgan-gp", "hinge"] = "ns"


@dataclass
class WGANConfig(GANConfig):
    loss: Literal["minimax", "ns", "wgan", "wgan-gp", "hinge"] = "wgan"
    n_critic: int = 5
    g_batch_norm: bool = True


@dataclass
class WGANGPConfig(GANConfig):
    loss: Literal["minimax", "ns", "wgan", "wgan-gp", "hinge"] = "wgan-gp"
    n_critic: int = 5


@dataclass
class DCGANConfig(GANConfig):
    data_shape: tuple[int, ...] = (1, 28, 28)
    arch: Literal["auto", "mlp", "dcgan"] = "dcgan"
    latent_dim: int = 100


@dataclass
class CGANConfig(GANConfig):
    data_shape: tuple[int, ...] = (1, 28, 28)
    num_classes: int = 10
    latent_dim: int = 100

    def checks(self) -> list[tuple[bool, str]]:
        return [*super().checks(), (self.num_classes >= 1, "num_classes must be >= 1 (a conditional GAN needs labels)")]


@dataclass
class PacGANConfig(GANConfig):
    pack: int = 2


@dataclass
class SNGANConfig(GANConfig):
    loss: Literal["minimax", "ns", "wgan", "wgan-gp", "hinge"] = "hinge"
    spectral_norm: bool = True


ADAM_GAN = {"lr": 2e-4, "betas": (0.5, 0.999)}
VanillaGAN = _variant("gan", _VanillaConfig, ADAM_GAN, "Minimax (saturating) GAN, Goodfellow et al. 2014.")
NSGAN = _variant("ns-gan", NSGANConfig, ADAM_GAN, "Non-saturating GAN.")
WGAN = _variant("wgan", WGANConfig, {"optimizer": "rmsprop", "lr": 5e-5, "momentum": 0.0},
                "WGAN with weight clipping (RMSprop, lr 5e-5, as in Arjovsky et al. 2017).")
WGANGP = _variant("wgan-gp", WGANGPConfig, {"lr": 1e-4, "betas": (0.0, 0.9)}, "WGAN-GP (Gulrajani et al. 2017).")
DCGAN = _variant("dcgan", DCGANConfig, ADAM_GAN, "DCGAN (Radford et al. 2016).", data_kinds=("image",))
CGAN = _variant("cgan", CGANConfig, ADAM_GAN, "Conditional GAN (Mirza & Osindero 2014; projection: Miyato 2018).",
                conditional=True)
PacGAN = _variant("pacgan", PacGANConfig, ADAM_GAN, "PacGAN (Lin et al. 2018).")
SNGAN = _variant("sngan", SNGANConfig, {"lr": 2e-4, "betas": (0.0, 0.9)}, "Spectrally normalised hinge GAN.")
