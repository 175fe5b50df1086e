"""Deep belief networks, `dbn` (Hinton, Osindero & Teh 2006; docs/models/energy.md, "RBMs and DBNs").

Layers x_0 = v, x_1 = h_1, ..., x_L with binary units. The top two layers form an RBM (layer L-1: x_{L-1}, x_L);
below it the connections are directed, p(x_l | x_{l+1}) = prod_i sigmoid(b_l + W_l x_{l+1})_i^{x_l,i} (...)^{1 -
x_l,i}, with the weights of the RBM that was trained for that pair (Hinton et al. 2006, sec. 4):

    p(v) = sum_{x_1..x_{L-1}} p(v | x_1) ... p(x_{L-2} | x_{L-1}) p_top(x_{L-1}),  p_top(x) = e^{-F_top(x)} / Z_top.

Training is greedy and layer-wise: layer l is an RBM trained by CD/PCD on samples x_l ~ q(x_l | x_{l-1}) ... q(x_1 |
v) of the layers below, q(x_{l+1} | x_l) = sigmoid(c_l + W_l^T x_l) (the RBM's posterior). The phases are step
ranges: layer l is the one player updated during steps [l T, (l + 1) T), T = `layer_steps`, and the top layer
from then on (`update_order`), so the one Trainer stays family-agnostic.

Sampling: Gibbs in the top RBM, then one downward pass through the directed conditionals (the visible mean last).

Likelihood: the variational lower bound (Salakhutdinov & Murray 2008, sec. 5, eq. 14, with q from the recognition
weights) for L >= 2,

    log p(v) >= E_q[ sum_{l < L-1} log p(x_l | x_{l+1}) - F_top(x_{L-1}) ] + sum_{l < L-1} E_q H(q(x_{l+1} | x_l))
                - log Z_top,

estimated with `bound_samples` draws from q (the entropies analytic) and log Z_top from AIS on the top RBM; for
L = 1 it is the RBM's -F(v) - log Z. The gap is KL(q(x_1..x_{L-1} | v) || p(x_1..x_{L-1} | v)) >= 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from genzoo.errors import ConfigError
from genzoo.models.base import Batch, GenerativeModel
from genzoo.models.energy.rbm import CounterRNG, EnergyTrainingConfig, RBMLayer, preprocess_binary
from genzoo.models.registry import register


@dataclass
class DBNConfig(EnergyTrainingConfig):
    """`dbn`: hidden layer sizes (x_1, ..., x_L), `layer_steps` training steps per layer (the top layer keeps
    training after its phase), `bound_samples` draws from q per example in `log_prob`. Bernoulli units only."""

    hidden: tuple[int, ...] = (500, 500)
    layer_steps: int = 10000
    bound_samples: int = 10

    positive: ClassVar[tuple[str, ...]] = (*EnergyTrainingConfig.positive, "hidden", "layer_steps", "bound_samples")

    def checks(self) -> list[tuple[bool, str]]:
        return [*super().checks(), (len(self.hidden) >= 1, "hidden needs at least one layer size")]


def _bernoulli_log_prob(x: Tensor, logits: Tensor) -> Tensor:
    """sum_i x_i log sigmoid(l_i) + (1 - x_i) log sigmoid(-l_i), (N,)."""
    return -F.binary_cross_entropy_with_logits(logits, x, reduction="none").sum(-1)


def _bernoulli_entropy(logits: Tensor) -> Tensor:
    p = torch.sigmoid(logits)
    return F.binary_cross_entropy_with_logits(logits, p, reduction="none").sum(-1)


@register("dbn", family="energy")
class DBN(GenerativeModel):
    """Deep belief network: a stack of RBMs trained greedily, sampled top-down, scored by a variational bound.

    Public API: `layers` (RBMLayer each), `current_layer(step)`, `up(v, upto, generator)`, `down(x, generator)`,
    `lower_bound(x, samples=None, log_z=None)`, `log_partition() -> (log Z_top, stderr)`, `partition_summary()`,
    `sample(n, steps=None)`, `log_prob(x, samples=None)`, `loss(batch, player)` with players "layer0".. ."""

    likelihood = "bound"
    Config = DBNConfig
    sample_options = ("steps",)
    log_prob_options = ("samples",)
    loss_units = "nats/example"
    train_defaults = {"optimizer": "sgd", "lr": 0.05, "momentum": 0.5}

    def __init__(self, config: DBNConfig):
        super().__init__(config)
        sizes = (math.prod(config.data_shape), *config.hidden)
        self.layers = nn.ModuleList(
            RBMLayer(sizes[i], sizes[i + 1], chains=config.chains, init_std=config.init_std)
            for i in range(len(config.hidden))
        )
        self.rng = CounterRNG()

    @property
    def bpd_bins(self) -> int:
        return 1  # a pmf over binary images

    # ---- training schedule -----------------------------------------------------------------------------------
    def current_layer(self, step: int) -> int:
        return min(step // self.config.layer_steps, len(self.layers) - 1)

    def players(self) -> dict[str, list[nn.Parameter]]:
        return {f"layer{i}": list(layer.parameters()) for i, layer in enumerate(self.layers)}

    def update_order(self, step: int) -> tuple[str, ...]:
        return (f"layer{self.current_layer(step)}",)

    def _layer_index(self, player: str) -> int:
        names = list(self.players())
        if player not in names:
            raise ConfigError(f'dbn: unknown player "{player}"; players: {", ".join(names)}')
        return names.index(player)

    @torch.no_grad()
    def up(self, v: Tensor, upto: int, generator: torch.Generator | None = None) -> Tensor:
        """x_upto sampled upward through q(x_{l+1} | x_l) of the layers below `upto`."""
        x = v
        for layer in self.layers[:upto]:
            x = layer.sample_h(x, generator)
        return x

    def loss(self, batch: Batch, player: str = "layer0") -> dict[str, Tensor]:
        """CD/PCD surrogate of layer `player` on upward samples of the batch (see RBM.loss)."""
        cfg = self.config
        self.check_input(batch.x, batch.y)
        i = self._layer_index(player)
        g = self.rng.next(self.device) if self.training else None
        x = self.up(preprocess_binary(batch.x, cfg.binarize, self.name, g, self.layers[0].W.dtype), i, g)
        layer = self.layers[i]
        if self.training:
            layer.observe(x, cfg.init_from_data)
        return layer.cd_loss(x, cfg.cd if self.training else "cd", cfg.k, g, update_chains=self.training)

    # ---- sampling --------------------------------------------------------------------------------------------
    @torch.no_grad()
    def down(self, x: Tensor, generator: torch.Generator | None = None) -> Tensor:
        """From top-RBM visible states x_{L-1}, sample down through p(x_l | x_{l+1}); returns the mean
        p(v = 1 | x_1) at the bottom (x itself for a one-layer DBN)."""
        lower = list(self.layers[:-1])[::-1]
        for j, layer in enumerate(lower):
            mean = layer.visible_mean(x)
            x = mean if j == len(lower) - 1 else torch.bernoulli(mean, generator=generator)
        return x

    @torch.no_grad()
    def sample(self, n: int, condition: Tensor | None = None, steps: int | None = None) -> Tensor:
        """Gibbs in the top RBM for `steps` sweeps (default config.sample_steps) from its base rate, then one
        downward pass; returns p(v = 1 | x_1) of the last layer (grey levels, like a VAE's decoder mean)."""
        self.sample_labels(n, condition)
        steps = self.config.sample_steps if steps is None else int(steps)
        if steps < 1:
            raise ConfigError(f"dbn.sample: steps must be >= 1, got {steps}")
        top = self.layers[-1]
        x = top.base_samples(top.base_rate(self.config.ais_base).to(top.W.dtype), n, None)
        x = top.gibbs(x, steps - 1)
        h = top.sample_h(x)
        x = top.visible_mean(h) if len(self.layers) == 1 else self.down(top.sample_v(h))
        return x.reshape(n, *self.config.data_shape)

    # ---- likelihood ------------------------------------------------------------------------------------------
    def partition_summary(self) -> dict[str, Any]:
        c = self.config
        return self.layers[-1].log_partition(c.ais_betas, c.ais_runs, c.ais_base, c.ais_seed)

    def log_partition(self) -> tuple[float, float]:
        """(log Z of the top RBM, its standard error) by AIS, recomputed whenever the parameters change."""
        s = self.partition_summary()
        return s["log_z"], s["stderr"]

    @torch.no_grad()
    def lower_bound(self, x: Tensor, samples: int | None = None, log_z: float | None = None,
                    generator: torch.Generator | None = None) -> Tensor:
        """The variational bound of the module docstring per example (N,), with `samples` draws from q and
        `log_z` of the top RBM (default: AIS)."""
        self.check_input(x)
        s = int(samples or self.config.bound_samples)
        v = preprocess_binary(x, self.config.binarize, self.name, generator, self.layers[0].W.dtype)
        log_z = self.log_partition()[0] if log_z is None else float(log_z)
        if len(self.layers) == 1:
            return -self.layers[0].free_energy(v) - log_z
        n = v.shape[0]
        xs = v.repeat(s, 1)  # (s N, D): s draws per example
        total = torch.zeros(xs.shape[0], dtype=v.dtype, device=v.device)
        for layer in self.layers[:-1]:
            logits = layer.hidden_logits(xs)
            up = torch.bernoulli(torch.sigmoid(logits), generator=generator)
            total += _bernoulli_log_prob(xs, layer.b + up @ layer.W.T) + _bernoulli_entropy(logits)
            xs = up
        total += -self.layers[-1].free_energy(xs)
        return total.view(s, n).mean(0) - log_z

    def log_prob(self, x: Tensor, condition: Tensor | None = None, samples: int | None = None) -> Tensor:
        """The lower bound on log p(v) (nats per example) with `samples` draws from q (default bound_samples)."""
        self.check_input(x, condition)
        return self.lower_bound(x, samples)
