"""`Flow(transform, base)`: a distribution by change of variables, log p(x) = log p_base(t(x)) + ladj(x)."""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from genzoo.models.flows.transforms import Transform

LOG_2PI = math.log(2.0 * math.pi)


class StandardNormal(nn.Module):
    """N(0, I) over an event of shape `shape`; log_prob sums over the event (torch's Independent(Normal, k))."""

    def __init__(self, shape: Sequence[int] | int):
        super().__init__()
        self.shape = (shape,) if isinstance(shape, int) else tuple(shape)
        self.register_buffer("_ref", torch.zeros(()), persistent=False)  # device / dtype anchor

    def log_prob(self, z: Tensor, c: Tensor | None = None) -> Tensor:
        """log N(z; 0, I) = -1/2 (|z|^2 + D log 2 pi), summed over the event (tests: equal to torch's)."""
        z = z.flatten(1)
        return z.square().sum(1).mul(-0.5).sub(0.5 * z.shape[1] * LOG_2PI)

    def rsample(self, n: int, c: Tensor | None = None, temperature: float = 1.0,
                generator: torch.Generator | None = None) -> Tensor:
        z = torch.randn(n, *self.shape, dtype=self._ref.dtype, device=self._ref.device, generator=generator)
        return z * temperature


class Flow(nn.Module):
    """A normalizing flow: `transform` maps data x to base space z = t(x) (with ladj = log |det dz/dx|).

    log_prob(x, c) = base.log_prob(t(x, c)) + ladj;  sample: z ~ base, x = t^{-1}(z, c). `rsample` keeps the
    graph (reparameterised samples); `sample` runs under no_grad. With the identity transform log_prob is the
    base's; with an affine transform it matches torch.distributions.TransformedDistribution (tests).
    """

    def __init__(self, transform: Transform, base: nn.Module):
        super().__init__()
        self.transform = transform
        self.base = base

    def log_prob(self, x: Tensor, c: Tensor | None = None) -> Tensor:
        z, ladj = self.transform(x, c)
        return self.base.log_prob(z, c) + ladj

    def rsample(self, n: int, c: Tensor | None = None, temperature: float = 1.0,
                generator: torch.Generator | None = None) -> Tensor:
        return self.rsample_and_log_prob(n, c, temperature, generator)[0]

    def rsample_and_log_prob(self, n: int, c: Tensor | None = None, temperature: float = 1.0,
                             generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """Samples and their log-density (under the temperature-1 flow when temperature = 1)."""
        z = self.base.rsample(n, c, temperature=temperature, generator=generator)
        x, ladj_inv = self.transform.inverse(z, c)
        return x, self.base.log_prob(z, c) - ladj_inv

    @torch.no_grad()
    def sample(self, n: int, c: Tensor | None = None, temperature: float = 1.0,
               generator: torch.Generator | None = None) -> Tensor:
        return self.rsample(n, c, temperature, generator)

    @property
    def event_size(self) -> int:
        return math.prod(self.base.shape)
