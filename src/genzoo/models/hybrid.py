"""The hybrid family: `vae-gan`, a VAE whose reconstruction error is measured by a GAN's discriminator
(Larsen, Sonderby, Larochelle & Winther 2016, "Autoencoding beyond pixels using a learned similarity metric").

The encoder, decoder and prior are those of `genzoo.models.vae` (q(z|x) = N(mu(x), diag e^logvar(x)), p(z) =
N(0, I)); the discriminator and the GAN losses are those of `genzoo.models.gan`. With z ~ q(z|x), x~ = Dec(z),
z_p ~ p(z), x_p = Dec(z_p) and Dis_l(x) the discriminator's l-th layer (here its last hidden layer, the features
`MLPDiscriminator` / `DCGANDiscriminator` return; the paper used its third convolution), the losses are (sec. 2-3):

    L_prior        = KL(q(z|x) || p(z))                                   (analytic, genzoo.math.gaussian_kl)
    L_llike^Dis_l  = -E_q(z|x) log p(Dis_l(x) | z),  p(Dis_l(x) | z) = N(Dis_l(x) | Dis_l(x~), I)   (eq. 8-9)
                   = 1/2 || Dis_l(x) - Dis_l(Dec(z)) ||^2   (one z per example; the constant d/2 log 2 pi is dropped,
                                                             so the term is 0 when x~ = x)
    L_GAN          = log D(x) + log(1 - D(x~)) + log(1 - D(x_p))          (eq. 10: reconstructions and prior samples
                                                                           are both fakes)

and the three players minimise (Algorithm 1)

    encoder        L_prior + L_llike           (beta * L_prior with the VAE's beta / KL warm-up)
    decoder        gamma * L_llike + L_G       (gamma weighs reconstruction against fooling D, sec. 3)
    discriminator  -L_GAN                      (no L_llike: D is not trained to make reconstruction easy)

where the decoder's GAN term L_G is the generator part of L_GAN, log(1 - D(x~)) + log(1 - D(x_p)) ("minimax", the
saturating form the paper writes as "-L_GAN" in its descent on the discriminator's loss), or by default its
non-saturating counterpart -log D(x~) - log D(x_p) ("ns"; Goodfellow et al. 2014, sec. 3), both from
`genzoo.models.gan.losses.generator_loss` on each set of fakes. Players update in the order encoder, decoder,
discriminator on the same batch, each on the parameters its predecessors just moved (the paper's Algorithm 1 takes
the three gradients at once). Each player's loss reaches only its own parameters: the other players' parameters are
frozen while it is built.

The model has no tractable density (likelihood = "none"); the loss reports the pixel-space ELBO of the same encoder
and decoder as a diagnostic ("elbo" = -("pixel_recon" + "kl")): a Bernoulli likelihood of the pixel intensities for
images (the decoder's output is its logits; exact for binary data) and N(x | Dec(z), decoder_std^2 I) for points.
`elbo(x)` is the VAE's per-example version of it.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from genzoo.errors import ConfigError
from genzoo.math import reparameterize
from genzoo.models.base import Batch, GenerativeModel
from genzoo.models.gan.losses import d_loss_bce, g_loss_minimax, generator_loss
from genzoo.models.gan.nets import DCGAN_SIZES, DCGANDiscriminator, MLPDiscriminator
from genzoo.models.registry import register
from genzoo.models.vae import VAE, VAEConfig

PLAYERS = ("encoder", "decoder", "discriminator")


@dataclass
class VAEGANConfig(VAEConfig):
    """VAEConfig (encoder / decoder architecture, latent_dim, beta, KL warm-up) plus the discriminator and the game.

    decoder: "bernoulli" | "gaussian" (None: bernoulli for images, gaussian for points); the decoder's variance is
    fixed (decoder_std) as the pixel likelihood only serves the diagnostic ELBO. binarize: "none" by default (the
    discriminator compares the data as given with reconstructions). gamma: weight of L_llike in the decoder's loss.
    gan_loss: "ns" | "minimax" generator term of the decoder. d_arch: "mlp" (widths d_hidden) | "dcgan" (28x28 /
    32x32 images, base channels d_width). d_norm: normalisation in the discriminator, "none" | "layer" | "batch".
    """

    decoder: Literal["bernoulli", "gaussian"] | None = None
    binarize: Literal["dynamic", "threshold", "none"] = "none"
    decoder_var: Literal["fixed", "learned"] = "fixed"
    gamma: float = 1.0
    gan_loss: Literal["ns", "minimax"] = "ns"
    d_arch: Literal["mlp", "dcgan"] = "mlp"
    d_hidden: tuple[int, ...] = (256, 256)
    d_width: int = 32
    d_norm: Literal["none", "layer", "batch"] = "none"

    positive: ClassVar[tuple[str, ...]] = (*VAEConfig.positive, "d_hidden", "d_width")

    def derived(self) -> dict:
        if self.decoder is None:
            return {"decoder": "bernoulli" if len(self.data_shape) == 3 else "gaussian"}
        return {}

    def checks(self) -> list[tuple[bool, str]]:
        s = self.data_shape
        return [
            *super().checks(),
            (self.decoder in ("bernoulli", "gaussian"), "decoder must be 'bernoulli' or 'gaussian'"),
            (self.decoder_var == "fixed", "decoder_var must be 'fixed' (the pixel likelihood is only a diagnostic)"),
            (self.objective == "elbo" and self.k == 1 and self.capacity_max == 0,
             "objective must be 'elbo' with k = 1 and no capacity (one z per example feeds the game)"),
            (self.num_classes == 0, "vae-gan is unconditional (num_classes must be 0)"),
            (self.gamma >= 0, f"gamma must be >= 0, got {self.gamma}"),
            (len(self.d_hidden) > 0, "d_hidden needs at least one layer"),
            (self.d_arch != "dcgan" or (len(s) == 3 and s[1] == s[2] and s[1] in DCGAN_SIZES),
             f"d_arch 'dcgan' needs square images of side {sorted(DCGAN_SIZES)}, got data_shape {s}"),
        ]


def feature_nll(f_data: Tensor, f_rec: Tensor) -> Tensor:
    """-log N(f_data | f_rec, I) + d/2 log 2 pi = 1/2 ||f_data - f_rec||^2 per example (N,): the Gaussian
    observation model in the discriminator's feature space (Larsen et al. 2016, eq. 9), up to its constant."""
    return 0.5 * (f_data - f_rec).pow(2).flatten(1).sum(1)


