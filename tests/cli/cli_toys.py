"""A tiny registered model and a fake `genzoo.data.get` for the CLI tests."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from genzoo.errors import unknown_name
from genzoo.models import GenerativeModel, ModelConfig

MODEL = "test-cli-gauss"


@dataclass
class CliGaussConfig(ModelConfig):
    init_scale: float = 1.0


class CliGauss(GenerativeModel):
    """Diagonal Gaussian (test model)."""

    likelihood = "exact"
    Config = CliGaussConfig

    def __init__(self, config):
        super().__init__(config)
        self.mu = nn.Parameter(config.init_scale * torch.randn(config.data_shape))
        self.log_sigma = nn.Parameter(torch.zeros(config.data_shape))

    def log_prob(self, x, condition=None):
        z = (x - self.mu) / self.log_sigma.exp()
        return (-0.5 * z**2 - self.log_sigma - 0.5 * math.log(2 * math.pi)).flatten(1).sum(1)

    def loss(self, batch, player="model"):
        nll = -self.log_prob(batch.x + 0.01 * torch.randn_like(batch.x)).mean()
        return {"loss": nll, "nll": nll.detach()}

    def sample(self, n, condition=None):
        return self.mu + self.log_sigma.exp() * torch.randn(n, *self.config.data_shape)


class FakeSet:
    def __init__(self, name, x, y, kind, meta):
        self.name, self.x, self.y, self.kind, self.meta = name, x, y, kind, meta

    def __len__(self):
        return len(self.x)

    @property
    def data_shape(self):
        return tuple(self.x.shape[1:])


NAMES = ("blobs", "tinyimg")


def fake_get(name, split="train", **kw):
    if name not in NAMES:
        raise unknown_name("data set", name, NAMES)
    g = torch.Generator().manual_seed(0 if split == "train" else 1)
    n = 64 if split == "train" else 32
    if name == "blobs":
        return FakeSet(name, torch.randn(n, 2, generator=g) * 0.3 + 1.0, None, "points", {})
    x = (torch.rand(n, 1, 4, 4, generator=g) > 0.5).float()
    return FakeSet(name, x, torch.randint(0, 3, (n,), generator=g), "image", {"num_classes": 3})


def fake_available():
    return list(NAMES)
