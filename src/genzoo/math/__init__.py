"""genzoo.math: pure tensor functions, no models. Nats unless `base=2`; batched over leading dims.

Every function's docstring gives its formula and source; docs/math.md lists them all.
"""

from genzoo.math.gaussian import gaussian_entropy, gaussian_kl, gaussian_log_prob, reparameterize
from genzoo.math.montecarlo import log_mean_exp
from genzoo.math.penalties import gradient_penalty, l1_penalty, l2_penalty, r1_penalty
from genzoo.math.units import bits_per_dim

__all__ = [
    "bits_per_dim",
    "gaussian_entropy",
    "gaussian_kl",
    "gaussian_log_prob",
    "gradient_penalty",
    "l1_penalty",
    "l2_penalty",
    "log_mean_exp",
    "r1_penalty",
    "reparameterize",
]
