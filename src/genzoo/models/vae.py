"""The VAE family: `vae`, `beta-vae`, `cvae`, `iwae` (likelihood = "bound"; see docs/models/vae.md).

One model class with one config covers the family; the registered names differ only in their defaults:

    vae       ELBO (Kingma & Welling 2014), analytic KL, optional KL warm-up
    beta-vae  beta * KL (Higgins et al. 2017), or beta * |KL - C(t)| with capacity annealing (Burgess et al. 2018)
    cvae      labels as one-hot vectors concatenated to the encoder and decoder inputs (Sohn et al. 2015)
    iwae      the k-sample importance-weighted bound log (1/k) sum_i p(x, z_i) / q(z_i | x) (Burda et al. 2016)

Architectures (`arch`): "mlp", "conv" (strided 3x3 convolutions, mirrored by transposed convolutions) and
"linear" (one affine map each way: with a Gaussian decoder this is probabilistic PCA, whose marginal likelihood
is closed form, which the tests use). Decoders (`decoder`): "bernoulli" (binary pixels; the config's `binarize`
is applied inside `loss` and `log_prob`), "gaussian" (isotropic variance, fixed or learned; uniform dequantization
of 8-bit images by default) and "categorical" (a softmax over the 256 levels of every pixel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.data.transforms import binarize, dequantize, to_levels
from genzoo.errors import DataError
from genzoo.math import gaussian_kl, gaussian_log_prob, log_mean_exp, reparameterize
from genzoo.models.base import Batch, GenerativeModel, ModelConfig
from genzoo.models.registry import register
from genzoo.nn import activation, mlp

DEFAULT_HIDDEN = {"mlp": (512, 256), "conv": (32, 64), "linear": ()}
# Elements (per example and importance sample) times examples times samples held at once by log_prob / elbo.
_CHUNK_ELEMENTS = 2**22


@dataclass
class VAEConfig(ModelConfig):
    """Configuration of the VAE family.

    arch: "mlp" | "conv" | "linear". hidden: MLP widths or conv channels (None: (512, 256) for mlp,
    (32, 64) for conv; ignored by linear). latent_dim: size of z. act: activation of the hidden layers.
    decoder: "bernoulli" | "gaussian" | "categorical" (256 levels per value).
    binarize (Bernoulli decoder only): "dynamic" x ~ Bernoulli(x) at every call (already-binary data are
    unchanged), "threshold" 1[x > 0.5], "none" x as given. Statically binarized data (one fixed Bernoulli draw
    for the whole set, `genzoo.data.binarize(x, "static", seed)`) is binarized before training: use "none".
    dequantize (Gaussian decoder only): x -> (255 x + u) / 256, u ~ U[0, 1), so the density is over [0, 1)
    (None: on for image shapes (C, H, W), off otherwise). decoder_var: "fixed" | "learned" isotropic variance,
    decoder_std its (initial) standard deviation.
    objective: "elbo" | "iwae"; k: samples per example in the training objective (importance samples for iwae,
    Monte Carlo samples of the reconstruction term for elbo). kl: "analytic" | "mc" KL term of the ELBO.
    beta: weight of the KL; kl_warmup_steps: the weight ramps linearly from 0 to beta over this many steps.
    capacity_max, capacity_steps: the capacity variant beta * |KL - C(t)|, C(t) = capacity_max * min(1, t /
    capacity_steps) (on when capacity_max > 0). eval_k: importance samples used by log_prob by default.
    """

    data_shape: tuple[int, ...] = (1, 28, 28)
    arch: Literal["mlp", "conv", "linear"] = "mlp"
    hidden: tuple[int, ...] | None = None
    latent_dim: int = 16
    act: str = "relu"
    decoder: Literal["bernoulli", "gaussian", "categorical"] = "bernoulli"
    binarize: Literal["dynamic", "threshold", "none"] = "dynamic"
    dequantize: bool | None = None
    decoder_var: Literal["fixed", "learned"] = "learned"
    decoder_std: float = 1.0
    objective: Literal["elbo", "iwae"] = "elbo"
    k: int = 1
    kl: Literal["analytic", "mc"] = "analytic"
    beta: float = 1.0
    kl_warmup_steps: int = 0
    capacity_max: float = 0.0
    capacity_steps: int = 0
    eval_k: int = 100

    positive: ClassVar[tuple[str, ...]] = ("latent_dim", "k", "eval_k", "decoder_std", "hidden")

    def checks(self) -> list[tuple[bool, str]]:
        activation(self.act)  # unknown activation -> UnknownNameError naming the valid ones
        return [
            (self.arch != "conv" or len(self.data_shape) == 3, "arch 'conv' needs image data_shape (C, H, W)"),
            (self.arch != "conv" or self.hidden is None or len(self.hidden) > 0, "arch 'conv' needs >= 1 channel"),
        ]


@dataclass
class BetaVAEConfig(VAEConfig):
    beta: float = 4.0


@dataclass
class CVAEConfig(VAEConfig):
    num_classes: int = 10

    def checks(self) -> list[tuple[bool, str]]:
        return [*super().checks(), (self.num_classes >= 1, "num_classes must be >= 1 (a conditional VAE needs labels)")]


@dataclass
class IWAEConfig(VAEConfig):
    objective: Literal["elbo", "iwae"] = "iwae"
    k: int = 5


# ---- networks --------------------------------------------------------------------------------------------------
def _conv_sizes(h: int, w: int, n: int) -> list[tuple[int, int]]:
    """Spatial sizes after each stride-2, padding-1, 3x3 convolution: s -> ceil(s / 2)."""
    sizes = [(h, w)]
    for _ in range(n):
        h, w = sizes[-1]
        sizes.append(((h - 1) // 2 + 1, (w - 1) // 2 + 1))
    return sizes


class _MLPNet(nn.Module):
    """Flatten x, concatenate the condition, MLP (no hidden layers: one affine map)."""

    def __init__(self, d_in: int, n_cond: int, hidden: tuple[int, ...], d_out: int, act: str):
        super().__init__()
        self.net = mlp(d_in + n_cond, hidden, d_out, act=act)

    def forward(self, x: Tensor, c: Tensor | None) -> Tensor:
        h = x.flatten(1)
        if c is not None:
            h = torch.cat([h, c], 1)
        return self.net(h)


class _ConvEncoder(nn.Module):
    """Stride-2 3x3 convolutions (condition as constant one-hot channels), then a linear map to (mu, logvar)."""

    def __init__(self, shape: tuple[int, ...], n_cond: int, channels: tuple[int, ...], d_out: int, act: str):
        super().__init__()
        c, h, w = shape
        layers: list[nn.Module] = []
        cin = c + n_cond
        for ch in channels:
            layers += [nn.Conv2d(cin, ch, 3, 2, 1), activation(act)]
            cin = ch
        self.conv = nn.Sequential(*layers)
        hl, wl = _conv_sizes(h, w, len(channels))[-1]
        self.fc = nn.Linear(cin * hl * wl, d_out)

    def forward(self, x: Tensor, c: Tensor | None) -> Tensor:
        if c is not None:
            x = torch.cat([x, c[:, :, None, None].expand(-1, -1, *x.shape[2:])], 1)
        return self.fc(self.conv(x).flatten(1))


class _ConvDecoder(nn.Module):
    """Linear map of [z, condition] to the encoder's last feature map, then stride-2 transposed convolutions
    back to (C * out_per_value, H, W)."""

    def __init__(self, shape, n_cond: int, channels: tuple[int, ...], latent: int, out_per_value: int, act: str):
        super().__init__()
        c, h, w = shape
        sizes = _conv_sizes(h, w, len(channels))
        rev = list(channels)[::-1]
        self.start = (rev[0], *sizes[-1])
        self.fc = nn.Sequential(nn.Linear(latent + n_cond, rev[0] * sizes[-1][0] * sizes[-1][1]), activation(act))
        layers: list[nn.Module] = []
        outs = rev[1:] + [c * out_per_value]
        n = len(rev)
        for i, (cin, cout) in enumerate(zip(rev, outs)):
            (hi, wi), (ho, wo) = sizes[n - i], sizes[n - i - 1]
            # ConvTranspose2d(3, stride 2, padding 1) maps s to 2 s - 1 + output_padding.
            layers.append(nn.ConvTranspose2d(cin, cout, 3, 2, 1, output_padding=(ho - 2 * hi + 1, wo - 2 * wi + 1)))
            if i < n - 1:
                layers.append(activation(act))
        self.deconv = nn.Sequential(*layers)

    def forward(self, z: Tensor, c: Tensor | None) -> Tensor:
        if c is not None:
            z = torch.cat([z, c], 1)
        return self.deconv(self.fc(z).view(-1, *self.start))


# ---- the model -------------------------------------------------------------------------------------------------
@register("vae", family="vae")
class VAE(GenerativeModel):
    """Variational autoencoder with a standard normal prior and a diagonal Gaussian encoder q(z|x).

    Public API: `encode(x, condition) -> (mu, logvar)`, `decode(z, condition) -> mean in data space`,
    `decoder_params(z, condition)`, `reconstruct(x, condition)`, `elbo(x, condition, k)`,
    `log_prob(x, condition, k)` (importance-sampled), `sample(n, condition)`, `loss(batch)`.
    """

    likelihood = "bound"
    Config = VAEConfig
    capabilities = frozenset({"encode", "decode", "reconstruct", "latent"})
    log_prob_options = ("k", "generator", "chunk")
    train_defaults = {"lr": 1e-3}
    loss_units = "nats/example"

    def __init__(self, config: VAEConfig):
        super().__init__(config)
        cfg = config
        self.data_dim = math.prod(cfg.data_shape)
        self.latent_dim = cfg.latent_dim
        k = cfg.num_classes
        hidden = DEFAULT_HIDDEN[cfg.arch] if (cfg.hidden is None or cfg.arch == "linear") else tuple(cfg.hidden)
        self._out_per_value = 256 if cfg.decoder == "categorical" else 1
        d_out = self.data_dim * self._out_per_value
        if cfg.arch == "conv":
            self.encoder = _ConvEncoder(cfg.data_shape, k, hidden, 2 * cfg.latent_dim, cfg.act)
            self.decoder = _ConvDecoder(cfg.data_shape, k, hidden, cfg.latent_dim, self._out_per_value, cfg.act)
        else:
            self.encoder = _MLPNet(self.data_dim, k, hidden, 2 * cfg.latent_dim, cfg.act)
            self.decoder = _MLPNet(cfg.latent_dim, k, hidden[::-1], d_out, cfg.act)
        if cfg.decoder == "gaussian":
            logvar0 = torch.tensor(2.0 * math.log(cfg.decoder_std))
            if cfg.decoder_var == "learned":
                self.dec_logvar = nn.Parameter(logvar0)
            else:
                self.register_buffer("dec_logvar", logvar0)
        self._step = 0  # optimisation steps completed (KL warm-up, capacity); checkpointed via extra_state

    # ---- schedules -------------------------------------------------------------------------------------------
    @property
    def dequantizes(self) -> bool:
        cfg = self.config
        if cfg.decoder != "gaussian":
            return False
        return len(cfg.data_shape) == 3 if cfg.dequantize is None else bool(cfg.dequantize)

    @property
    def bpd_bins(self) -> int:
        """256 for the Gaussian density on dequantized [0, 1) data; 1 for the Bernoulli/categorical pmf."""
        return 256 if self.dequantizes else 1

    def kl_weight(self, step: int | None = None) -> float:
        """beta * min(1, t / kl_warmup_steps) (beta when there is no warm-up)."""
        t = self._step if step is None else step
        w = self.config.kl_warmup_steps
        return self.config.beta * (min(1.0, t / w) if w > 0 else 1.0)

    def capacity(self, step: int | None = None) -> float:
        """C(t) = capacity_max * min(1, t / capacity_steps) (Burgess et al. 2018)."""
        t = self._step if step is None else step
        s = self.config.capacity_steps
        return self.config.capacity_max * (min(1.0, t / s) if s > 0 else 1.0)

    def on_step_end(self, step: int) -> None:
        self._step = int(step) + 1

    def extra_state(self) -> dict:
        return {"step": self._step}

    def load_extra_state(self, state: dict) -> None:
        self._step = int(state.get("step", 0))

    # ---- input handling --------------------------------------------------------------------------------------
    def check_input(self, x: Tensor, condition: Tensor | None = None) -> None:
        super().check_input(x, condition)
        cfg = self.config
        if cfg.num_classes > 0 and condition is None:
            raise DataError(f"{self.name}: conditional model (num_classes = {cfg.num_classes}) needs labels")
        if condition is not None and condition.is_floating_point():
            if condition.dim() != 2 or condition.shape[1] != cfg.num_classes:
                raise DataError(
                    f"{self.name}: a float condition must be one-hot of shape (N, {cfg.num_classes}), "
                    f"got {tuple(condition.shape)}"
                )
            if not torch.isfinite(condition).all():
                raise DataError(f"{self.name}: condition contains NaN or inf")
        elif condition is not None and condition.dim() != 1:
            raise DataError(f"{self.name}: labels must have shape (N,), got {tuple(condition.shape)}")
        if cfg.decoder in ("bernoulli", "categorical") and x.numel() and (x.min() < 0 or x.max() > 1):
            raise DataError(f"{self.name}: a {cfg.decoder} decoder expects data in [0, 1], got "
                            f"{float(x.min()):.3g}..{float(x.max()):.3g}")

    def _cond(self, condition: Tensor | None, ref: Tensor) -> Tensor | None:
        """One-hot float (N, K) of labels or an already one-hot float condition; None when unconditional."""
        k = self.config.num_classes
        if k == 0 or condition is None:
            if k > 0:
                raise DataError(f"{self.name}: conditional model (num_classes = {k}) needs labels")
            return None
        if condition.is_floating_point():
            return condition.to(device=ref.device, dtype=ref.dtype)
        return F.one_hot(condition.long().to(ref.device), k).to(ref.dtype)

    def _preprocess(self, x: Tensor, generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """(encoder input, decoder target) for data as the data set yields it (see VAEConfig), through the shared
        data-space helpers of genzoo.data.transforms."""
        cfg = self.config
        if cfg.decoder == "bernoulli":
            if cfg.binarize != "none":
                x = binarize(x, cfg.binarize, generator=generator)
            return x, x
        if cfg.decoder == "categorical":
            return x, to_levels(x)
        if self.dequantizes:
            x = dequantize(x, generator)
        return x, x

    # ---- encoder / decoder -----------------------------------------------------------------------------------
    def _encode(self, x: Tensor, c: Tensor | None) -> tuple[Tensor, Tensor]:
        h = self.encoder(x, c)
        return h[:, : self.latent_dim], h[:, self.latent_dim :]

    def encode(self, x: Tensor, condition: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """(mu, logvar) of q(z | x) = N(mu, diag exp(logvar)), each (N, latent_dim). x as the data set yields it."""
        return self._encode(x, self._cond(condition, x))

    def _decode_raw(self, z: Tensor, c: Tensor | None) -> Tensor:
        """Decoder output for z (..., L): (..., D) logits/means, or (..., D, 256) logits (categorical)."""
        lead = z.shape[:-1]
        zf = z.reshape(-1, z.shape[-1])
        if c is not None:
            c = c.expand(*lead, c.shape[-1]).reshape(-1, c.shape[-1])
        out = self.decoder(zf, c)
        if self._out_per_value > 1:
            if out.dim() == 4:  # conv: (B, C * 256, H, W) -> (B, C, H, W, 256)
                b, _, h, w = out.shape
                out = out.view(b, -1, 256, h, w).permute(0, 1, 3, 4, 2)
            return out.reshape(*lead, self.data_dim, 256)
        return out.reshape(*lead, self.data_dim)

    def decoder_params(self, z: Tensor, condition: Tensor | None = None) -> dict[str, Tensor]:
        """Parameters of p(x | z): {"logits"} (Bernoulli; categorical with a trailing 256 axis) or
        {"mean", "logvar"} (Gaussian), shaped like the data."""
        out = self._decode_raw(z, self._cond(condition, z))
        shape = (*z.shape[:-1], *self.config.data_shape)
        if self.config.decoder == "categorical":
            return {"logits": out.reshape(*shape, 256)}
        if self.config.decoder == "gaussian":
            return {"mean": out.reshape(shape), "logvar": self.dec_logvar}
        return {"logits": out.reshape(shape)}

    def _mean(self, raw: Tensor) -> Tensor:
        cfg = self.config
        if cfg.decoder == "bernoulli":
            return torch.sigmoid(raw)
        if cfg.decoder == "categorical":
            levels = torch.arange(256, dtype=raw.dtype, device=raw.device) / 255
            return torch.softmax(raw, -1) @ levels
        return raw.clamp(0, 1) if len(cfg.data_shape) == 3 else raw

    def decode(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        """Mean of p(x | z) in data space: Bernoulli probabilities, the categorical mean level / 255, or the
        Gaussian mean (clamped to [0, 1] for images). z: (N, L) -> (N, *data_shape)."""
        raw = self._decode_raw(z, self._cond(condition, z))
        return self._mean(raw).reshape(*z.shape[:-1], *self.config.data_shape)

    def reconstruct(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        """decode(mean of q(z | x))."""
        self.check_input(x, condition)
        mu, _ = self.encode(x, condition)
        return self.decode(mu, condition)

    def _log_px_given_z(self, target: Tensor, z: Tensor, c: Tensor | None) -> Tensor:
        """log p(x | z) for target (N, *shape) and z (S, N, L): (S, N), summed over the data dimensions."""
        raw = self._decode_raw(z, c)
        t = target.reshape(target.shape[0], -1)
        dec = self.config.decoder
        if dec == "bernoulli":
            return -F.binary_cross_entropy_with_logits(raw, t.expand_as(raw), reduction="none").sum(-1)
        if dec == "categorical":
            logp = torch.log_softmax(raw, -1)
            return logp.gather(-1, t.expand(raw.shape[:-1]).unsqueeze(-1)).squeeze(-1).sum(-1)
        return gaussian_log_prob(t, raw, self.dec_logvar)

    def _log_weights(self, x_in, target, c, mu, logvar, s: int, generator=None):
        """s samples z ~ q(z|x) per example: (log p(x|z), log p(z), log q(z|x)), each (s, N)."""
        z = reparameterize(mu.expand(s, *mu.shape), logvar.expand(s, *logvar.shape), generator)
        lpx = self._log_px_given_z(target, z, c)
        lpz = self.prior_log_prob(z)
        lqz = gaussian_log_prob(z, mu, logvar)
        return lpx, lpz, lqz

    def _chunks(self, n: int, k: int, chunk: int | None):
        """Example blocks and sample chunks so that at most ~`chunk` elements are live at once."""
        per = self.data_dim * self._out_per_value + self.latent_dim
        hidden = self.config.hidden if self.config.hidden is not None else DEFAULT_HIDDEN[self.config.arch]
        if self.config.arch != "conv":
            per += 2 * sum(hidden)
        else:
            per += 4 * self.data_dim * max(hidden)  # the first feature map dominates
        budget = chunk or _CHUNK_ELEMENTS
        nb = max(1, min(n, budget // per))
        kc = max(1, min(k, budget // (nb * per)))
        return nb, kc

    # ---- the prior p(z): N(0, I); a family with another prior overrides these three --------------------------
    def prior_log_prob(self, z: Tensor) -> Tensor:
        """log p(z) summed over the last dimension."""
        return gaussian_log_prob(z, 0.0, 0.0)

    def prior_kl(self, mu: Tensor, logvar: Tensor) -> Tensor:
        """The analytic KL(q(z|x) || p(z)) per example."""
        return gaussian_kl(mu, logvar)

    def prior_sample(self, n: int) -> Tensor:
        """n draws z ~ p(z), (n, latent_dim), in the model's dtype and device."""
        p = next(self.parameters())
        return torch.randn(n, self.latent_dim, dtype=p.dtype, device=p.device)

    # ---- objectives ------------------------------------------------------------------------------------------
    def loss(self, batch: Batch, player: str = "model") -> dict[str, Tensor]:
        """{"loss", "recon" (-E_q log p(x|z)), "kl" (KL term used), "elbo", "beta" (+ "capacity", "iwae")},
        batch means in nats per example."""
        return self._objective(batch)[0]

    def _objective(self, batch: Batch) -> tuple[dict[str, Tensor], Tensor, Tensor]:
        """`loss`'s parts and the encoder's (mu, logvar) they came from (a subclass adds terms on q(z|x))."""
        cfg = self.config
        x, y = batch.x, batch.y
        self.check_input(x, y)
        c = self._cond(y, x)
        x_in, target = self._preprocess(x)
        mu, logvar = self._encode(x_in, c)
        lpx, lpz, lqz = self._log_weights(x_in, target, c, mu, logvar, cfg.k)
        recon = -lpx.mean(0)  # (N,)
        kl = self.prior_kl(mu, logvar) if cfg.kl == "analytic" else (lqz - lpz).mean(0)
        w = self.kl_weight()
        out: dict[str, Tensor] = {}
        if cfg.objective == "iwae":
            # log (1/k) sum_i p(x|z_i) [p(z_i)/q(z_i|x)]^w  (w = 1 after warm-up: the IWAE bound)
            bound = log_mean_exp(lpx + w * (lpz - lqz), dim=0)
            loss = -bound.mean()
            out["iwae"] = log_mean_exp(lpx + lpz - lqz, dim=0).mean().detach()
        elif cfg.capacity_max > 0:
            cap = self.capacity()
            loss = recon.mean() + w * (kl.mean() - cap).abs()
            out["capacity"] = torch.tensor(cap, device=loss.device)
        else:
            loss = recon.mean() + w * kl.mean()
        out.update(
            loss=loss,
            recon=recon.mean().detach(),
            kl=kl.mean().detach(),
            elbo=-(recon + kl).mean().detach(),
            beta=torch.tensor(w, device=loss.device),
        )
        return out, mu, logvar

    def elbo(
        self,
        x: Tensor,
        condition: Tensor | None = None,
        k: int = 1,
        generator: torch.Generator | None = None,
        chunk: int | None = None,
    ) -> dict[str, Tensor]:
        """Per-example ELBO = -recon - kl, with recon = -E_q[log p(x|z)] averaged over k samples and the
        analytic KL(q(z|x) || p(z)). Returns {"elbo", "recon", "kl"}, each (N,), in nats."""
        self.check_input(x, condition)
        c = self._cond(condition, x)
        x_in, target = self._preprocess(x, generator)
        recons, kls = [], []
        nb, kc = self._chunks(x.shape[0], k, chunk)
        for a in range(0, x.shape[0], nb):
            cb = None if c is None else c[a : a + nb]
            mu, logvar = self._encode(x_in[a : a + nb], cb)
            total = 0.0
            for s in range(0, k, kc):
                lpx, _, _ = self._log_weights(x_in[a : a + nb], target[a : a + nb], cb, mu, logvar,
                                              min(kc, k - s), generator)
                total = total + lpx.sum(0)
            recons.append(-total / k)
            kls.append(self.prior_kl(mu, logvar))
        recon, kl = torch.cat(recons), torch.cat(kls)
        return {"elbo": -(recon + kl), "recon": recon, "kl": kl}

    def log_prob(
        self,
        x: Tensor,
        condition: Tensor | None = None,
        k: int | None = None,
        generator: torch.Generator | None = None,
        chunk: int | None = None,
    ) -> Tensor:
        """Importance-sampled log p(x) ~ log (1/k) sum_i p(x, z_i) / q(z_i | x), z_i ~ q(z | x) (Burda et al.
        2016): a stochastic lower bound in expectation, tight as k -> infinity. k = config.eval_k by default.
        Computed in chunks of samples and examples (combined with logsumexp), so k = 5000 fits in memory.
        Bernoulli decoders with dynamic binarization leave already-binary x unchanged; binarize a held-out set
        once (fixed seed) for a deterministic target."""
        self.check_input(x, condition)
        k = int(k or self.config.eval_k)
        if k < 1:
            raise ValueError(f"k must be >= 1, got {k}")
        c = self._cond(condition, x)
        x_in, target = self._preprocess(x, generator)
        outs = []
        nb, kc = self._chunks(x.shape[0], k, chunk)
        for a in range(0, x.shape[0], nb):
            cb = None if c is None else c[a : a + nb]
            mu, logvar = self._encode(x_in[a : a + nb], cb)
            lses = []
            for s in range(0, k, kc):
                lpx, lpz, lqz = self._log_weights(x_in[a : a + nb], target[a : a + nb], cb, mu, logvar,
                                                  min(kc, k - s), generator)
                lses.append(torch.logsumexp(lpx + lpz - lqz, 0))
            outs.append(torch.logsumexp(torch.stack(lses), 0) - math.log(k))
        return torch.cat(outs)

    @torch.no_grad()
    def sample(self, n: int, condition: Tensor | None = None) -> Tensor:
        """n decoder means (Bernoulli probabilities) of z ~ p(z) (`prior_sample`), in data space; labels by
        `sample_labels` (without a condition a conditional model cycles through 0, 1, ..., K-1)."""
        condition = self.sample_labels(n, condition)
        return self.decode(self.prior_sample(n), condition)


@register("beta-vae", family="vae")
class BetaVAE(VAE):
    """beta-VAE (Higgins et al. 2017): recon + beta KL; capacity_max > 0 gives recon + beta |KL - C(t)|."""

    Config = BetaVAEConfig


@register("cvae", family="vae")
class CVAE(VAE):
    """Conditional VAE (Sohn et al. 2015): one-hot labels concatenated to the encoder and decoder inputs."""

    Config = CVAEConfig
    conditional = True


@register("iwae", family="vae")
class IWAE(VAE):
    """Importance-weighted autoencoder (Burda et al. 2016): maximise log (1/k) sum_i p(x, z_i) / q(z_i | x)."""

    Config = IWAEConfig
