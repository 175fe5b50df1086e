"""Progressive growing of GANs (Karras et al. 2018): `pggan`.

Resolutions double stage by stage: 7 -> 14 -> 28 for MNIST (sides 7 * 2^k), 4 -> 8 -> 16 -> 32 generally
(sides 4 * 2^k). A new stage fades in: the generator's output is (1 - alpha) * upsample(toRGB_{s-1}(h)) +
alpha * toRGB_s(block_s(h)), the discriminator's input path mirrors it, and real images are blended the same way.
The schedule is a pure function of the step (`schedule(step)`): stage 0 trains for stable_steps, every later
stage fades in over fade_steps and then trains for stable_steps; the last stage continues indefinitely.
`on_step_end(step)` moves stage and alpha, and both travel in `extra_state`, so the generic Trainer drives it.
Equalised learning rate, pixel norm in the generator, and minibatch stddev in the discriminator's last block.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.data.transforms import from_minus_one_one, to_minus_one_one
from genzoo.errors import ConfigError
from genzoo.math import gradient_penalty
from genzoo.models.base import Batch, GenerativeModel, ModelConfig
from genzoo.models.gan.layers import EqualizedConv2d, EqualizedLinear, MinibatchStdDev, PixelNorm, apply_spectral_norm
from genzoo.models.gan.losses import discriminator_loss, generator_loss
from genzoo.models.registry import register


@dataclass
class PGGANConfig(ModelConfig):
    """data_shape: (C, S, S) with S = 7 * 2^k or 4 * 2^k. channels: feature maps at the lowest resolution; each
    doubling of the side halves them down to min_channels (0: min_channels = channels, the same in every block), as
    the paper's feature maps shrink with resolution (`stage_channels`). start_res:
    side of stage 0 (0: 7 when S is 7 * 2^k, else 4). fade_steps / stable_steps: the schedule. loss: "wgan-gp"
    (the paper's, with drift epsilon * E D(x)^2) | "ns" | "hinge". mbstd_group: minibatch-stddev group size.
    spectral_norm: spectral normalisation on every discriminator layer (equalised scaling then off)."""

    data_shape: tuple[int, ...] = (1, 28, 28)
    latent_dim: int = 128
    channels: int = 64
    min_channels: int = 0
    start_res: int = 0
    fade_steps: int = 1000
    stable_steps: int = 1000
    loss: Literal["wgan-gp", "ns", "hinge"] = "wgan-gp"
    gp_weight: float = 10.0
    drift: float = 1e-3
    n_critic: int = 1
    mbstd_group: int = 4
    spectral_norm: bool = False

    positive: ClassVar[tuple[str, ...]] = ("latent_dim", "channels", "stable_steps", "n_critic")

    def checks(self) -> list[tuple[bool, str]]:
        square = len(self.data_shape) == 3 and self.data_shape[1] == self.data_shape[2]
        side = self.data_shape[-1]
        start = self.start_res or (7 if _is_pow2_multiple(side, 7) else 4)
        return [
            (square, f"data_shape must be square images (C, S, S), got {self.data_shape}"),
            (not square or _is_pow2_multiple(side, start),
             f"image side {side} is not start_res {start} times a power of 2"),
            (self.num_classes == 0, "conditional PGGAN is not supported (num_classes must be 0)"),
        ]

    @property
    def start(self) -> int:
        side = self.data_shape[1]
        return self.start_res or (7 if _is_pow2_multiple(side, 7) else 4)

    @property
    def n_stages(self) -> int:
        return int(round(math.log2(self.data_shape[1] // self.start))) + 1

    @property
    def stage_channels(self) -> list[int]:
        """Feature maps of stage s: max(min_channels, channels / 2^s) (channels everywhere if min_channels = 0)."""
        lo = self.min_channels or self.channels
        return [max(min(lo, self.channels), self.channels // 2**s) for s in range(self.n_stages)]


def _is_pow2_multiple(side: int, start: int) -> bool:
    if side % start:
        return False
    r = side // start
    return r >= 1 and r & (r - 1) == 0


def schedule(step: int, n_stages: int, fade_steps: int, stable_steps: int) -> tuple[int, float]:
    """(stage, alpha) after `step` completed steps."""
    if step < stable_steps or n_stages == 1:
        return 0, 1.0
    t = step - stable_steps
    period = fade_steps + stable_steps
    stage = min(1 + t // period, n_stages - 1)
    t_in = t - (stage - 1) * period
    alpha = 1.0 if fade_steps == 0 else min(1.0, t_in / fade_steps)
    return int(stage), float(alpha)


def _lrelu(x: Tensor) -> Tensor:
    return F.leaky_relu(x, 0.2)


class _GBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.c1, self.c2, self.pn = EqualizedConv2d(cin, cout, 3, 1), EqualizedConv2d(cout, cout, 3, 1), PixelNorm()

    def forward(self, h: Tensor) -> Tensor:
        h = F.interpolate(h, scale_factor=2, mode="nearest")
        return self.pn(_lrelu(self.c2(self.pn(_lrelu(self.c1(h))))))


class PGGenerator(nn.Module):
    def __init__(self, latent_dim: int, img_ch: int, chs: list[int], start: int):
        super().__init__()
        ch = chs[0]
        self.ch, self.start = ch, start
        self.pn = PixelNorm()
        self.fc = EqualizedLinear(latent_dim, ch * start * start, gain=math.sqrt(2) / 4)  # as in the paper's code
        self.conv0 = EqualizedConv2d(ch, ch, 3, 1)
        self.blocks = nn.ModuleList([nn.Identity()] + [_GBlock(chs[s - 1], chs[s]) for s in range(1, len(chs))])
        self.to_rgb = nn.ModuleList([EqualizedConv2d(c, img_ch, 1, 0, gain=1.0) for c in chs])

    def features(self, z: Tensor, upto: int) -> Tensor:
        """h after the base and blocks 1..upto."""
        h = self.pn(_lrelu(self.fc(self.pn(z)).view(-1, self.ch, self.start, self.start)))
        h = self.pn(_lrelu(self.conv0(h)))
        for s in range(1, upto + 1):
            h = self.blocks[s](h)
        return h

    def forward(self, z: Tensor, stage: int, alpha: float = 1.0) -> Tensor:
        if stage == 0:
            return self.to_rgb[0](self.features(z, 0))
        h = self.features(z, stage - 1)
        new = self.to_rgb[stage](self.blocks[stage](h))
        if alpha >= 1.0:
            return new
        old = F.interpolate(self.to_rgb[stage - 1](h), scale_factor=2, mode="nearest")
        return (1.0 - alpha) * old + alpha * new


class _DBlock(nn.Module):
    def __init__(self, cin: int, cout: int):
        super().__init__()
        self.c1, self.c2 = EqualizedConv2d(cin, cin, 3, 1), EqualizedConv2d(cin, cout, 3, 1)

    def forward(self, h: Tensor) -> Tensor:
        return F.avg_pool2d(_lrelu(self.c2(_lrelu(self.c1(h)))), 2)


class PGDiscriminator(nn.Module):
    def __init__(self, img_ch: int, chs: list[int], start: int, mbstd_group: int):
        super().__init__()
        ch = chs[0]
        self.from_rgb = nn.ModuleList([EqualizedConv2d(img_ch, c, 1, 0) for c in chs])
        self.blocks = nn.ModuleList([nn.Identity()] + [_DBlock(chs[s], chs[s - 1]) for s in range(1, len(chs))])
        self.mbstd = MinibatchStdDev(mbstd_group)
        self.conv = EqualizedConv2d(ch + 1, ch, 3, 1)
        self.fc1 = EqualizedLinear(ch * start * start, ch)
        self.fc2 = EqualizedLinear(ch, 1, gain=1.0)

    def forward(self, x: Tensor, stage: int, alpha: float = 1.0) -> Tensor:
        h = _lrelu(self.from_rgb[stage](x))
        if stage > 0:
            h = self.blocks[stage](h)
            if alpha < 1.0:
                h = alpha * h + (1.0 - alpha) * _lrelu(self.from_rgb[stage - 1](F.avg_pool2d(x, 2)))
            for s in range(stage - 1, 0, -1):
                h = self.blocks[s](h)
        h = _lrelu(self.conv(self.mbstd(h)))
        return self.fc2(_lrelu(self.fc1(h.flatten(1)))).squeeze(1)


@register("pggan", family="gan")
class PGGAN(GenerativeModel):
    """Progressively grown GAN; stage and alpha follow `schedule(step)` through on_step_end."""

    likelihood = "none"
    Config = PGGANConfig
    data_kinds = ("image",)
    capabilities = frozenset({"decode", "latent"})
    train_defaults: dict[str, Any] = {"lr": 1e-3, "betas": (0.0, 0.99)}

    def __init__(self, config: PGGANConfig):
        super().__init__(config)
        c = config
        self.generator = PGGenerator(c.latent_dim, c.data_shape[0], c.stage_channels, c.start)
        self.discriminator = PGDiscriminator(c.data_shape[0], c.stage_channels, c.start, c.mbstd_group)
        if c.spectral_norm:
            apply_spectral_norm(self.discriminator)
        self.step_count = 0
        self.stage, self.alpha = schedule(0, c.n_stages, c.fade_steps, c.stable_steps)

    @property
    def resolution(self) -> int:
        return self.config.start * 2**self.stage

    def set_stage(self, stage: int, alpha: float = 1.0) -> None:
        if not 0 <= stage < self.config.n_stages or not 0.0 <= alpha <= 1.0:
            raise ConfigError(f"pggan: stage must lie in [0, {self.config.n_stages}) and alpha in [0, 1]")
        self.stage, self.alpha = int(stage), float(alpha)

    # ---- contract --------------------------------------------------------------------------------------------
    def players(self) -> dict[str, list[nn.Parameter]]:
        return {"generator": list(self.generator.parameters()),
                "discriminator": list(self.discriminator.parameters())}

    def update_order(self, step: int) -> list[str]:
        return ["discriminator"] * self.config.n_critic + ["generator"]

    def on_step_end(self, step: int) -> None:
        self.step_count = step + 1
        c = self.config
        self.stage, self.alpha = schedule(step + 1, c.n_stages, c.fade_steps, c.stable_steps)

    def extra_state(self) -> dict[str, Any]:
        return {"step": self.step_count, "stage": self.stage, "alpha": self.alpha}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        self.step_count = int(state.get("step", 0))
        c = self.config
        stage, alpha = schedule(self.step_count, c.n_stages, c.fade_steps, c.stable_steps)
        self.stage, self.alpha = int(state.get("stage", stage)), float(state.get("alpha", alpha))

    def real_at_stage(self, x: Tensor) -> Tensor:
        """Model-space real images at the current resolution, blended like the generator during a fade-in."""
        x = to_minus_one_one(x)[0]
        side = x.shape[-1]
        res = self.resolution
        cur = F.avg_pool2d(x, side // res) if side != res else x
        if self.stage > 0 and self.alpha < 1.0:
            low = F.interpolate(F.avg_pool2d(cur, 2), scale_factor=2, mode="nearest")
            cur = self.alpha * cur + (1.0 - self.alpha) * low
        return cur

    def loss(self, batch: Batch, player: str = "generator") -> dict[str, Tensor]:
        c = self.config
        real = self.real_at_stage(batch.x.to(self.device))
        n = real.shape[0]
        z = torch.randn(n, c.latent_dim, device=self.device)
        s, a = self.stage, self.alpha
        out: dict[str, Tensor] = {"stage": torch.tensor(float(s)), "alpha": torch.tensor(a)}
        if player == "discriminator":
            with torch.no_grad():
                fake = self.generator(z, s, a)
            d_real = self.discriminator(real, s, a)
            d_fake = self.discriminator(fake, s, a)
            loss = discriminator_loss("wgan" if c.loss == "wgan-gp" else c.loss, d_real, d_fake)
            if c.loss == "wgan-gp" and torch.is_grad_enabled():
                gp = gradient_penalty(lambda t: self.discriminator(t, s, a), real, fake)
                loss = loss + c.gp_weight * gp + c.drift * d_real.pow(2).mean()
                out["gp"] = gp.detach()
            return {"loss": loss, "d_real": d_real.detach().mean(), "d_fake": d_fake.detach().mean(), **out}
        if player == "generator":
            d_params = list(self.discriminator.parameters())
            for p in d_params:
                p.requires_grad_(False)
            try:
                d_fake = self.discriminator(self.generator(z, s, a), s, a)
            finally:
                for p in d_params:
                    p.requires_grad_(True)
            return {"loss": generator_loss(c.loss, d_fake), **out}
        raise ConfigError(f'pggan: unknown player "{player}"; players: generator, discriminator')

    @torch.no_grad()
    def sample(self, n: int, condition: Tensor | None = None) -> Tensor:
        """n samples G(z), z ~ N(0, I), at the current stage, upsampled to the data's side, in [0, 1]."""
        self.sample_labels(n, condition)  # an unconditional model: a condition is a DataError
        return self.decode(torch.randn(n, self.config.latent_dim, device=self.device))

    def decode(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        """G(z) at the current stage and fade-in, upsampled (nearest) to the data's side, in data space
        (differentiable in z)."""
        self.sample_labels(z.shape[0], condition)
        x = self.generator(z.to(self.device), self.stage, self.alpha)
        side = self.config.data_shape[1]
        if x.shape[-1] != side:
            x = F.interpolate(x, scale_factor=side // x.shape[-1], mode="nearest")
        return from_minus_one_one(x)[0].clamp(0.0, 1.0)
