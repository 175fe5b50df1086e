"""Continuous normalizing flow (FFJORD, Grathwohl et al. 2019; Chen et al. 2018, sec. 4), with the RNODE
regularisers (Finlay et al. 2020).

A neural field f(z, t) moves base samples z(0) ~ N(0, I) to data x = z(T) along dz/dt = f(z(t), t). Along a path,
the log-density obeys the instantaneous change of variables (Chen et al. 2018, thm. 1):

    d log p(z(t)) / dt = -tr( df / dz (z(t), t) ),
    log p_T(x) = log N(z(0); 0, I) - int_0^T tr(df/dz) dt.

`log_prob(x)` solves the augmented state (z, l) with dz/dt = f, dl/dt = -tr(df/dz) backwards from (x, 0) at t = T
to t = 0, where l(0) = int_0^T tr(df/dz) dt, and returns log N(z(0)) - l(0); `sample(n)` solves dz/dt = f forwards
from z(0) ~ N(0, I) to t = T. The trace is exact (D backward passes, `genzoo.math.trace.exact_trace`) when the
data have at most `exact_max_dim` dimensions, else Hutchinson's unbiased estimate v^T (df/dz) v with one probe v per
example held fixed through the solve (FFJORD, sec. 3.1; `genzoo.math.trace.hutchinson_trace`), which makes
`log_prob` an unbiased estimate of log p(x) (which is affine in the trace integral) rather than its exact value.

RNODE (Finlay et al. 2020, eq. 7) adds to the NLL lambda_K int_0^T ||f||^2 dt (kinetic energy: straight, constant-
speed paths) and lambda_J int_0^T ||df/dz||_F^2 dt, the Frobenius norm estimated by ||v^T df/dz||^2 with the same
kind of probe; both integrals ride along in the same solve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import Tensor, nn

from genzoo.math import bits_per_dim, gaussian_log_prob
from genzoo.math.trace import NOISES, exact_trace, hutchinson_noise, vjp
from genzoo.models.base import Batch, GenerativeModel, ModelConfig
from genzoo.models.continuous.ode import METHODS, ODEBlock
from genzoo.models.registry import register
from genzoo.nn.mlp import activation, mlp


class ConcatField(nn.Module):
    """f(z, t) = MLP([z, t]): the time enters as one more input."""

    def __init__(self, dim: int, hidden: tuple[int, ...], act: str = "tanh"):
        super().__init__()
        self.net = mlp(dim + 1, hidden, dim, act)

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        return self.net(torch.cat([z, t.to(z).reshape(1, 1).expand(z.shape[0], 1)], dim=1))


TRACES = ("exact", "hutchinson", "analytic")


class CNFDynamics(nn.Module):
    """The augmented dynamics of a CNF. State (z,): dz/dt = f. State (z, l): also dl/dt = -tr(df/dz). State
    (z, l, k, j): also dk/dt = ||f||^2 and dj/dt = ||v^T df/dz||^2 (RNODE).

    trace: "exact" (autograd, D passes), "hutchinson" (v^T (df/dz) v) or "analytic" (the field's own
    `with_trace(t, z) -> (f, tr df/dz)`, e.g. a planar field's closed form). `probe` v is set before each solve and
    stays for the adjoint's backward solve (None when neither Hutchinson's trace nor the Jacobian term needs one).
    The graph through the trace is kept when gradients are on (training, and the adjoint's backward solve), else
    the outputs are detached."""

    def __init__(self, field: nn.Module, trace: str = "exact"):
        super().__init__()
        if trace not in TRACES:
            raise ValueError(f"trace must be one of {TRACES}, got {trace!r}")
        self.field = field
        self.trace = trace
        self.probe: Tensor | None = None

    def forward(self, t: Tensor, state: tuple[Tensor, ...]) -> tuple[Tensor, ...]:
        z = state[0]
        if len(state) == 1:
            return (self.field(t, z),)
        keep = torch.is_grad_enabled()
        with torch.enable_grad():
            if not z.requires_grad:
                z = z.detach().requires_grad_(True)
            if self.trace == "analytic":
                dz, div = self.field.with_trace(t, z)
            else:
                dz = self.field(t, z)
            vj = None if self.probe is None else vjp(dz, z, self.probe, create_graph=keep)
            if self.trace == "exact":
                div = exact_trace(dz, z, create_graph=keep)
            elif self.trace == "hutchinson":
                div = (vj * self.probe).sum(1)
            out = [dz, -div]
            if len(state) == 4:
                out += [dz.pow(2).sum(1), vj.pow(2).sum(1)]
        return tuple(out) if keep else tuple(o.detach() for o in out)


@dataclass
class ContinuousConfig(ModelConfig):
    """Fields of every continuous flow. method: "dopri5" (adaptive, rtol / atol) | "rk4" | "euler" (`steps` equal
    steps). adjoint: gradients by the adjoint method. T: the integration time (base at t = 0, data at t = T).
    noise: the probe of Hutchinson's trace and of the Jacobian term, "rademacher" | "gaussian". kinetic, jacobian:
    the RNODE weights lambda_K, lambda_J (0 = off)."""

    data_shape: tuple[int, ...] = (2,)
    method: Literal["dopri5", "rk4", "euler"] = "dopri5"
    steps: int = 8
    rtol: float = 1e-5
    atol: float = 1e-5
    adjoint: bool = False
    T: float = 1.0
    noise: Literal["rademacher", "gaussian"] = "rademacher"
    kinetic: float = 0.0
    jacobian: float = 0.0

    positive: ClassVar[tuple[str, ...]] = ("steps", "rtol", "atol", "T")

    def checks(self) -> list[tuple[bool, str]]:
        return [
            (len(self.data_shape) == 1, f"data_shape must be (D,) (points), got {self.data_shape}"),
            (self.num_classes == 0, "continuous flows are unconditional: num_classes must be 0"),
            (self.method in METHODS, f"method must be one of {METHODS}, got {self.method!r}"),
            (self.noise in NOISES, f"noise must be one of {NOISES}, got {self.noise!r}"),
            (self.kinetic >= 0 and self.jacobian >= 0, "kinetic and jacobian must be >= 0"),
        ]


@dataclass
class CNFConfig(ContinuousConfig):
    """hidden, act: the field network MLP([z, t]) (a smooth activation: the trace differentiates it).
    trace: "auto" (exact when D <= exact_max_dim, else Hutchinson) | "exact" | "hutchinson"."""

    hidden: tuple[int, ...] = (64, 64, 64)
    act: str = "tanh"
    trace: Literal["auto", "exact", "hutchinson"] = "auto"
    exact_max_dim: int = 16

    positive: ClassVar[tuple[str, ...]] = ContinuousConfig.positive + ("hidden",)

    def checks(self) -> list[tuple[bool, str]]:
        activation(self.act)
        return super().checks() + [
            (len(self.hidden) >= 1, "hidden needs >= 1 positive width"),
            (self.trace in ("auto", "exact", "hutchinson"), f"trace must be auto|exact|hutchinson, got {self.trace!r}"),
        ]


LATENT_TOL = 1e-6  # the ODE tolerance of to_latent / from_latent


class ContinuousFlow(GenerativeModel):
    """The contract of a continuous flow on points, around `build_dynamics()` (see the module docstring)."""

    likelihood = "exact"
    Config = ContinuousConfig
    data_kinds = ("points",)
    sample_options = ("generator",)
    log_prob_options = ("generator",)
    loss_units = "nats/dim"
    train_defaults = {"lr": 1e-3}
    capabilities = frozenset({"invert"})

    def __init__(self, config: ContinuousConfig):
        super().__init__(config)
        cfg = config
        self.dim = cfg.data_shape[0]
        self.dynamics = self.build_dynamics()
        self.ode = ODEBlock(self.dynamics, cfg.method, cfg.steps, cfg.rtol, cfg.atol, cfg.adjoint)

    def build_dynamics(self) -> CNFDynamics:
        raise NotImplementedError

    @property
    def bpd_bins(self) -> int:
        return 1  # a density on R^D

    @property
    def nfe(self) -> int:
        """Evaluations of the field in the last forward solve."""
        return self.ode.nfe

    # ---- the two maps ---------------------------------------------------------------------------------------
    def to_data(self, z: Tensor) -> Tensor:
        """x = z(T) from z(0) = z."""
        (x,) = self.ode((z,), 0.0, self.config.T)
        return x

    def to_base(self, x: Tensor) -> Tensor:
        """z(0) from z(T) = x."""
        (z,) = self.ode((x,), self.config.T, 0.0)
        return z

    def _fine_ode(self) -> ODEBlock:
        """The field solved by adaptive dopri5 at rtol = atol = LATENT_TOL, whatever `method` the model trains with:
        a fixed-step solver's forward and backward maps are not inverse to each other (Euler is first order)."""
        tol = min(self.config.rtol, self.config.atol, LATENT_TOL)
        return ODEBlock(self.dynamics, "dopri5", rtol=tol, atol=tol)

    def to_latent(self, x: Tensor, condition: Tensor | None = None) -> Tensor:
        """z(0) (N, D) of data x = z(T): the flow of the field onto its N(0, I) base (`_fine_ode`)."""
        self.check_input(x, condition)
        (z,) = self._fine_ode()((x,), self.config.T, 0.0)
        return z

    def from_latent(self, z: Tensor, condition: Tensor | None = None) -> Tensor:
        """x = z(T) from z(0) = z (`_fine_ode`), the inverse of `to_latent` within the solver's tolerance."""
        self.sample_labels(z.shape[0], condition)  # unconditional: a condition is a DataError
        (x,) = self._fine_ode()((z.to(self.device),), 0.0, self.config.T)
        return x

    def density_terms(self, x: Tensor, regularise: bool = False,
                      generator: torch.Generator | None = None) -> dict[str, Tensor]:
        """Per example: "log_prob" = log N(z(0)) - int_0^T tr(df/dz) dt, and with `regularise` the RNODE integrals
        "kinetic" = int ||f||^2 dt and "jacobian" = int ||v^T df/dz||^2 dt (one backward solve T -> 0)."""
        cfg, n = self.config, x.shape[0]
        need_probe = self.dynamics.trace == "hutchinson" or regularise
        self.dynamics.probe = hutchinson_noise(x.shape, cfg.noise, generator, x.dtype, x.device) if need_probe else None
        zero = torch.zeros(n, dtype=x.dtype, device=x.device)
        state = (x, zero) + ((zero, zero) if regularise else ())
        out = self.ode(state, cfg.T, 0.0)
        z, trace_integral = out[0], out[1]  # l(0) = int_0^T tr(df/dz) dt
        terms = {"log_prob": gaussian_log_prob(z, 0.0, 0.0) - trace_integral}
        if regularise:  # integrated from T down to 0: the integrals over [0, T] are the negatives
            terms["kinetic"], terms["jacobian"] = -out[2], -out[3]
        return terms

    # ---- the contract ---------------------------------------------------------------------------------------
    def log_prob(self, x: Tensor, condition: Tensor | None = None,
                 generator: torch.Generator | None = None) -> Tensor:
        """log p(x) in nats per example (with Hutchinson's trace an unbiased estimate of it, seeded by `generator`)."""
        self.check_input(x, condition)
        return self.density_terms(x, generator=generator)["log_prob"]

    def loss(self, batch: Batch, player: str = "model") -> dict[str, Tensor]:
        cfg = self.config
        self.check_input(batch.x, batch.y)
        regularise = cfg.kinetic > 0 or cfg.jacobian > 0
        terms = self.density_terms(batch.x, regularise)
        nll = -terms["log_prob"].mean()
        loss = nll
        out = {}
        if regularise:
            k, j = terms["kinetic"].mean(), terms["jacobian"].mean()
            loss = loss + cfg.kinetic * k + cfg.jacobian * j
            out = {"kinetic": k.detach(), "jacobian": j.detach()}
        nll_d = nll.detach()
        return {"loss": loss / self.dim, "nll": nll_d, "bpd": bits_per_dim(nll_d, self.dim, n_bins=1),
                **out, "nfe": torch.tensor(float(self.nfe))}

    @torch.no_grad()
    def sample(self, n: int, condition: Tensor | None = None, generator: torch.Generator | None = None) -> Tensor:
        """n points: z(0) ~ N(0, I) carried to t = T."""
        self.sample_labels(n, condition)  # unconditional: a condition is a DataError
        z = torch.randn(n, self.dim, generator=generator, device=self.device if generator is None else "cpu")
        return self.to_data(z.to(self.device))


@register("cnf", family="continuous")
class CNF(ContinuousFlow):
    """FFJORD continuous normalizing flow on points (Grathwohl et al. 2019): a free-form MLP field."""

    Config = CNFConfig

    def build_dynamics(self) -> CNFDynamics:
        cfg = self.config
        exact = cfg.trace == "exact" or (cfg.trace == "auto" and self.dim <= cfg.exact_max_dim)
        return CNFDynamics(ConcatField(self.dim, cfg.hidden, cfg.act), "exact" if exact else "hutchinson")
