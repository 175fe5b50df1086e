"""The continuous normalizing flow of Neural ODEs (Chen et al. 2018, sec. 4): a gated sum of planar fields whose
parameters are functions of time, with a closed-form trace.

Field (Chen et al. 2018, eqs. 9-10, with M units and a hypernetwork of t for the parameters, sec. 4.1):

    f(z, t) = sum_{m=1}^M sigma(g_m(t)) u_m(t) tanh(w_m(t)^T z + b_m(t)),
    tr(df/dz) = sum_m sigma(g_m(t)) (u_m(t)^T w_m(t)) (1 - tanh^2(w_m(t)^T z + b_m(t))),

so d log p / dt = -tr(df/dz) costs O(M D) with no backward pass, exactly, in any dimension (FFJORD's free-form
field needs D backward passes or Hutchinson's estimate). (u, w, b, g)(t) = hypernet(t), an MLP of the scalar time.
Everything else (the ODE block, log_prob T -> 0, sampling 0 -> T, RNODE terms) is the continuous family's
`ContinuousFlow` (cnf.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import Tensor, nn

from genzoo.models.continuous.cnf import CNFDynamics, ContinuousConfig, ContinuousFlow
from genzoo.models.registry import register
from genzoo.nn.mlp import mlp


class PlanarField(nn.Module):
    """f(z, t) = sum_m sigma(g_m) u_m tanh(w_m^T z + b_m), (u, w, b, g) = hypernet(t); `with_trace` adds the
    closed-form tr(df/dz)."""

    def __init__(self, dim: int, width: int, hyper_hidden: tuple[int, ...]):
        super().__init__()
        self.dim, self.width = dim, width
        self.hyper = mlp(1, hyper_hidden, width * (2 * dim + 2), act="tanh")

    def params(self, t: Tensor, like: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        p = self.hyper(t.to(like).reshape(1, 1))[0]
        m, d = self.width, self.dim
        u, w, b, g = p[: m * d].view(m, d), p[m * d : 2 * m * d].view(m, d), p[2 * m * d : -m], p[-m:]
        return u, w, b, torch.sigmoid(g)

    def with_trace(self, t: Tensor, z: Tensor) -> tuple[Tensor, Tensor]:
        u, w, b, gate = self.params(t, z)
        h = torch.tanh(z @ w.T + b)  # (N, M)
        dz = (gate * h) @ u
        trace = ((1 - h.pow(2)) * gate) @ (u * w).sum(1)
        return dz, trace

    def forward(self, t: Tensor, z: Tensor) -> Tensor:
        u, w, b, gate = self.params(t, z)
        return (gate * torch.tanh(z @ w.T + b)) @ u


@dataclass
class NeuralODEConfig(ContinuousConfig):
    """width: the number M of planar units; hyper_hidden: the hypernetwork MLP(t) widths."""

    width: int = 64
    hyper_hidden: tuple[int, ...] = (32, 32)

    positive: ClassVar[tuple[str, ...]] = ContinuousConfig.positive + ("width", "hyper_hidden")

    def checks(self) -> list[tuple[bool, str]]:
        return super().checks() + [(len(self.hyper_hidden) >= 1, "hyper_hidden needs >= 1 positive width")]


@register("neural-ode", family="continuous")
class NeuralODE(ContinuousFlow):
    """Chen et al. 2018's continuous normalizing flow: gated planar units from a hypernetwork, exact trace."""

    Config = NeuralODEConfig

    def build_dynamics(self) -> CNFDynamics:
        cfg = self.config
        return CNFDynamics(PlanarField(self.dim, cfg.width, cfg.hyper_hidden), "analytic")
