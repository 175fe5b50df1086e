"""Energy-based models p(x) = exp(-E(x)) / Z (docs/models/energy.md): `ebm` (an energy network trained with SGLD
negatives from a replay buffer), `rbm` (restricted Boltzmann machines, CD/PCD, log Z by AIS) and `dbn` (deep belief
networks, greedy layer-wise training, variational bound)."""

from genzoo.models.energy.dbn import DBN, DBNConfig
from genzoo.models.energy.ebm import EBM, EBMConfig
from genzoo.models.energy.rbm import RBM, RBMConfig, RBMLayer

__all__ = ["DBN", "DBNConfig", "EBM", "EBMConfig", "RBM", "RBMConfig", "RBMLayer"]
