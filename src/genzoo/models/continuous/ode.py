"""The ODE block: z(t1) = z(t0) + int_{t0}^{t1} f(t, z(t)) dt solved by torchdiffeq (Chen et al. 2018, "Neural
Ordinary Differential Equations", sec. 2).

Solvers: fixed-step "rk4" (the 3/8 rule, 4 evaluations a step) and "euler" (1 a step) on `steps` equal steps, or
adaptive "dopri5" (Dormand-Prince 5(4)) whose steps keep the local error under atol + rtol |z|. Gradients either
backpropagate through the solver's operations (memory grows with the number of steps) or come from the adjoint
method (Chen et al. 2018, sec. 2, eq. 4: a = dL/dz(t) solves da/dt = -a^T df/dz backwards in time together with
z(t) and dL/dtheta = -int a^T df/dtheta dt; constant memory, one more solve). `nfe` counts the evaluations of f of
the last forward solve: the cost of a solve, which adaptive solvers decide themselves.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

METHODS = ("dopri5", "rk4", "euler")
FIXED_STEP = ("rk4", "euler")

State = Tensor | tuple[Tensor, ...]


class _Counted(nn.Module):
    """f with a counter of its evaluations (an nn.Module, so the adjoint finds f's parameters)."""

    def __init__(self, func: nn.Module):
        super().__init__()
        self.func = func
        self.calls = 0

    def forward(self, t: Tensor, state: State) -> State:
        self.calls += 1
        return self.func(t, state)


class ODEBlock(nn.Module):
    """Solve dz/dt = func(t, z) from t0 to t1 (either direction); `state` a tensor or a tuple of tensors.

    method: one of METHODS; steps: the number of equal steps of a fixed-step method; rtol, atol: the tolerances of
    an adaptive one; adjoint: gradients by the adjoint method (torchdiffeq.odeint_adjoint) instead of backprop."""

    def __init__(self, func: nn.Module, method: str = "dopri5", steps: int = 8, rtol: float = 1e-5,
                 atol: float = 1e-5, adjoint: bool = False):
        super().__init__()
        if method not in METHODS:
            raise ValueError(f"ODE method must be one of {METHODS}, got {method!r}")
        self.func = func
        self.method, self.steps, self.rtol, self.atol, self.adjoint = method, steps, rtol, atol, adjoint
        self.nfe = 0

    def times(self, t0: float, t1: float, like: Tensor) -> Tensor:
        n = self.steps + 1 if self.method in FIXED_STEP else 2  # a fixed-step solver steps on the given grid
        return torch.linspace(t0, t1, n, dtype=like.dtype, device=like.device)

    def forward(self, state: State, t0: float = 0.0, t1: float = 1.0) -> State:
        from torchdiffeq import odeint, odeint_adjoint

        first = state[0] if isinstance(state, tuple) else state
        ts = self.times(t0, t1, first)
        f = _Counted(self.func)
        solve = odeint_adjoint if self.adjoint else odeint
        out = solve(f, state, ts, rtol=self.rtol, atol=self.atol, method=self.method)
        self.nfe = f.calls
        return tuple(o[-1] for o in out) if isinstance(out, tuple) else out[-1]
