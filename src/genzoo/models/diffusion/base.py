"""What every diffusion/score model shares: config fields, the network, preprocessing, labels and guidance."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor

from genzoo.data.transforms import dequantize, from_minus_one_one, to_minus_one_one
from genzoo.errors import DataError
from genzoo.models.base import GenerativeModel, ModelConfig
from genzoo.models.diffusion.nets import build_net


@dataclass
class DiffusionNetConfig(ModelConfig):
    """Fields shared by `ddpm`, `ddim`, `ncsn`, `score-sde`.

    net: "auto" (a UNet for (C, H, W) images, an MLP for flat data) | "unet" | "mlp". channels, num_res_blocks,
    attention (one flag per level; None: lowest resolution only), heads, dropout, norm_groups (None: at most 32
    groups of >= 4 channels): the UNet. hidden: the MLP widths.
    num_classes > 0 makes the model class-conditional with classifier-free guidance: labels are replaced by a
    "no label" token with probability p_uncond in training; sampling uses eps_u + guidance_scale (eps_c - eps_u)
    (1: plain conditional). Images are mapped to [-1, 1] inside loss/log_prob, samples back to [0, 1];
    flat data are used as they are. sample_batch: examples per network call when sampling / evaluating.
    """

    data_shape: tuple[int, ...] = (1, 28, 28)
    net: Literal["auto", "unet", "mlp"] = "auto"
    channels: tuple[int, ...] = (32, 64, 64)
    num_res_blocks: int = 1
    attention: tuple[bool, ...] | None = None
    heads: int = 1
    dropout: float = 0.0
    norm_groups: int | None = None
    hidden: tuple[int, ...] = (128, 128, 128)
    p_uncond: float = 0.1
    guidance_scale: float = 1.0
    sample_batch: int = 500

    positive: ClassVar[tuple[str, ...]] = ("channels", "num_res_blocks", "hidden", "heads", "sample_batch")

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (len(self.channels) > 0, "channels must be positive"),
            (0 <= self.p_uncond < 1, "p_uncond must lie in [0, 1)"),
            (0 <= self.dropout < 1, "dropout must lie in [0, 1)"),
            (self.norm_groups is None or (self.norm_groups >= 1 and all(c % self.norm_groups == 0 for c in
                                                                        self.channels)),
             "norm_groups must divide every entry of channels"),
            (self.net != "unet" or len(self.data_shape) == 3, "net 'unet' needs image data_shape (C, H, W)"),
            (self.attention is None or len(self.attention) == len(self.channels), "attention: one flag per level"),
        ]


class DiffusionBase(GenerativeModel):
    """Shared machinery; subclasses implement loss / sample / log_prob. Training defaults: Adam lr 2e-4 and an EMA
    of the weights (decay 0.999), which the Trainer uses for sampling, evaluation and saving (pass
    ema_decay=None to the Trainer to turn it off)."""

    train_defaults = {"lr": 2e-4, "ema_decay": 0.999}

    def __init__(self, config: DiffusionNetConfig, out_mult: int = 1):
        super().__init__(config)
        self.net = build_net(config.data_shape, out_mult, config)

    # ---- data space --------------------------------------------------------------------------------------------
    @property
    def is_image(self) -> bool:
        return len(self.config.data_shape) == 3

    @property
    def dims(self) -> int:
        return math.prod(self.config.data_shape)

    def preprocess(self, x: Tensor) -> Tensor:
        """Images [0, 1] -> [-1, 1] (genzoo.data.transforms.to_minus_one_one); flat data unchanged."""
        return to_minus_one_one(x)[0] if self.is_image else x

    def postprocess(self, x: Tensor) -> Tensor:
        """Images [-1, 1] -> [0, 1], clamped (genzoo.data.transforms.from_minus_one_one); flat data unchanged."""
        return from_minus_one_one(x)[0].clamp(0, 1) if self.is_image else x

    def check_input(self, x: Tensor, condition: Tensor | None = None) -> None:
        super().check_input(x, condition)
        if self.is_image and (x.min() < 0 or x.max() > 1):
            raise DataError(f"{self.name}: images must lie in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}]")

    # ---- labels and guidance -----------------------------------------------------------------------------------
    def _train_labels(self, y: Tensor | None, n: int) -> Tensor | None:
        k = self.config.num_classes
        if k == 0:
            return None
        if y is None:
            return torch.full((n,), k, dtype=torch.long, device=self.device)
        y = y.to(self.device).long()
        if self.config.p_uncond > 0:
            drop = torch.rand(n, device=y.device) < self.config.p_uncond
            y = torch.where(drop, torch.full_like(y, k), y)
        return y

    def _sample_labels(self, condition: Tensor | None, n: int) -> Tensor | None:
        return self.sample_labels(n, condition)

    def guided_net(self, x: Tensor, t: Tensor, y: Tensor | None, n_pred: int | None = None) -> Tensor:
        """The network output; with labels and guidance_scale != 1, the prediction channels are
        u + w (c - u) for the unconditional u and conditional c outputs (any extra channels from c)."""
        w = self.config.guidance_scale
        if y is None or w == 1.0:
            return self.net(x, t, y)
        null = torch.full_like(y, self.config.num_classes)
        both = self.net(torch.cat([x, x]), torch.cat([t, t]), torch.cat([y, null]))
        c, u = both.chunk(2)
        if n_pred is None or n_pred == c.shape[1]:
            return u + w * (c - u)
        return torch.cat([u[:, :n_pred] + w * (c[:, :n_pred] - u[:, :n_pred]), c[:, n_pred:]], dim=1)

    def _batched(self, n: int, fn) -> Tensor:
        bs = self.config.sample_batch
        return torch.cat([fn(i, min(bs, n - i)) for i in range(0, n, bs)])

    def _dequantize_for_ode(self, x: Tensor) -> tuple[Tensor, Tensor | float]:
        """Images: uniform dequantization (255 x + u) / 256 in [0, 1) (genzoo.data.transforms.dequantize), mapped to
        [-1, 1) by to_minus_one_one with its log|det| D log 2, so log p on [0, 1)^D = log p_y + D log 2. Flat data:
        as they are."""
        if not self.is_image:
            return x, 0.0
        return to_minus_one_one(dequantize(x))
