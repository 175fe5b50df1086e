"""MADE: masked autoencoder for distribution estimation (Germain et al. 2015), over the flattened image.

An MLP over the D = C H W sub-pixels becomes autoregressive by masking its weights (sec. 3): input d gets a degree
m(d), a permutation of 1..D (the order), every hidden unit k a degree m(k) in [1, D - 1], and a connection is kept
into a hidden unit when m(k) >= m(d) and into output d when m(d) > m(k) (eq. 12-13). Output d then depends on the
inputs of lower degree only, and

    log p(x) = sum_d log p(x_d | x_{m < m(d)})

is exact (one pass). `genzoo.nn.MADE` holds the masked layers; the natural order is the raster and channel order
t(c, i, j) = (i W + j) C + c of the other image models.

Connectivity-agnostic training (sec. 4): with `num_masks` = K > 1 the model owns K orderings and connectivities:
mask 0 the natural order with hidden degrees spread evenly over 1..D-1 (`natural_order`), masks 1..K-1 a random
order and random hidden degrees drawn from a generator seeded by (mask_seed, k), so every mask is a pure function
of its index.
Training step t uses mask t mod K (t is checkpointed in `extra_state`), so a resumed run is bit-exact. Evaluation
averages the first `ensemble` = E masks as a mixture, which is itself a normalised distribution:

    log p(x) = logsumexp_k log p_k(x) - log E.

A class label (num_classes > 0) biases every hidden layer through a learned embedding (a linear map of the one-hot
label, which no mask touches: it carries no pixel).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor

from genzoo.models.autoregressive.base import AutoregressiveConfig, AutoregressiveImageModel
from genzoo.models.registry import register
from genzoo.nn import MADE as MaskedMLP
from genzoo.nn import activation, made_degrees


@dataclass
class MADEConfig(AutoregressiveConfig):
    """hidden: widths of the masked hidden layers. act: their activation. num_masks: orderings/connectivities
    cycled over training steps (1: one fixed mask). ensemble: masks averaged by log_prob and sampled from by
    sample (<= num_masks). natural_order: mask 0 is the raster order with evenly spread hidden degrees (else it
    is random like the others). mask_seed: seed of the random masks."""

    hidden: tuple[int, ...] = (500,)
    act: str = "relu"
    num_masks: int = 1
    ensemble: int = 1
    natural_order: bool = True
    mask_seed: int = 0

    positive: ClassVar[tuple[str, ...]] = (*AutoregressiveConfig.positive, "hidden", "num_masks", "ensemble")

    def checks(self) -> list[tuple[bool, str]]:
        activation(self.act)  # unknown activation -> UnknownNameError naming the valid ones
        return [
            *super().checks(),
            (len(self.hidden) > 0, "hidden must name at least one layer width"),
            (self.ensemble <= self.num_masks, f"ensemble ({self.ensemble}) must be <= num_masks ({self.num_masks})"),
        ]


def natural_order(shape: tuple[int, int, int]) -> Tensor:
    """Degrees 1..D of the flattened (C, H, W) sub-pixels in raster and channel order: (i W + j) C + c + 1."""
    c, h, w = shape
    cc, ii, jj = torch.meshgrid(torch.arange(c), torch.arange(h), torch.arange(w), indexing="ij")
    return ((ii * w + jj) * c + cc + 1).reshape(-1)


@register("made", family="autoregressive")
class MADEModel(AutoregressiveImageModel):
    """MADE (Germain et al. 2015): a masked MLP over the flattened image; order-agnostic training with
    `num_masks` > 1 and an order ensemble at test time. `use_mask(k)`, `degrees(k)`, `log_prob(..., ensemble)`."""

    Config = MADEConfig
    log_prob_options = ("generator", "ensemble")

    def __init__(self, config: MADEConfig):
        super().__init__(config)
        d = self.channels * self.height * self.width
        self.made = MaskedMLP(d, config.hidden, params=self.output.params, context=config.num_classes,
                              order=natural_order(config.data_shape).tolist(), act=config.act,
                              context_every_layer=True)
        self._degrees: dict[int, list[Tensor]] = {}
        self.register_buffer("mask_index", torch.zeros((), dtype=torch.long))  # the mask the layers hold now
        self._step = 0
        self.use_mask(0, force=True)

    # ---- masks -------------------------------------------------------------------------------------------------
    def degrees(self, k: int) -> list[Tensor]:
        """Degrees (input order, then each hidden layer) of mask k, a pure function of k and the config."""
        if k not in self._degrees:
            cfg = self.config
            d = self.made.features
            if k == 0 and cfg.natural_order:
                degs = made_degrees(d, cfg.hidden, natural_order(cfg.data_shape).tolist(), spread=True)
            else:
                g = torch.Generator().manual_seed(1_000_003 * cfg.mask_seed + k)
                order = (torch.randperm(d, generator=g) + 1).tolist()
                degs = made_degrees(d, cfg.hidden, order, generator=g)
            self._degrees[k] = degs
        return self._degrees[k]

    def use_mask(self, k: int, force: bool = False) -> None:
        """Put mask k into the masked layers (a no-op when they hold it already)."""
        if force or int(self.mask_index) != k:
            self.made.set_degrees([d.to(self.mask_index.device) for d in self.degrees(k)])
            self.mask_index.fill_(k)

    def training_mask(self) -> int:
        return self._step % self.config.num_masks

    def on_step_end(self, step: int) -> None:
        self._step = int(step) + 1

    def extra_state(self) -> dict:
        return {"step": self._step}

    def load_extra_state(self, state: dict) -> None:
        self._step = int(state.get("step", 0))

    # ---- the network -----------------------------------------------------------------------------------------
    def network(self, inputs: Tensor, labels: Tensor | None = None) -> Tensor:
        """The masked MLP with the mask the layers hold: (N, C, H, W) -> (N, C, P, H, W)."""
        n = inputs.shape[0]
        ctx = None
        if self.config.num_classes > 0:
            ctx = self._one_hot(labels, inputs)
        out = self.made(inputs.reshape(n, -1), ctx)  # (N, P, D), D in (C, H, W) layout
        return out.reshape(n, self.output.params, self.channels, self.height, self.width).transpose(1, 2)

    def _one_hot(self, labels: Tensor | None, ref: Tensor) -> Tensor:
        if labels is None:
            raise ValueError(f"{self.name}: conditional model needs labels")
        if labels.is_floating_point():
            return labels.to(ref.dtype)
        return torch.nn.functional.one_hot(labels.long(), self.config.num_classes).to(ref.dtype)

    # ---- likelihood ------------------------------------------------------------------------------------------
    def log_prob_mask(self, levels: Tensor, labels: Tensor | None, k: int) -> Tensor:
        """log p_k(levels) under mask k, (N,)."""
        self.use_mask(k)
        return self.log_prob_levels(levels, labels)

    def log_prob(self, x: Tensor, condition: Tensor | None = None, generator: torch.Generator | None = None,
                 ensemble: int | None = None) -> Tensor:
        """Exact log p(x) of the mixture of the first `ensemble` masks (config.ensemble by default):
        logsumexp_k log p_k(x) - log E."""
        self.check_input(x, condition)
        e = int(ensemble or self.config.ensemble)
        if not 1 <= e <= self.config.num_masks:
            raise ValueError(f"ensemble must lie in 1..{self.config.num_masks}, got {e}")
        levels = self.levels(x, generator)
        before = int(self.mask_index)
        lps = torch.stack([self.log_prob_mask(levels, condition, k) for k in range(e)])
        self.use_mask(before)
        return torch.logsumexp(lps, 0) - math.log(e)

    def loss(self, batch, player: str = "model") -> dict[str, Tensor]:
        """Training: -log p_k(x) under this step's mask k (connectivity-agnostic training); evaluation: the
        ensemble's -log p(x)."""
        if not self.training:
            return super().loss(batch, player)
        self.check_input(batch.x, batch.y)
        nll = -self.log_prob_mask(self.levels(batch.x), batch.y, self.training_mask()).mean()
        return {"loss": nll, "nll": nll.detach()}

    # ---- sampling --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def sample_levels(self, n: int, labels: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """Pick a mask k uniformly among the ensemble's per image (the mixture), then draw the sub-pixels in
        mask k's order, one network pass per sub-pixel."""
        e = self.config.ensemble
        device = self.device
        comp = (torch.randint(0, e, (n,), generator=generator) if e > 1 else torch.zeros(n, dtype=torch.long))
        levels = torch.zeros(n, self.made.features, dtype=torch.long, device=device)
        before = int(self.mask_index)
        for k in range(e):
            rows = (comp == k).nonzero().reshape(-1).to(device)
            if rows.numel() == 0:
                continue
            self.use_mask(k)
            lab = None if labels is None else labels[rows]
            lv = levels[rows].reshape(-1, self.channels, self.height, self.width)
            for d in torch.argsort(self.degrees(k)[0]).tolist():
                c, rest = divmod(d, self.height * self.width)
                i, j = divmod(rest, self.width)
                params = self.network(self.inputs(lv), lab)[:, c : c + 1, :, i, j]
                lv[:, c, i, j] = self.output.sample(params, generator)[:, 0]
            levels[rows] = lv.reshape(rows.numel(), -1)
        self.use_mask(before)
        return levels.reshape(n, self.channels, self.height, self.width)
