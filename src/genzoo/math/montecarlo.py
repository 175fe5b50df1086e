"""Monte Carlo estimation: plain averages with standard errors, importance sampling, effective sample size,
Monte Carlo KL between distributions, and the stable log-mean-exp.

Estimators return NamedTuples (`Estimate(mean, stderr)`, `ISEstimate(mean, stderr, ess)`) so callers can unpack.
Samples are drawn along a new leading dimension of size n and every reduction runs over that dimension only, so
batched functions and batched distributions give batched estimates.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple, Union

import torch
from torch import Tensor
from torch.distributions import Distribution

Sampler = Union[Callable[[int], Tensor], Distribution]


class Estimate(NamedTuple):
    mean: Tensor
    stderr: Tensor  # standard error of the mean: sample std / sqrt(n)


class ISEstimate(NamedTuple):
    mean: Tensor
    stderr: Tensor
    ess: Tensor  # effective sample size of the importance weights


def log_mean_exp(x: Tensor, dim: int = -1, keepdim: bool = False) -> Tensor:
    """LME(x) = log( 1/n sum_i exp(x_i) ) along `dim`, stably: logsumexp(x) - log n, with logsumexp shifting by the max
    (Blanchard, Higham & Higham 2021). The IWAE bound and importance-sampled log-likelihoods are log-mean-exps."""
    return torch.logsumexp(x, dim=dim, keepdim=keepdim) - math.log(x.shape[dim])


def _draw(sample: Sampler, n: int) -> Tensor:
    if isinstance(sample, Distribution):
        return sample.sample((n,))
    if callable(sample):
        return sample(n)
    raise TypeError(f"sample must be a callable n -> samples or a torch.distributions object, got {type(sample)}")


def _mean_stderr(values: Tensor) -> Estimate:
    n = values.shape[0]
    if n < 2:
        raise ValueError(f"need at least 2 samples for a standard error, got n={n}")
    return Estimate(values.mean(0), values.std(0, unbiased=True) / math.sqrt(n))


def mc_estimate(f: Callable[[Tensor], Tensor], sample: Sampler, n: int) -> Estimate:
    """Monte Carlo estimate of E_p[f(X)]:  mean = 1/n sum_i f(x_i),  stderr = s / sqrt(n), x_i ~ p i.i.d.,
    s the unbiased sample standard deviation (Robert & Casella 2004, sec. 3.2; Owen 2013, ch. 2).

    `sample` is a callable n -> tensor of n samples (leading dim) or a `torch.distributions` object;
    `f` maps that tensor to values with leading dim n (anything after it is kept as a batch).
    """
    values = torch.as_tensor(f(_draw(sample, n)))
    return _mean_stderr(values)


def effective_sample_size(log_w: Tensor, dim: int = -1) -> Tensor:
    """Kish's effective sample size of importance weights, from log-weights and stable for any scale:

        ESS = (sum_i w_i)^2 / sum_i w_i^2 = exp( 2 logsumexp(log w) - logsumexp(2 log w) )

    n for equal weights, 1 when one weight dominates (Kish 1965; Owen 2013, sec. 9.3).
    """
    return torch.exp(2 * torch.logsumexp(log_w, dim=dim) - torch.logsumexp(2 * log_w, dim=dim))


def importance_sampling(
    f: Callable[[Tensor], Tensor],
    log_p: Callable[[Tensor], Tensor],
    proposal: Distribution,
    n: int,
    self_normalized: bool = False,
) -> ISEstimate:
    """Importance-sampling estimate of E_p[f(X)] with samples x_i ~ q (`proposal`) and w_i = p(x_i) / q(x_i)
    (Owen 2013, ch. 9):

    - plain (p normalised):  mu = 1/n sum_i w_i f(x_i),  stderr = std(w f) / sqrt(n)     (unbiased)
    - self-normalised (p may be unnormalised):  mu = sum_i w_i f(x_i) / sum_i w_i,
      stderr = sqrt( sum_i w_i^2 (f(x_i) - mu)^2 ) / sum_i w_i   (delta method, Owen 2013, sec. 9.2)

    `log_p` and `proposal.log_prob` must return one value per sample (shape (n,), sum event dims yourself
    or use `torch.distributions.Independent`); `f` returns shape (n,) or (n, ...). Also returns the ESS.
    """
    x = proposal.sample((n,))
    log_w = torch.as_tensor(log_p(x)) - proposal.log_prob(x)
    fx = torch.as_tensor(f(x))
    lw = log_w.reshape(log_w.shape + (1,) * (fx.dim() - log_w.dim()))
    ess = effective_sample_size(log_w, dim=0)
    if not self_normalized:
        est = _mean_stderr(lw.exp() * fx)
        return ISEstimate(est.mean, est.stderr, ess)
    w = torch.softmax(lw, dim=0)  # normalised weights w_i / sum_j w_j, stable
    mean = (w * fx).sum(0)
    stderr = torch.sqrt((w.pow(2) * (fx - mean).pow(2)).sum(0))
    return ISEstimate(mean, stderr, ess)


def kl_mc(q: Distribution, p: Distribution, n: int) -> Estimate:
    """Monte Carlo KL(q || p) = E_q[ log q(X) - log p(X) ] for any two `torch.distributions` with the same
    support, with its standard error s / sqrt(n) (Hershey & Olsen 2007, Monte Carlo sampling; the estimator behind
    the VAE's stochastic KL term, Kingma & Welling 2014).

    Shaped like `torch.distributions.kl_divergence(q, p)`: one value per batch element of q.log_prob.
    Uses rsample when q has it, so the estimate is differentiable in q's parameters.
    """
    x = q.rsample((n,)) if q.has_rsample else q.sample((n,))
    return _mean_stderr(q.log_prob(x) - p.log_prob(x))
