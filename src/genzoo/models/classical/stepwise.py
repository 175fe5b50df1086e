"""EM through the one Trainer: stepwise EM as a plain SGD step on the sufficient statistics.

An exponential-family latent-variable model is parameterised here by its expected sufficient statistics s
(per example: mixture responsibilities and moments for a GMM, expected counts for an HMM); the M-step maps them to
parameters theta(s) in closed form. Stepwise (online) EM (Cappe & Moulines 2009, "On-line expectation-maximization
algorithm for latent data models", eq. 8; Liang & Klein 2009, "Online EM for unsupervised models", section 2.2)
moves them towards the E-step statistics of the step's batch B:

    s <- (1 - rho) s + rho * s_hat(B; theta(s)),      s_hat = mean over B of E[s(x, z) | x; theta(s)]

That update is exactly one SGD step (momentum 0, no weight decay, learning rate rho) on the surrogate
q(s) = 1/2 ||s - s_hat||^2, whose gradient is s - s_hat. So the model's `loss` returns

    loss = NLL + (q - stop_gradient(q))

whose value is the NLL (the diagnostic the Trainer logs and evaluates, exactly, since q - q is 0.0) and whose
gradient is that of q: the Trainer's own optimizer then performs the EM step and its learning-rate schedule is
the step-size schedule rho_t. rho = 1 with the whole data set as one batch is classical (batch) EM; rho < 1 with
minibatches is stepwise EM, which converges for sum rho_t = inf, sum rho_t^2 < inf (e.g. a decaying schedule).
Every step is a pure function of the batch and the state, so a resumed run is bit-exact. The statistics stay
valid (weights on the simplex, second moments positive semi-definite) because each step is a convex combination,
which holds for plain SGD with 0 < rho <= 1 only: the models' `train_defaults` select it.
"""

from __future__ import annotations

from torch import Tensor, nn

# What the Trainer must use for the update above to be stepwise EM (the models' train_defaults).
EM_TRAIN_DEFAULTS = {"optimizer": "sgd", "momentum": 0.0, "weight_decay": 0.0}


def stepwise_em_loss(nll: Tensor, stats: dict[str, nn.Parameter], targets: dict[str, Tensor]) -> Tensor:
    """NLL in value, gradient s - s_hat for every statistic (the module docstring)."""
    q = sum(0.5 * (stats[k] - targets[k].detach()).pow(2).sum() for k in stats)
    return nll.detach() + (q - q.detach())
