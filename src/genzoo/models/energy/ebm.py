"""Energy-based model trained with Langevin negatives (`ebm`; see docs/models/energy.md).

The model is an energy network E_theta and the density it defines (LeCun et al. 2006; Du & Mordatch 2019, sec. 2):

    p_theta(x) = exp(-E_theta(x)) / Z(theta),    Z(theta) = integral exp(-E_theta(x)) dx.

Maximum likelihood has the gradient grad_theta log p(x) = -grad E(x) + E_{x- ~ p}[grad E(x-)]: lower the energy
of the data, raise it on samples of the model. The samples ("negatives") come from K steps of stochastic-gradient
Langevin dynamics (`genzoo.math.sgld`; Du & Mordatch 2019, eq. 2; Grathwohl et al. 2019, eq. 11):

    x <- clip( x - (step / 2) dE/dx + noise * xi ),   xi ~ N(0, I),

which targets exp(-E) when noise = sqrt(step) (the Langevin diffusion); images use the decoupled IGEBM/JEM
setting step 1, noise 0.01, clipped to [0, 1]. The chains start from a persistent replay buffer (Du & Mordatch
sec. 3.1; Tieleman's persistent chains): each negative continues a stored chain, except a fraction
`reinit_prob` (~5 %) restarted from uniform noise, and the end states are written back. No gradient flows through
the sampler. The loss, with the energy-magnitude regulariser of Du & Mordatch (sec. 3.3),

    L = mean E(x+) - mean E(x-) + alpha * mean( E(x+)^2 + E(x-)^2 ),

keeps the energies near zero (the first two terms alone fix E only up to a constant and let it drift).
The buffer is model state: a registered tensor (saved with the weights and in checkpoints) and a count of the
negative batches drawn, from which each draw's torch.Generator is seeded, so training resumes bit-exactly.

2-D points with `grid_normalise`: log Z by the midpoint rule on a resolution x resolution grid over the box
[lo, hi]^2 (`bounds`), log Z = logsumexp_cells(-E(c)) + log(cell area), the mass outside the box neglected (the
sampler is clipped to the same box), so log p(x) = -E(x) - log Z is exact up to the quadrature and the model is
scored by NLL like the flows. log Z is cached and recomputed whenever the energy network's tensors change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from genzoo.math import sgld
from genzoo.models.base import Batch, GenerativeModel, ModelConfig
from genzoo.models.registry import register
from genzoo.nn import activation, apply_spectral_norm, mlp

DEFAULT_HIDDEN = {"mlp": (128, 128), "conv": (32, 64, 64)}
_GRID_CHUNK = 65536  # grid cells per energy evaluation of log Z
_SEED_STRIDE = 1_000_003  # seed of draw t: seed * _SEED_STRIDE + t


@dataclass
class EBMConfig(ModelConfig):
    """Configuration of `ebm`.

    arch: "mlp" (points) | "conv" (images); None: conv for image shapes (C, H, W), mlp otherwise. hidden: MLP widths
    or conv channels (None: (128, 128) / (32, 64, 64)). act: activation (SiLU/Swish by default). spectral_norm:
    spectral normalisation of every layer of E. alpha: weight of the energy-magnitude regulariser.
    sgld_steps (K), sgld_step, sgld_noise: the training sampler; None: step 1, noise 0.01 for images (IGEBM/JEM), and
    step 0.01, noise sqrt(step) (the Langevin diffusion) for points. buffer_size, reinit_prob: the replay buffer.
    sample_steps, sample_init ("noise" | "buffer"): `sample`'s chain length and start. bounds (lo, hi): the box of
    points (uniform noise, clipping, the normalisation grid); images live in [0, 1]. grid_normalise (None: on for
    data_shape (2,)): log Z on a resolution x resolution grid over the box, making likelihood "exact".
    seed: seeds the buffer's initial noise and the negatives' generators.
    """

    arch: Literal["mlp", "conv"] | None = None
    hidden: tuple[int, ...] | None = None
    act: str = "silu"
    spectral_norm: bool = False
    alpha: float = 0.1
    sgld_steps: int = 20
    sgld_step: float | None = None
    sgld_noise: float | None = None
    buffer_size: int = 10000
    reinit_prob: float = 0.05
    sample_steps: int = 200
    sample_init: Literal["noise", "buffer"] = "noise"
    bounds: tuple[float, float] = (-4.0, 4.0)
    grid_normalise: bool | None = None
    resolution: int = 256
    seed: int = 0

    positive: ClassVar[tuple[str, ...]] = ("hidden", "sgld_steps", "sgld_step", "buffer_size", "resolution")

    def derived(self) -> dict:
        image = len(self.data_shape) == 3
        out: dict = {}
        if self.arch is None:
            out["arch"] = "conv" if image else "mlp"
        if self.sgld_step is None:
            out["sgld_step"] = 1.0 if image else 0.01
        if self.sgld_noise is None:
            out["sgld_noise"] = 0.01 if image else math.sqrt(out.get("sgld_step", self.sgld_step))
        if self.grid_normalise is None:
            out["grid_normalise"] = tuple(self.data_shape) == (2,)
        return out

    def checks(self) -> list[tuple[bool, str]]:
        activation(self.act)  # unknown activation -> UnknownNameError naming the valid ones
        return [
            (self.arch != "conv" or len(self.data_shape) == 3, "arch 'conv' needs image data_shape (C, H, W)"),
            (self.hidden is None or len(self.hidden) > 0, "hidden needs at least one layer"),
            (0.0 <= self.reinit_prob <= 1.0, f"reinit_prob must lie in [0, 1], got {self.reinit_prob}"),
            (self.alpha >= 0 and self.sgld_noise >= 0, "alpha and sgld_noise must be >= 0"),
            (len(self.bounds) == 2 and self.bounds[0] < self.bounds[1], f"bounds must be (lo, hi), lo < hi, got "
                                                                         f"{self.bounds}"),
            (not self.grid_normalise or tuple(self.data_shape) == (2,), "grid_normalise needs data_shape (2,)"),
            (self.resolution >= 2, "resolution must be >= 2"),
        ]


class ConvEnergy(nn.Module):
    """Small conv net E(x): stride-2 3x3 convolutions, global average pooling, a linear map to one energy.
    Images in [0, 1] enter as 2 x - 1."""

    def __init__(self, channels_in: int, channels: tuple[int, ...], act: str):
        super().__init__()
        layers: list[nn.Module] = []
        cin = channels_in
        for ch in channels:
            layers += [nn.Conv2d(cin, ch, 3, 2, 1), activation(act)]
            cin = ch
        self.conv = nn.Sequential(*layers)
        self.out = nn.Linear(cin, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.out(self.conv(2 * x - 1).mean((2, 3))).squeeze(-1)


class MLPEnergy(nn.Module):
    """MLP E(x) on flattened points."""

    def __init__(self, d_in: int, hidden: tuple[int, ...], act: str):
        super().__init__()
        self.net = mlp(d_in, hidden, 1, act=act)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x.flatten(1)).squeeze(-1)


@register("ebm", family="energy")
class EBM(GenerativeModel):
    """Energy-based model p(x) = exp(-E(x)) / Z, trained with SGLD negatives from a replay buffer (Du & Mordatch 2019).

    Public API: `energy(x) -> (N,)`, `negatives(n, generator)`, `log_partition()` (2-D grid), `log_prob(x)` (2-D),
    `sample(n, condition, init, steps, generator)`, `loss(batch)`; buffers `replay` (the chains) and `draws`.
    """

    likelihood = "none"
    Config = EBMConfig
    data_kinds = ("image", "points")
    sample_options = ("init", "steps", "generator")
    eval_needs_grad = True
    loss_units = ""  # a contrastive surrogate, not a likelihood
    train_defaults = {"lr": 1e-3, "betas": (0.0, 0.999)}

    @classmethod
    def likelihood_for(cls, config: EBMConfig) -> str:
        """"exact" for 2-D points normalised on the grid (up to the quadrature and the box), else "none"."""
        return "exact" if config.grid_normalise else "none"

    def __init__(self, config: EBMConfig):
        super().__init__(config)
        cfg = config
        hidden = DEFAULT_HIDDEN[cfg.arch] if cfg.hidden is None else tuple(cfg.hidden)
        if cfg.arch == "conv":
            self.net: nn.Module = ConvEnergy(cfg.data_shape[0], hidden, cfg.act)
        else:
            self.net = MLPEnergy(math.prod(cfg.data_shape), hidden, cfg.act)
        if cfg.spectral_norm:
            apply_spectral_norm(self.net)
        g = torch.Generator().manual_seed(cfg.seed)
        self.register_buffer("replay", self.noise(cfg.buffer_size, g))
        self.register_buffer("draws", torch.zeros((), dtype=torch.int64))  # negative batches drawn in training
        self._log_z: tuple[list[Tensor], Tensor] | None = None  # (snapshot of the net's tensors, log Z)

    # ---- the energy and its sampler -----------------------------------------------------------------------------
    @property
    def is_image(self) -> bool:
        return len(self.config.data_shape) == 3

    @property
    def box(self) -> tuple[float, float]:
        """The data range: [0, 1] for images, `bounds` for points."""
        return (0.0, 1.0) if self.is_image else tuple(self.config.bounds)

    def energy(self, x: Tensor) -> Tensor:
        """E(x), one value per example."""
        return self.net(x)

    def noise(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """n draws uniform on the box (the buffer's initial and re-initialised states)."""
        lo, hi = self.box
        dev = self.replay.device if hasattr(self, "replay") else torch.device("cpu")
        u = torch.rand((n, *self.config.data_shape), generator=generator, device=dev)
        return lo + (hi - lo) * u

    def langevin(self, x0: Tensor, steps: int, generator: torch.Generator | None = None) -> Tensor:
        """`steps` SGLD iterations from x0 with the config's step and noise, clipped to the box."""
        cfg = self.config
        return sgld(self.energy, x0, steps, cfg.sgld_step, cfg.sgld_noise, clip=self.box, generator=generator)

    def _generator(self, offset: int = 0) -> torch.Generator:
        """The generator of the next negative batch: seeded from (seed, draws), so it is part of the saved state."""
        seed = (self.config.seed * _SEED_STRIDE + int(self.draws) + offset) % (2**63)
        return torch.Generator(device=self.replay.device).manual_seed(seed)

    def negatives(self, n: int, generator: torch.Generator | None = None, update: bool = True) -> Tensor:
        """n negatives: chains from the replay buffer (a fraction reinit_prob restarted from noise), K SGLD steps.
        With `update`, the end states are written back and `draws` advances."""
        cfg = self.config
        g = self._generator() if generator is None else generator
        dev = self.replay.device
        if n <= cfg.buffer_size:  # distinct chains, so the write-back has no duplicate index
            idx = torch.randperm(cfg.buffer_size, generator=g, device=dev)[:n]
        else:
            idx = torch.randint(0, cfg.buffer_size, (n,), generator=g, device=dev)
        x0 = self.replay[idx]
        fresh = torch.rand((n,), generator=g, device=x0.device) < cfg.reinit_prob
        x0 = torch.where(fresh.view(-1, *[1] * (x0.dim() - 1)), self.noise(n, g), x0)
        x = self.langevin(x0, cfg.sgld_steps, g)
        if update:
            with torch.no_grad():
                self.replay[idx] = x
                self.draws += 1
        return x

    # ---- training -----------------------------------------------------------------------------------------------
    def loss(self, batch: Batch, player: str = "model") -> dict[str, Tensor]:
        """E(x+).mean() - E(x-).mean() + alpha (E(x+)^2 + E(x-)^2).mean(); x- from the buffer (updated in training
        mode only; evaluation draws from a fixed generator and leaves the buffer as it is)."""
        self.check_input(batch.x, batch.y)
        x = batch.x
        if self.training:
            x_neg = self.negatives(x.shape[0])
        else:
            g = torch.Generator(device=x.device).manual_seed((self.config.seed * _SEED_STRIDE + 2**62) % 2**63)
            x_neg = self.negatives(x.shape[0], g, update=False)
        e_pos, e_neg = self.energy(x), self.energy(x_neg)
        cd = e_pos.mean() - e_neg.mean()
        reg = (e_pos.pow(2) + e_neg.pow(2)).mean()
        return {"loss": cd + self.config.alpha * reg, "cd": cd.detach(), "reg": reg.detach(),
                "e_data": e_pos.mean().detach(), "e_neg": e_neg.mean().detach()}

    def extra_state(self) -> dict:
        return {"draws": int(self.draws)}

    # ---- sampling -----------------------------------------------------------------------------------------------
    def sample(self, n: int, condition: Tensor | None = None, init: str | None = None, steps: int | None = None,
               generator: torch.Generator | None = None) -> Tensor:
        """n samples by `steps` (default sample_steps) SGLD iterations from uniform noise (init "noise") or from
        random buffer states (init "buffer"), in the data's space (images in [0, 1]). The buffer is not changed."""
        self.sample_labels(n, condition)  # unconditional: a condition is a DataError
        init = self.config.sample_init if init is None else init
        if init not in ("noise", "buffer"):
            from genzoo.errors import ConfigError

            raise ConfigError(f'{self.name}: sample init must be "noise" or "buffer", got {init!r}')
        steps = self.config.sample_steps if steps is None else int(steps)
        if init == "noise":
            x0 = self.noise(n, generator)
        else:
            x0 = self.replay[torch.randint(0, self.config.buffer_size, (n,), generator=generator,
                                           device=self.replay.device)]
        return self.langevin(x0, steps, generator)

    # ---- the 2-D normalisation ----------------------------------------------------------------------------------
    def grid(self, resolution: int | None = None) -> tuple[Tensor, float]:
        """Cell centres (r^2, 2) of the midpoint rule on [lo, hi]^2 and the cell area."""
        r = self.config.resolution if resolution is None else int(resolution)
        lo, hi = self.config.bounds
        h = (hi - lo) / r
        c = lo + h * (torch.arange(r, dtype=torch.float64, device=self.replay.device) + 0.5)
        xx, yy = torch.meshgrid(c, c, indexing="ij")
        return torch.stack([xx.flatten(), yy.flatten()], 1).to(self.replay.dtype), h * h

    def _net_state(self) -> list[Tensor]:
        return [t.detach() for t in (*self.net.parameters(), *self.net.buffers())]

    @torch.no_grad()
    def log_partition(self, resolution: int | None = None) -> Tensor:
        """log Z = logsumexp over the grid cells of -E(c) + log(cell area) (midpoint rule on the box, mass outside
        neglected). The config's resolution is cached until any tensor of the energy network changes."""
        if not self.config.grid_normalise:
            from genzoo.errors import LikelihoodError

            raise LikelihoodError(f"{self.name}: log Z is computed on a grid for 2-D points with grid_normalise only")
        state = self._net_state()
        if resolution is None and self._log_z is not None:
            snap, value = self._log_z
            if len(snap) == len(state) and all(a.shape == b.shape and torch.equal(a, b) for a, b in zip(snap, state)):
                return value
        was = self.net.training
        self.net.eval()  # spectral norm's power iteration does not move while the grid is evaluated
        try:
            cells, area = self.grid(resolution)
            neg_e = torch.cat([-self.energy(c) for c in cells.split(_GRID_CHUNK)])
            log_z = torch.logsumexp(neg_e.double(), 0) + math.log(area)
        finally:
            self.net.train(was)
        log_z = log_z.to(self.replay.dtype)
        if resolution is None:
            self._log_z = ([t.clone() for t in state], log_z)
        return log_z

    def log_prob(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        """log p(x) = -E(x) - log Z in nats (2-D points with grid_normalise; otherwise LikelihoodError)."""
        if self.likelihood == "none":
            return super().log_prob(x, condition)
        self.check_input(x, condition)
        log_z = self.log_partition()
        was = self.net.training
        self.net.eval()
        try:
            return -self.energy(x) - log_z
        finally:
            self.net.train(was)

    @property
    def bpd_bins(self) -> int:
        return 1  # a density on the points' own scale (no 8-bit rescaling)
