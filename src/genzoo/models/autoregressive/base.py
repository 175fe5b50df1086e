"""What every autoregressive image model of the family shares: the config, data -> levels, the exact likelihood,
the training loss and pixel-by-pixel sampling.

An image x of C channels and H x W pixels is a sequence of D = C H W sub-pixels in raster order, the channels of a
pixel in turn (R before G before B): position t(c, i, j) = (i W + j) C + c. The chain rule gives the exact pmf

    log p(x) = sum_t log p(x_t | x_<t),

where a network emits the params of every conditional p(x_t | x_<t) at once (one pass over the whole image for
log_prob and training) and `outputs` turns them into Bernoulli, categorical or discretised-logistic-mixture
probabilities over the sub-pixel's `bins` levels. Sampling runs the network once per sub-pixel (D passes,
batched over the n images) and draws x_t from its conditional.

Subclasses implement `network(inputs, labels) -> (N, C, P, H, W)` on network inputs in [-1, 1] (a level k is
2 k / (bins - 1) - 1, a sub-pixel not sampled yet is -1 and unseen by causality), keeping the params of position
t a function of positions < t only; the tests check this by gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from genzoo.errors import DataError
from genzoo.models.autoregressive.outputs import make_output
from genzoo.models.base import Batch, GenerativeModel, ModelConfig


@dataclass
class AutoregressiveConfig(ModelConfig):
    """Fields of every autoregressive image model.

    output: "bernoulli" | "categorical" | "logistic" (per sub-pixel; see `outputs`). bins: levels per sub-pixel
    (categorical and logistic; bernoulli has 2). mixtures: logistic components. binarize, for outputs of 2 levels
    (bernoulli, or bins = 2), as in the VAE: "dynamic" b ~ Bernoulli(x) at every call (already-binary data are
    unchanged), "threshold" 1[x > 0.5], "none" x as given (rounded to the nearest level). Other outputs take the
    data's levels round(x (bins - 1)). num_classes > 0: a learned class embedding biases every layer.
    """

    data_shape: tuple[int, ...] = (1, 28, 28)
    output: Literal["bernoulli", "categorical", "logistic"] = "bernoulli"
    bins: int = 256
    mixtures: int = 5
    binarize: Literal["dynamic", "threshold", "none"] = "dynamic"

    positive: ClassVar[tuple[str, ...]] = ("bins", "mixtures")

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (len(self.data_shape) == 3, f"data_shape must be an image shape (C, H, W), got {self.data_shape}"),
            (self.output == "bernoulli" or self.bins >= 2, f"bins must be >= 2, got {self.bins}"),
        ]


class AutoregressiveImageModel(GenerativeModel):
    """Base of `made`, `pixelcnn`, `gated-pixelcnn`: exact log p(x) by the chain rule, sampling sub-pixel by
    sub-pixel. Public API: `levels(x)`, `inputs(levels)`, `network(inputs, labels)`, `log_prob`, `sample`, `loss`."""

    likelihood = "exact"
    Config = AutoregressiveConfig
    data_kinds = ("image",)
    sample_options = ("generator",)
    log_prob_options = ("generator",)
    loss_units = "nats/example"
    train_defaults = {"lr": 1e-3}

    def __init__(self, config: AutoregressiveConfig):
        super().__init__(config)
        self.output = make_output(config.output, config.bins, config.mixtures)
        self.channels, self.height, self.width = config.data_shape

    @property
    def bpd_bins(self) -> int:
        """1: log_prob is a pmf over the data's own discrete levels."""
        return 1

    # ---- data ------------------------------------------------------------------------------------------------
    def levels(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Data in [0, 1] -> int64 levels (N, C, H, W), binarized by the config for 2-level outputs."""
        mode = self.config.binarize if self.output.bins == 2 else "none"
        return self.output.targets(x, mode, generator)

    def inputs(self, levels: Tensor) -> Tensor:
        """Levels -> network inputs in [-1, 1]: 2 k / (bins - 1) - 1."""
        return 2.0 * self.output.to_data(levels).to(self._dtype) - 1.0

    @property
    def _dtype(self) -> torch.dtype:
        for p in self.parameters():
            return p.dtype
        return torch.float32

    def check_input(self, x: Tensor, condition: Tensor | None = None) -> None:
        super().check_input(x, condition)
        k = self.config.num_classes
        if k > 0 and condition is None:
            raise DataError(f"{self.name}: conditional model (num_classes = {k}) needs labels")
        if condition is not None and condition.is_floating_point():
            if condition.dim() != 2 or condition.shape[1] != k:
                raise DataError(f"{self.name}: a float condition must be one-hot of shape (N, {k}), "
                                f"got {tuple(condition.shape)}")
            if not torch.isfinite(condition).all():
                raise DataError(f"{self.name}: condition contains NaN or inf")
        elif condition is not None and condition.dim() != 1:
            raise DataError(f"{self.name}: labels must have shape (N,), got {tuple(condition.shape)}")
        if x.numel() and (x.min() < 0 or x.max() > 1):
            raise DataError(f"{self.name}: expects images in [0, 1], got {float(x.min()):.3g}..{float(x.max()):.3g}")

    # ---- the network -----------------------------------------------------------------------------------------
    def network(self, inputs: Tensor, labels: Tensor | None = None) -> Tensor:
        """(N, C, H, W) inputs in [-1, 1] (+ labels) -> (N, C, P, H, W) params of every conditional."""
        raise NotImplementedError

    def class_bias(self, embed: nn.Embedding | None, labels: Tensor | None) -> Tensor | None:
        """The learned class embedding of int labels (N,) or of one-hot/soft float labels (N, K): (N, width)."""
        if embed is None or labels is None:
            return None
        if labels.is_floating_point():
            return labels.to(embed.weight.dtype) @ embed.weight
        return embed(labels.long())

    # ---- likelihood and loss ---------------------------------------------------------------------------------
    def log_prob_levels(self, levels: Tensor, labels: Tensor | None = None) -> Tensor:
        """log p(levels) in nats, (N,): one network pass, the chain rule summed over every sub-pixel."""
        return self.output.log_prob(self.network(self.inputs(levels), labels), levels)

    def log_prob(self, x: Tensor, condition: Tensor | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        """Exact log p(x) in nats per image (dynamic binarization draws from `generator`; already-binary images
        are unchanged)."""
        self.check_input(x, condition)
        return self.log_prob_levels(self.levels(x, generator), condition)

    def loss(self, batch: Batch, player: str = "model") -> dict[str, Tensor]:
        """{"loss": mean -log p(x) (nats per image), "nll": the same, detached}."""
        nll = -self.log_prob(batch.x, batch.y).mean()
        return {"loss": nll, "nll": nll.detach()}

    # ---- sampling --------------------------------------------------------------------------------------------
    def sample_network(self, levels: Tensor, labels: Tensor | None, i: int) -> Tensor:
        """The params of row i of `levels` (every earlier sub-pixel filled in): (n, C, P, W). Default: the
        network on rows 0..i only (rows below row i do not reach it)."""
        return self.network(self.inputs(levels[:, :, : i + 1]), labels)[:, :, :, i]

    @torch.no_grad()
    def sample_levels(self, n: int, labels: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """n images of levels (n, C, H, W), drawn sub-pixel by sub-pixel in raster and channel order."""
        levels = torch.zeros(n, self.channels, self.height, self.width, dtype=torch.long, device=self.device)
        for i in range(self.height):
            for j in range(self.width):
                for c in range(self.channels):
                    params = self.sample_network(levels, labels, i)[:, c : c + 1, :, j]  # (n, 1, P)
                    levels[:, c, i, j] = self.output.sample(params, generator)[:, 0]
        return levels

    @torch.no_grad()
    def sample(self, n: int, condition: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """n images in [0, 1] (levels / (bins - 1)); labels by `sample_labels` (cycling 0..K-1 without a
        condition)."""
        labels = self.sample_labels(n, condition)
        return self.output.to_data(self.sample_levels(n, labels, generator))


def receptive_field(model: AutoregressiveImageModel, pixel: tuple[int, int], channel: int = 0, n: int = 4,
                    seed: int = 0) -> Tensor:
    """|d params(channel, pixel) / d inputs|, summed over the params, the input channels and n random images: an
    (H, W) map, zero exactly where the output at `pixel` cannot see (the future, and any blind spot). Each param's
    gradient is taken alone, so no two gradients can cancel."""
    c, hh, ww = model.config.data_shape
    g = torch.Generator().manual_seed(seed)
    levels = torch.randint(0, model.output.bins, (n, c, hh, ww), generator=g).to(model.device)
    inputs = model.inputs(levels).requires_grad_(True)
    k = model.config.num_classes
    labels = torch.arange(n, device=model.device) % k if k else None
    out = model.network(inputs, labels)[:, channel, :, pixel[0], pixel[1]]  # (n, P)
    total = torch.zeros(hh, ww, dtype=inputs.dtype, device=inputs.device)
    for p in range(out.shape[1]):
        (grad,) = torch.autograd.grad(out[:, p].sum(), inputs, retain_graph=True)
        total += grad.abs().sum((0, 1))
    return total
