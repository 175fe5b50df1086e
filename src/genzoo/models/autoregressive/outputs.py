"""Per-sub-pixel output distributions of the autoregressive image models: small math objects.

An autoregressive image model factorises p(x) = prod_i p(x_i | x_<i) over sub-pixels x_i (one colour channel of
one pixel) in raster order, R before G before B within a pixel. Its network emits, for every sub-pixel, `params`
numbers that parametrise one of the distributions below over the sub-pixel's discrete levels {0, ..., bins - 1}:

    Bernoulli                  1 logit l:         p(1) = sigmoid(l)                         (bins = 2)
    Categorical                bins logits l_k:   p(k) = softmax(l)_k   (256-level pixels, or any L levels)
    DiscretizedLogisticMixture 3 K numbers:       PixelCNN++'s discretised logistic mixture (Salimans et al. 2017,
                                                  sec. 2.1, eq. 2)

Layout. A network emits (N, C * P, H, W) with the params of data channel c in output channels [c P, (c + 1) P),
so that `genzoo.nn.MaskedConv2d(..., channel_groups=C)` keeps channel c's params a function of channels < c at
that pixel; `split_channels` reshapes it to (N, C, P, H, W), the layout every method here takes.

Discretised logistic mixture. Level k sits at the centre x_k = 2 k / (bins - 1) - 1 of a bin of half-width
h = 1 / (bins - 1) on [-1, 1]; the edge bins take the tails:

    P(k) = sum_m pi_m [ sigma((x_k + h - mu_m) / s_m) - sigma((x_k - h - mu_m) / s_m) ],
    with sigma(.) -> 1 above the top bin (k = bins - 1) and -> 0 below the bottom one (k = 0),

pi = softmax(mixture logits), s_m = exp(log-scale_m). The bin probabilities telescope to exactly 1. The difference
of sigmoids is computed in the stable form sigma(a) - sigma(b) = sigma(a) sigma(-b) (1 - e^(b - a)) (a > b), i.e.
log P = log sigma(a) + log sigma(-b) + log(1 - e^-(a - b)), which neither cancels in the tails nor needs
PixelCNN++'s fallback to the density at the bin centre. Log-scales are clamped to [-7, 7] (PixelCNN++ clamps at
-7; above 7 the logistic is flat across [-1, 1] to float32 precision).

Unlike PixelCNN++, whose green and blue means are linear in the red value of the same pixel, every sub-pixel here
has its own mixture, conditioned on the earlier channels of its pixel through the channel-grouped masks.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor

from genzoo.data.transforms import binarize as binarize_images
from genzoo.data.transforms import to_levels
from genzoo.errors import ConfigError, DataError

KINDS = ("bernoulli", "categorical", "logistic")
BINARIZE = ("dynamic", "threshold", "none")
LOG_SCALE_MIN, LOG_SCALE_MAX = -7.0, 7.0


def split_channels(out: Tensor, channels: int) -> Tensor:
    """(N, C * P, ...) network output -> (N, C, P, ...): channel c's params are output channels [c P, (c + 1) P)."""
    return out.reshape(out.shape[0], channels, out.shape[1] // channels, *out.shape[2:])


def log1mexp(d: Tensor) -> Tensor:
    """log(1 - e^-d) for d > 0, accurate for small and large d (Maechler 2012: expm1 below ln 2, log1p above)."""
    return torch.where(d < math.log(2.0), torch.log(-torch.expm1(-d)), torch.log1p(-torch.exp(-d)))


class PixelOutput:
    """A distribution over the levels {0, ..., bins - 1} of every sub-pixel, given `params` numbers per sub-pixel.

    Shapes: params (N, C, P, ...) and levels (N, C, ...) int64, with any trailing (spatial) dimensions.
    """

    kind: str = ""
    params: int = 0
    bins: int = 2

    # ---- data <-> levels ---------------------------------------------------------------------------------------
    def targets(self, x: Tensor, binarize: str = "dynamic", generator: torch.Generator | None = None) -> Tensor:
        """Data in [0, 1] -> int64 levels: binarized first unless `binarize` is "none" (dynamic: b ~ Bernoulli(x),
        threshold: 1[x > 0.5], through `genzoo.data.transforms.binarize`; binary images then take levels 0 and
        bins - 1), then k = round(x (bins - 1))."""
        if binarize not in BINARIZE:
            raise ConfigError(f"binarize must be one of {', '.join(BINARIZE)}, got {binarize!r}")
        if binarize != "none":
            x = binarize_images(x, binarize, generator=generator)
        return to_levels(x, self.bins)

    def to_data(self, levels: Tensor) -> Tensor:
        """Levels -> data space in [0, 1] (float32): k / (bins - 1)."""
        return levels.float() / (self.bins - 1)

    # ---- the distribution --------------------------------------------------------------------------------------
    def log_prob_each(self, params: Tensor, levels: Tensor) -> Tensor:
        """log p(level) of every sub-pixel, shape of `levels`, in nats."""
        raise NotImplementedError

    def log_prob(self, params: Tensor, levels: Tensor) -> Tensor:
        """log p(levels) summed over every sub-pixel: (N,) nats."""
        return self.log_prob_each(params, levels).flatten(1).sum(1)

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """One level per sub-pixel: params (N, C, P, ...) -> int64 levels (N, C, ...)."""
        raise NotImplementedError

    def _check(self, params: Tensor, levels: Tensor | None = None) -> None:
        if params.dim() < 3 or params.shape[2] != self.params:
            raise DataError(f"{self.kind} output: params must be (N, C, {self.params}, ...), got {tuple(params.shape)}")
        if levels is not None:
            if levels.shape != params.shape[:2] + params.shape[3:]:
                raise DataError(f"{self.kind} output: levels of shape {tuple(levels.shape)} do not fit params of "
                                f"shape {tuple(params.shape)}")
            if levels.numel() and (levels.min() < 0 or levels.max() >= self.bins):
                raise DataError(f"{self.kind} output: levels must lie in [0, {self.bins}), got "
                                f"{int(levels.min())}..{int(levels.max())}")

    def __repr__(self) -> str:
        return f"{type(self).__name__}(bins={self.bins}, params={self.params})"


class Bernoulli(PixelOutput):
    """p(1) = sigmoid(l), one logit per sub-pixel, levels {0, 1}."""

    kind, params, bins = "bernoulli", 1, 2

    def log_prob_each(self, params: Tensor, levels: Tensor) -> Tensor:
        self._check(params, levels)
        logit = params[:, :, 0]
        return -F.binary_cross_entropy_with_logits(logit, levels.to(logit.dtype), reduction="none")

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        self._check(params)
        return torch.bernoulli(torch.sigmoid(params[:, :, 0]), generator=generator).long()


class Categorical(PixelOutput):
    """p(k) = softmax(l)_k over `bins` logits per sub-pixel."""

    kind = "categorical"

    def __init__(self, bins: int = 256):
        self.bins = self.params = int(bins)

    def log_prob_each(self, params: Tensor, levels: Tensor) -> Tensor:
        self._check(params, levels)
        return torch.log_softmax(params, 2).gather(2, levels.unsqueeze(2)).squeeze(2)

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        self._check(params)
        probs = torch.softmax(params.movedim(2, -1), -1)
        flat = torch.multinomial(probs.reshape(-1, self.bins), 1, generator=generator)
        return flat.reshape(probs.shape[:-1])


class DiscretizedLogisticMixture(PixelOutput):
    """PixelCNN++'s discretised mixture of `mixtures` logistics over `bins` bins on [-1, 1] (module docstring).

    params[:, :, 0:K] mixture logits, [K:2K] means mu (in [-1, 1] units), [2K:3K] log-scales log s.
    """

    kind = "logistic"

    def __init__(self, bins: int = 256, mixtures: int = 5):
        self.bins, self.mixtures = int(bins), int(mixtures)
        self.params = 3 * self.mixtures

    def _split(self, params: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        k = self.mixtures
        log_pi = torch.log_softmax(params[:, :, :k], 2)
        mu = params[:, :, k : 2 * k]
        log_s = params[:, :, 2 * k :].clamp(LOG_SCALE_MIN, LOG_SCALE_MAX)
        return log_pi, mu, log_s

    def centres(self, levels: Tensor) -> Tensor:
        """x_k = 2 k / (bins - 1) - 1, the bin centre of level k on [-1, 1]."""
        return 2.0 * levels / (self.bins - 1) - 1.0

    def log_prob_each(self, params: Tensor, levels: Tensor) -> Tensor:
        self._check(params, levels)
        log_pi, mu, log_s = self._split(params)
        inv_s = torch.exp(-log_s)
        lv = levels.unsqueeze(2)
        x = self.centres(lv.to(params.dtype))
        h = 1.0 / (self.bins - 1)
        a = (x + h - mu) * inv_s  # upper edge of the bin, standardised
        b = (x - h - mu) * inv_s  # lower edge
        log_cdf_a = F.logsigmoid(a)  # log sigma(a): the bottom bin takes (-inf, x_0 + h)
        log_sf_b = F.logsigmoid(-b)  # log (1 - sigma(b)): the top bin takes [x_top - h, inf)
        inner = log_cdf_a + log_sf_b + log1mexp((2.0 * h) * inv_s)  # log(sigma(a) - sigma(b)), a - b = 2 h / s
        log_bin = torch.where(lv == 0, log_cdf_a, torch.where(lv == self.bins - 1, log_sf_b, inner))
        return torch.logsumexp(log_pi + log_bin, 2)

    def sample(self, params: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """Component m ~ pi, then x = mu_m + s_m (log u - log(1 - u)), u ~ U(0, 1), rounded to its bin: level
        round((x + 1) (bins - 1) / 2) clipped to [0, bins - 1], which is exactly P(k) (the edge bins take the tails)."""
        self._check(params)
        log_pi, mu, log_s = self._split(params)
        probs = torch.softmax(log_pi.movedim(2, -1), -1)
        m = torch.multinomial(probs.reshape(-1, self.mixtures), 1, generator=generator).reshape(probs.shape[:-1])
        mu_m = mu.gather(2, m.unsqueeze(2)).squeeze(2)
        log_s_m = log_s.gather(2, m.unsqueeze(2)).squeeze(2)
        u = torch.rand(mu_m.shape, generator=generator, device=mu_m.device, dtype=mu_m.dtype)  # u = 0: level 0
        x = mu_m + torch.exp(log_s_m) * (torch.log(u) - torch.log1p(-u))
        return torch.round((x + 1.0) * (self.bins - 1) / 2.0).clamp(0, self.bins - 1).long()


def make_output(kind: str, bins: int = 256, mixtures: int = 5) -> PixelOutput:
    """The output distribution named `kind` ("bernoulli" | "categorical" | "logistic"); `bins` levels per sub-pixel
    (ignored by bernoulli, which has 2), `mixtures` logistic components (logistic only)."""
    if kind not in KINDS:
        raise ConfigError(f"output must be one of {', '.join(KINDS)}, got {kind!r}")
    if kind == "bernoulli":
        return Bernoulli()
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 2:
        raise ConfigError(f"bins must be an integer >= 2, got {bins!r}")
    if kind == "categorical":
        return Categorical(bins)
    if isinstance(mixtures, bool) or not isinstance(mixtures, int) or mixtures < 1:
        raise ConfigError(f"mixtures must be an integer >= 1, got {mixtures!r}")
    return DiscretizedLogisticMixture(bins, mixtures)