def gan_value(d_data: Tensor, d_rec: Tensor, d_prior: Tensor) -> Tensor:
    """L_GAN = E log D(x) + E log(1 - D(x~)) + E log(1 - D(x_p)) from logits (Larsen et al. 2016, eq. 10), via the
    GAN family's losses: d_loss_bce(a, b) = -E log D(a) - E log(1 - D(b)), g_loss_minimax(b) = E log(1 - D(b))."""
    return -d_loss_bce(d_data, d_rec) + g_loss_minimax(d_prior)


@register("vae-gan", family="hybrid")
class VAEGAN(VAE):
    """VAE/GAN: the VAE's encoder and decoder with a discriminator whose features define the reconstruction error.

    Public API (besides the VAE's encode / decode / reconstruct / elbo / sample): `features(x)` (Dis_l, N x d),
    `feature_nll(x, x_rec)`, `discriminate(x)` (logits), `loss(batch, player)` for the players in PLAYERS.
    """

    likelihood = "none"
    Config = VAEGANConfig
    capabilities = frozenset({"encode", "decode", "reconstruct", "latent", "discriminate"})
    log_prob_options = ()
    loss_units = ""
    train_defaults = {"lr": 3e-4, "betas": (0.5, 0.999)}

    def __init__(self, config: VAEGANConfig):
        super().__init__(config)
        c = config
        if c.d_arch == "dcgan":
            self.discriminator = DCGANDiscriminator(c.data_shape, c.d_width, norm=c.d_norm)
        else:
            self.discriminator = MLPDiscriminator(c.data_shape, c.d_hidden, norm=c.d_norm)

    log_prob = GenerativeModel.log_prob  # implicit: raises LikelihoodError

    # ---- the game -----------------------------------------------------------------------------------------------
    def players(self) -> dict[str, list[nn.Parameter]]:
        return {"encoder": list(self.encoder.parameters()), "decoder": list(self.decoder.parameters()),
                "discriminator": list(self.discriminator.parameters())}

    def update_order(self, step: int) -> tuple[str, ...]:
        return PLAYERS

    @contextlib.contextmanager
    def _only(self, player: str):
        """Freeze every parameter but `player`'s while its loss is built, so its backward reaches only its own."""
        frozen = [p for name, ps in self.players().items() if name != player for p in ps if p.requires_grad]
        for p in frozen:
            p.requires_grad_(False)
        try:
            yield
        finally:
            for p in frozen:
                p.requires_grad_(True)

    def features(self, x: Tensor) -> Tensor:
        """Dis_l(x): the discriminator's last hidden layer on data-space x, (N, d)."""
        return self.discriminator(x)[1]

    def feature_nll(self, x: Tensor, x_rec: Tensor) -> Tensor:
        """L_llike^Dis_l per example: 1/2 ||Dis_l(x) - Dis_l(x_rec)||^2 (N,)."""
        return feature_nll(self.features(x), self.features(x_rec))

    def discriminate(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        """The discriminator's logit l(x) (D = sigmoid(l)) on data-space x, (N,)."""
        self.check_input(x, condition)
        return self.discriminator(x.to(self.device))[0]

    def loss(self, batch: Batch, player: str = "encoder") -> dict[str, Tensor]:
        """{"loss" of `player`, "kl" (L_prior), "llike" (L_llike), "gan" (L_GAN), "d_data" / "d_rec" / "d_prior"
        (mean D), "pixel_recon" and "elbo" (the pixel-space ELBO diagnostic), "beta", "gamma"}, batch means."""
        if player not in PLAYERS:
            raise ConfigError(f'vae-gan: unknown player "{player}"; players: {", ".join(PLAYERS)}')
        c = self.config
        x = batch.x
        self.check_input(x, batch.y)
        with self._only(player):
            x_in, target = self._preprocess(x)
            mu, logvar = self._encode(x_in, None)
            z = reparameterize(mu, logvar)
            raw = self._decode_raw(z, None)
            x_rec = self._mean(raw).reshape(x.shape)
            x_prior = self.decode(self.prior_sample(x.shape[0]))
            l_data, f_data = self.discriminator(target)
            l_rec, f_rec = self.discriminator(x_rec)
            l_prior, _ = self.discriminator(x_prior)
            kl = self.prior_kl(mu, logvar).mean()
            llike = feature_nll(f_data, f_rec).mean()
            value = gan_value(l_data, l_rec, l_prior)
            w = self.kl_weight()
            if player == "encoder":
                loss = w * kl + llike
            elif player == "decoder":
                loss = c.gamma * llike + generator_loss(c.gan_loss, l_rec) + generator_loss(c.gan_loss, l_prior)
            else:
                loss = -value
        with torch.no_grad():
            pixel_recon = -self._log_px_given_z(target, z.detach()[None], None)[0].mean()
        dev = loss.device
        return {"loss": loss, "kl": kl.detach(), "llike": llike.detach(), "gan": value.detach(),
                "d_data": torch.sigmoid(l_data).mean().detach(), "d_rec": torch.sigmoid(l_rec).mean().detach(),
                "d_prior": torch.sigmoid(l_prior).mean().detach(), "pixel_recon": pixel_recon,
                "elbo": -(pixel_recon + kl.detach()), "beta": torch.tensor(w, device=dev),
                "gamma": torch.tensor(float(c.gamma), device=dev)}
