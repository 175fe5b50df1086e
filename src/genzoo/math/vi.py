"""Variational inference: the reparameterized Monte Carlo ELBO."""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor
from torch.distributions import Distribution


def elbo(log_joint: Callable[[Tensor], Tensor], q: Distribution, n: int = 1) -> Tensor:
    """Evidence lower bound  ELBO(q) = E_q[ log p(x, z) - log q(z) ] <= log p(x), estimated with n
    reparameterized samples z = g(eps; q's parameters) so that it is differentiable in q's parameters
    (Jordan et al. 1999; Kingma & Welling 2014, eq. 3 and sec. 2.4; Titsias & Lazaro-Gredilla 2014):

        ELBO ~= 1/n sum_i [ log p(x, z_i) - log q(z_i) ],   z_i = q.rsample()

    `log_joint` maps the (n, *sample shape) tensor of z's to log p(x, z) of shape (n, *batch). When `q.log_prob`
    has more trailing dims than that (e.g. a `Normal` with a vector of locations used as a diagonal Gaussian),
    they are summed. Returns the mean over the n samples; maximise it (minimise -elbo) to fit q.
    """
    if not q.has_rsample:
        raise ValueError(f"q must support rsample (the reparameterization trick); {type(q).__name__} does not")
    z = q.rsample((n,))
    lj = log_joint(z)
    lq = q.log_prob(z)
    if lq.dim() > lj.dim():
        lq = lq.sum(tuple(range(lj.dim(), lq.dim())))
    return (lj - lq).mean(0)
