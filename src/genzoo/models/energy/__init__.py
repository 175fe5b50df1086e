"""Energy-based models (docs/models/energy.md): `rbm` (restricted Boltzmann machines, CD/PCD, AIS log Z) and
`dbn` (deep belief networks, greedy layer-wise training, variational bound)."""

from genzoo.models.energy.dbn import DBN, DBNConfig
from genzoo.models.energy.rbm import RBM, RBMConfig, RBMLayer

__all__ = ["DBN", "DBNConfig", "RBM", "RBMConfig", "RBMLayer"]
