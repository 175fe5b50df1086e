"""genzoo.math: pure tensor functions, no models. Nats unless `base=2`; batched over leading dims.

Every function's docstring gives its formula and source; docs/math.md lists them all.
"""

from genzoo.math.ais import AISResult, annealed_importance_sampling, geometric_betas, log_mean_exp_stderr
from genzoo.math.divergences import knn_kl, median_bandwidth, mmd, sliced_wasserstein, wasserstein_1d
from genzoo.math.gaussian import gaussian_entropy, gaussian_kl, gaussian_log_prob, reparameterize
from genzoo.math.info import (
    Capacity,
    channel_capacity,
    cross_entropy,
    entropy,
    js_divergence,
    kl_divergence,
    mutual_information,
)
from genzoo.math.mcmc import (
    MCMCResult,
    hmc,
    langevin,
    metropolis_hastings,
    random_walk_proposal,
    sgld,
    uniform_categorical_proposal,
)
from genzoo.math.montecarlo import (
    Estimate,
    ISEstimate,
    effective_sample_size,
    importance_sampling,
    kl_mc,
    log_mean_exp,
    mc_estimate,
)
from genzoo.math.penalties import gradient_penalty, l1_penalty, l2_penalty, r1_penalty
from genzoo.math.sampling import check_sampling, filter_logits, sample_next, top_k_filter, top_p_filter
from genzoo.math.sparse import (
    SparseCode,
    fista,
    folded_normal_mean,
    hoyer_sparsity,
    ista,
    laplace_kl,
    laplace_log_prob,
    lasso_objective,
    lipschitz,
    near_zero_fraction,
    soft_threshold,
)
from genzoo.math.trace import exact_divergence, exact_trace, hutchinson_divergence, hutchinson_noise, hutchinson_trace
from genzoo.math.units import bits_per_dim
from genzoo.math.vi import elbo

__all__ = [
    "exact_divergence",
    "exact_trace",
    "hutchinson_divergence",
    "hutchinson_noise",
    "hutchinson_trace",
    "check_sampling",
    "filter_logits",
    "sample_next",
    "top_k_filter",
    "top_p_filter",
    "AISResult",
    "Capacity",
    "Estimate",
    "ISEstimate",
    "MCMCResult",
    "annealed_importance_sampling",
    "SparseCode",
    "bits_per_dim",
    "channel_capacity",
    "cross_entropy",
    "effective_sample_size",
    "elbo",
    "entropy",
    "fista",
    "folded_normal_mean",
    "gaussian_entropy",
    "geometric_betas",
    "gaussian_kl",
    "gaussian_log_prob",
    "gradient_penalty",
    "hmc",
    "hoyer_sparsity",
    "importance_sampling",
    "ista",
    "js_divergence",
    "kl_divergence",
    "kl_mc",
    "knn_kl",
    "l1_penalty",
    "l2_penalty",
    "langevin",
    "laplace_kl",
    "laplace_log_prob",
    "lasso_objective",
    "lipschitz",
    "log_mean_exp",
    "log_mean_exp_stderr",
    "mc_estimate",
    "median_bandwidth",
    "metropolis_hastings",
    "mmd",
    "mutual_information",
    "near_zero_fraction",
    "r1_penalty",
    "random_walk_proposal",
    "reparameterize",
    "sgld",
    "sliced_wasserstein",
    "soft_threshold",
    "uniform_categorical_proposal",
    "wasserstein_1d",
]
