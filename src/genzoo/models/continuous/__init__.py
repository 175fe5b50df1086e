"""Continuous-time models: the ODE block (torchdiffeq) and continuous normalizing flows (docs/models/continuous.md).

    from genzoo.models.continuous import ODEBlock, CNF
    block = ODEBlock(field, method="dopri5", rtol=1e-5, atol=1e-5, adjoint=False); z1 = block(z0, 0.0, 1.0)

Registered models (family "continuous"): `cnf` (FFJORD) and `neural-ode` (Chen et al. 2018's planar CNF).
"""

from genzoo.models.continuous.cnf import CNF, CNFConfig, CNFDynamics, ConcatField, ContinuousConfig, ContinuousFlow
from genzoo.models.continuous.neural_ode import NeuralODE, NeuralODEConfig, PlanarField
from genzoo.models.continuous.ode import METHODS, ODEBlock

__all__ = ["CNF", "CNFConfig", "CNFDynamics", "ConcatField", "ContinuousConfig", "ContinuousFlow", "METHODS",
           "NeuralODE", "NeuralODEConfig", "ODEBlock", "PlanarField"]
