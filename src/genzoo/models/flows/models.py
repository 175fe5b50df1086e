"""The registered flow models: `realnvp`, `glow`, `maf`, `nice` (family "flow", likelihood "exact").

Every model is a `Flow(transform, StandardNormal)` wrapped in the GenerativeModel contract. For images
(data_shape (C, H, W), values k / 255 in [0, 1]) the model preprocesses inside `loss` / `log_prob`:

    uniform dequantization  x -> (255 x + u) / 256, u ~ U[0, 1)   (training: fresh noise; eval: `eval_noise`
                            "seeded" = noise from a generator seeded by `eval_seed`, "mid" = u = 1/2)
    logit                   s = alpha + (1 - 2 alpha) x, y = logit(s), with its log-det (default alpha = 1e-5;
                            RealNVP used 0.05 on natural images, see `FlowConfig`)

and `log_prob` is the density of the dequantized image on [0, 1)^D (the logit log-det included), so
`bits_per_dim` = (NLL / D + ln 256) / ln 2 with `bpd_bins = 256`. `sample` inverts the logit and returns
images in [0, 1]. Points / tabular data (data_shape (D,)) are modelled as given (`bpd_bins = 1`).
Conditional models (num_classes > 0) embed the label into a `cond_dim` vector fed to every conditioner.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from genzoo.data.transforms import dequantize
from genzoo.errors import ConfigError, DataError
from genzoo.math import bits_per_dim
from genzoo.models.base import Batch, GenerativeModel, ModelConfig
from genzoo.models.flows.distribution import Flow, StandardNormal
from genzoo.models.flows.transforms import (
    ActNorm,
    Compose,
    ElementwiseAffine,
    Flatten,
    ImageCoupling,
    InvConv1x1,
    Inverse,
    Logit,
    MaskedAutoregressive,
    MultiScale,
    Reverse,
    Squeeze,
    Transform,
    VectorCoupling,
    alternating_mask,
    channel_mask,
    checkerboard_mask,
)
from genzoo.models.registry import register
from genzoo.nn.mlp import activation


@dataclass
class FlowConfig(ModelConfig):
    """Fields every flow model has.

    hidden: MLP widths of vector conditioners (couplings, MADE). hidden_channels: width of image conditioners.
    act: activation. scale: how a coupling bounds its log-scale ("tanh": 2 tanh(raw / 2); "sigmoid": Glow's
    log sigmoid(raw + 2); "exp": unbounded). cond_dim: size of the label embedding (conditional models).
    logit_alpha: alpha of the logit pre-processing of images. Default 1e-5: on MNIST-like images (81% of the
    pixels are 0) RealNVP's 0.05 squeezes every background pixel's dequantization interval into a box of width
    0.07 in logit space that the flow must first blow up, and trains several times slower (docs/models/flows.md,
    "logit alpha"); a small alpha spreads that interval over several units instead.
    dequantize: uniform dequantization of images (None: on for image shapes). eval_noise: dequantization noise
    in eval mode, "seeded" (u from a generator seeded with eval_seed, so evaluation is deterministic) or "mid"
    (u = 1/2, the bin centre).
    conv_layers, conv_kernel, conv_residual, conv_norm: the hidden layers of image conditioners (`ConvNet`;
    default one 1x1 layer, conv3x3 -> conv1x1 -> conv3x3 as RealNVP / Glow; conv_norm="actnorm" adds
    data-initialised ActNorm layers as Glow's NN).
    """

    data_shape: tuple[int, ...] = (2,)
    hidden: tuple[int, ...] = (64, 64)
    hidden_channels: int = 64
    act: str = "relu"
    scale: Literal["tanh", "sigmoid", "exp"] = "tanh"
    cond_dim: int = 16
    logit_alpha: float = 1e-5
    dequantize: bool | None = None
    eval_noise: Literal["seeded", "mid"] = "seeded"
    eval_seed: int = 0
    conv_layers: int = 1
    conv_kernel: int = 1
    conv_residual: bool = False
    conv_norm: Literal["none", "actnorm"] = "none"

    positive: ClassVar[tuple[str, ...]] = ("hidden", "hidden_channels", "cond_dim", "conv_kernel")

    def checks(self) -> list[tuple[bool, str]]:
        activation(self.act)
        return [
            (len(self.data_shape) in (1, 3), f"data_shape must be (D,) or (C, H, W), got {self.data_shape}"),
            (len(self.hidden) >= 1, "hidden needs >= 1 positive width"),
            (0.0 < self.logit_alpha < 0.5, "logit_alpha must lie in (0, 0.5)"),
            (self.conv_kernel % 2 == 1, "conv_kernel must be a positive odd number"),
        ]

    @property
    def is_image(self) -> bool:
        return len(self.data_shape) == 3

    @property
    def conv_kw(self) -> dict:
        """Keyword arguments of image couplings' conditioners."""
        return dict(layers=self.conv_layers, kernel=self.conv_kernel, residual=self.conv_residual,
                    norm=self.conv_norm)


class FlowModel(GenerativeModel):
    """Shared GenerativeModel plumbing of the flow family; subclasses implement `build_body(context)`."""

    likelihood = "exact"
    Config = FlowConfig
    sample_options = ("temperature", "generator")
    log_prob_options = ("generator",)
    train_defaults = {"lr": 1e-3}
    loss_units = "nats/dim"
    capabilities = frozenset({"invert"})

    def __init__(self, config: FlowConfig):
        super().__init__(config)
        cfg = config
        self.dim = math.prod(cfg.data_shape)
        context = cfg.cond_dim if cfg.num_classes > 0 else 0
        self.embed = nn.Embedding(cfg.num_classes, cfg.cond_dim) if cfg.num_classes > 0 else None
        body, out_dim = self.build_body(context)
        pre: list[Transform] = [Logit(cfg.logit_alpha)] if cfg.is_image else []
        self.flow = Flow(Compose(*pre, body), StandardNormal(out_dim))

    def build_body(self, context: int) -> tuple[Transform, int]:
        raise NotImplementedError

    # ---- preprocessing -------------------------------------------------------------------------------------
    @property
    def dequantizes(self) -> bool:
        cfg = self.config
        return cfg.is_image if cfg.dequantize is None else bool(cfg.dequantize and cfg.is_image)

    @property
    def bpd_bins(self) -> int:
        """256 for the density of dequantized 8-bit images on [0, 1); 1 for points (bits/dim of a density)."""
        return 256 if self.config.is_image else 1

    def check_input(self, x: Tensor, condition: Tensor | None = None) -> None:
        super().check_input(x, condition)
        if self.config.is_image and x.numel() and (x.min() < 0 or x.max() > 1):
            raise DataError(f"{self.name}: images must lie in [0, 1], got [{x.min().item():.4g}, {x.max().item():.4g}]")
        if self.config.num_classes > 0 and condition is None:
            raise DataError(f"{self.name}: conditional model (num_classes = {self.config.num_classes}) needs labels")

    def preprocess(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Images: x -> (255 x + u) / 256 by `genzoo.data.transforms.dequantize` (u as documented in the module);
        points unchanged."""
        if not self.dequantizes:
            return x
        if self.training:
            return dequantize(x, generator)
        if self.config.eval_noise == "mid":
            return dequantize(x, offset=0.5)
        if generator is None:
            generator = torch.Generator(device=x.device).manual_seed(self.config.eval_seed)
        return dequantize(x, generator)

    def to_latent(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        """z = t(x) (N, D), the flow's bijection onto its N(0, I) base. Images enter at the centres of their 8-bit
        bins, (255 x + 1/2) / 256 (`dequantize` with offset 1/2: no noise, so the map is deterministic)."""
        self.check_input(x, condition)
        if self.dequantizes:
            x = dequantize(x, offset=0.5)
        return self.flow.transform(x, self.context(condition))[0].flatten(1)

    def from_latent(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        """x = t^{-1}(z) in data space (labels by `sample_labels`). Images: the bin-centre map of `to_latent`
        undone, x = (256 y - 1/2) / 255, clamped to [0, 1], so from_latent(to_latent(x)) = x."""
        y = self.sample_labels(z.shape[0], condition)
        x, _ = self.flow.transform.inverse(z.reshape(z.shape[0], *self.flow.base.shape), self.context(y))
        if self.dequantizes:
            x = (256.0 * x - 0.5) / 255.0
        return x.clamp(0.0, 1.0) if self.config.is_image else x

    def context(self, condition: Tensor | None) -> Tensor | None:
        if self.embed is None or condition is None:
            return None
        return self.embed(condition.long())

    # ---- the contract --------------------------------------------------------------------------------------
    def log_prob(self, x: Tensor, condition: Tensor | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        """log p(x) in nats per example: for images, the density of the dequantized image on [0, 1)^D."""
        self.check_input(x, condition)
        return self.flow.log_prob(self.preprocess(x, generator), self.context(condition))

    def loss(self, batch: Batch, player: str = "model") -> dict[str, Tensor]:
        nll = -self.log_prob(batch.x, batch.y).mean()
        nll_d = nll.detach()  # bits/dim is affine in the NLL, so the batch mean converts as one number
        return {"loss": nll / self.dim, "nll": nll_d, "bpd": bits_per_dim(nll_d, self.dim, n_bins=self.bpd_bins)}

    @torch.no_grad()
    def sample(self, n: int, condition: Tensor | None = None, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> Tensor:
        """n samples in data space (images in [0, 1]); labels by `sample_labels` (N,) or one label for all;
        without a condition a conditional model cycles through 0, 1, ..., K-1."""
        y = self.sample_labels(n, condition)
        x = self.flow.sample(n, self.context(y), temperature=temperature, generator=generator)
        return x.clamp(0.0, 1.0) if self.config.is_image else x


def _check_levels(shape: tuple[int, ...], levels: int, name: str) -> None:
    _, h, w = shape
    if levels < 0 or h % 2**levels or w % 2**levels:
        raise ConfigError(f"{name}: height and width ({h}x{w}) must be divisible by 2^levels (levels = {levels})")


# ---- RealNVP -----------------------------------------------------------------------------------------------------
@dataclass
class RealNVPConfig(FlowConfig):
    """n_blocks: coupling layers for vectors (alternating masks). Images: `levels` multi-scale levels, each
    `steps` checkerboard couplings, squeeze, `steps` channel couplings, split with a learned prior; then
    `final_steps` checkerboard couplings. actnorm: ActNorm before every coupling (None: images only)."""

    n_blocks: int = 8
    levels: int = 2
    steps: int = 3
    final_steps: int = 4
    actnorm: bool | None = None
    positive: ClassVar[tuple[str, ...]] = (*FlowConfig.positive, "n_blocks", "steps")


@register("realnvp", family="flow")
class RealNVP(FlowModel):
    """RealNVP (Dinh, Sohl-Dickstein & Bengio 2017): affine couplings, checkerboard/channel masks, multi-scale."""

    Config = RealNVPConfig

    def build_body(self, context):
        cfg = self.config
        use_an = cfg.is_image if cfg.actnorm is None else cfg.actnorm
        kw = dict(context=context, scale=cfg.scale, act=cfg.act)
        if not cfg.is_image:
            d = cfg.data_shape[0]
            if d < 2:
                raise ConfigError("realnvp: vector data needs D >= 2 to couple")
            blocks: list[Transform] = []
            for i in range(cfg.n_blocks):
                if use_an:
                    blocks.append(ActNorm(d))
                blocks.append(VectorCoupling(alternating_mask(d, i % 2), cfg.hidden, **kw))
            return Compose(*blocks), d
        _check_levels(cfg.data_shape, cfg.levels, "realnvp")
        c, h, w = cfg.data_shape
        hc = cfg.hidden_channels

        def couple(mask, ch):
            return ([ActNorm(ch)] if use_an else []) + [ImageCoupling(mask, ch, hc, **kw, **cfg.conv_kw)]

        def level(i, c, h, w):
            if i == cfg.levels:
                ts = [t for k in range(cfg.final_steps) for t in couple(checkerboard_mask(h, w, k % 2), c)]
                return Compose(*ts, Flatten((c, h, w)))
            ts = [t for k in range(cfg.steps) for t in couple(checkerboard_mask(h, w, k % 2), c)]
            ts.append(Squeeze())
            c2, h2, w2 = 4 * c, h // 2, w // 2
            ts += [t for k in range(cfg.steps) for t in couple(channel_mask(c2, k % 2), c2)]
            inner = level(i + 1, c2 // 2, h2, w2)
            return MultiScale(Compose(*ts), inner, (c2, h2, w2), hc, context, cfg.act)

        return level(0, c, h, w), self.dim


# ---- Glow --------------------------------------------------------------------------------------------------------
@dataclass
class GlowConfig(FlowConfig):
    """Images: `levels` levels of squeeze + `steps` (K) x [ActNorm, invertible 1x1 conv (LU when `lu`),
    affine coupling (channel mask)], a split with a learned prior after every level but the last.
    Vectors: `steps` x [ActNorm, LU linear map, coupling]."""

    levels: int = 2
    steps: int = 8
    lu: bool = True
    positive: ClassVar[tuple[str, ...]] = (*FlowConfig.positive, "levels", "steps")
    scale: Literal["tanh", "sigmoid", "exp"] = "sigmoid"


@register("glow", family="flow")
class Glow(FlowModel):
    """Glow (Kingma & Dhariwal 2018): ActNorm, invertible 1x1 convolution, affine coupling; multi-scale."""

    Config = GlowConfig

    def build_body(self, context):
        cfg = self.config
        kw = dict(context=context, scale=cfg.scale, act=cfg.act)
        if not cfg.is_image:
            d = cfg.data_shape[0]
            if d < 2:
                raise ConfigError("glow: vector data needs D >= 2 to couple")
            ts: list[Transform] = []
            for k in range(cfg.steps):
                ts += [ActNorm(d), InvConv1x1(d, lu=cfg.lu),
                       VectorCoupling(alternating_mask(d, k % 2), cfg.hidden, **kw)]
            return Compose(*ts), d
        if cfg.levels < 1:
            raise ConfigError("glow: levels must be >= 1 for images")
        _check_levels(cfg.data_shape, cfg.levels, "glow")
        c, h, w = cfg.data_shape
        hc = cfg.hidden_channels

        def level(i, c, h, w):
            c2, h2, w2 = 4 * c, h // 2, w // 2
            ts: list[Transform] = [Squeeze()]
            for _ in range(cfg.steps):
                ts += [ActNorm(c2), InvConv1x1(c2, lu=cfg.lu),
                       ImageCoupling(channel_mask(c2, 0), c2, hc, **kw, **cfg.conv_kw)]
            if i == cfg.levels - 1:
                return Compose(*ts, Flatten((c2, h2, w2)))
            return MultiScale(Compose(*ts), level(i + 1, c2 // 2, h2, w2), (c2, h2, w2), hc, context, cfg.act)

        return level(0, c, h, w), self.dim


# ---- MAF / IAF ---------------------------------------------------------------------------------------------------
@dataclass
class MAFConfig(FlowConfig):
    """n_blocks masked autoregressive transforms (MADE conditioners) with order reversals between them.
    iaf: use each block inverted (IAF: one-pass sampling, sequential density). actnorm: ActNorm before
    every block. Images are flattened after the logit."""

    n_blocks: int = 5
    iaf: bool = False
    actnorm: bool = False
    positive: ClassVar[tuple[str, ...]] = (*FlowConfig.positive, "n_blocks")


@register("maf", family="flow")
class MAF(FlowModel):
    """Masked autoregressive flow (Papamakarios et al. 2017); `iaf=True` gives IAF (Kingma et al. 2016)."""

    Config = MAFConfig

    def build_body(self, context):
        cfg = self.config
        d = self.dim
        ts: list[Transform] = [Flatten(cfg.data_shape)] if cfg.is_image else []
        for i in range(cfg.n_blocks):
            if cfg.actnorm:
                ts.append(ActNorm(d))
            block = MaskedAutoregressive(d, cfg.hidden, context=context, act=cfg.act)
            ts.append(Inverse(block) if cfg.iaf else block)
            if i < cfg.n_blocks - 1:
                ts.append(Reverse(d))
        return Compose(*ts), d


# ---- NICE --------------------------------------------------------------------------------------------------------
@dataclass
class NICEConfig(FlowConfig):
    """n_blocks additive couplings (alternating masks) and a final diagonal scaling layer. Images are flattened
    after the logit (NICE's MLP couplings)."""

    n_blocks: int = 4
    positive: ClassVar[tuple[str, ...]] = (*FlowConfig.positive, "n_blocks")


@register("nice", family="flow")
class NICE(FlowModel):
    """NICE (Dinh, Krueger & Bengio 2015): additive couplings (volume preserving) + a diagonal scaling."""

    Config = NICEConfig

    def build_body(self, context):
        cfg = self.config
        d = self.dim
        if d < 2:
            raise ConfigError("nice: data needs D >= 2 to couple")
        ts: list[Transform] = [Flatten(cfg.data_shape)] if cfg.is_image else []
        for i in range(cfg.n_blocks):
            ts.append(VectorCoupling(alternating_mask(d, i % 2), cfg.hidden, context=context, scale="none",
                                     act=cfg.act))
        ts.append(ElementwiseAffine(d))
        return Compose(*ts), d
