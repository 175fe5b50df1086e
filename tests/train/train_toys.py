"""Tiny models for the trainer tests: a 1-player Gaussian and a 2-player toy GAN."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from genzoo.models import GenerativeModel, ModelConfig


@dataclass
class GaussConfig(ModelConfig):
    noise: float = 0.01  # noise added to x inside the loss: makes the loss use the torch RNG
    signed = ("nan_at",)  # a ClassVar of ModelConfig: nan_at = -1 means never
    nan_at: int = -1  # loss part "nll" is NaN at this step (once, unless nan_always)
    nan_always: bool = False
    scale: float = 1.0  # multiplies the loss (large values: large gradients)


class Gauss(GenerativeModel):
    """Diagonal Gaussian with learnt mean and log-std: an exact likelihood, no batch dependence."""

    likelihood = "exact"
    Config = GaussConfig

    def __init__(self, config):
        super().__init__(config)
        d = config.data_shape
        self.mu = nn.Parameter(torch.randn(d))
        self.log_sigma = nn.Parameter(torch.zeros(d))
        self.register_buffer("seen", torch.zeros((), dtype=torch.long))
        self.t = 0
        self._fired = False

    def log_prob(self, x, condition=None):
        z = (x - self.mu) / self.log_sigma.exp()
        return (-0.5 * z**2 - self.log_sigma - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)

    def loss(self, batch, player="model"):
        x = batch.x
        if self.config.noise:
            x = x + self.config.noise * torch.randn_like(x)
        nll = -self.log_prob(x).mean() * self.config.scale
        reg = 1e-3 * (self.mu**2).sum()
        if self.t == self.config.nan_at and (self.config.nan_always or not self._fired):
            self._fired = True
            nll = nll * float("nan")
        if self.training:
            self.seen += len(x)
        return {"loss": nll + reg, "nll": nll.detach(), "reg": reg.detach()}

    def on_step_end(self, step):
        self.t = step + 1

    def extra_state(self):
        return {"t": self.t}

    def load_extra_state(self, state):
        self.t = int(state.get("t", 0))

    def sample(self, n, condition=None):
        return self.mu + self.log_sigma.exp() * torch.randn(n, *self.config.data_shape)


class ToyGAN(GenerativeModel):
    """Linear generator and critic; update order D, D, G; counts the loss calls per player."""

    likelihood = "none"
    Config = ModelConfig

    def __init__(self, config):
        super().__init__(config)
        d = config.data_shape[0]
        self.generator = nn.Linear(2, d)
        self.discriminator = nn.Linear(d, 1)
        self.calls: list[tuple[int, str]] = []
        self.t = 0

    def players(self):
        return {"generator": list(self.generator.parameters()), "discriminator": list(self.discriminator.parameters())}

    def update_order(self, step):
        return ["discriminator"] * 2 + ["generator"]

    def loss(self, batch, player="model"):
        self.calls.append((self.t, player))
        fake = self.generator(torch.randn(len(batch), 2))
        if player == "discriminator":
            d_real, d_fake = self.discriminator(batch.x), self.discriminator(fake.detach())
            loss = nn.functional.softplus(-d_real).mean() + nn.functional.softplus(d_fake).mean()
            return {"loss": loss, "d_real": d_real.mean().detach()}
        loss = nn.functional.softplus(-self.discriminator(fake)).mean()
        return {"loss": loss}

    def on_step_end(self, step):
        self.t = step + 1

    def sample(self, n, condition=None):
        return self.generator(torch.randn(n, 2))


def toy_data(n=50, d=2, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, d, generator=g) * 0.5 + 1.0
