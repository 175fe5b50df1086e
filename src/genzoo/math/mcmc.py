"""Markov chain Monte Carlo, vectorised over chains: Metropolis-Hastings, Langevin (ULA / MALA), HMC and SGLD.

Every sampler takes a target `log_prob` (a callable mapping (chains, dim) to (chains,), unnormalised is fine),
a start `x0` of shape (chains, dim), and runs `burn_in` discarded iterations followed by `steps` iterations of
which every `thin`-th is kept. It returns `MCMCResult(samples, acceptance_rate)` with samples of shape
(steps // thin, chains, dim) and the per-chain fraction of accepted proposals after burn-in. Gradients of the
target come from autograd. Pass a `torch.Generator` to make a run reproducible.

`sgld` is the energy-model form of Langevin dynamics (a callable energy, chains of any shape, step size and noise
scale set apart, optional clipping to a box); it returns the last state only.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor

LogProb = Callable[[Tensor], Tensor]
Proposal = Callable[[Tensor, "torch.Generator | None"], "tuple[Tensor, Tensor]"]


class MCMCResult(NamedTuple):
    samples: Tensor  # (steps // thin, chains, dim)
    acceptance_rate: Tensor  # (chains,), fraction of proposals accepted after burn-in


def _check_x0(x0: Tensor, steps: int, burn_in: int, thin: int) -> None:
    if x0.dim() != 2:
        raise ValueError(f"x0 must have shape (chains, dim), got {tuple(x0.shape)}")
    if steps < 1 or burn_in < 0 or thin < 1:
        raise ValueError(f"need steps >= 1, burn_in >= 0, thin >= 1; got steps={steps}, burn_in={burn_in}, thin={thin}")


def _log_prob(log_prob: LogProb, x: Tensor) -> Tensor:
    lp = log_prob(x)
    if lp.shape != x.shape[:1]:
        raise ValueError(f"log_prob must map (chains, dim) to (chains,), got shape {tuple(lp.shape)}")
    return lp


def _lp_grad(log_prob: LogProb, x: Tensor) -> tuple[Tensor, Tensor]:
    with torch.enable_grad():
        x = x.detach().requires_grad_(True)
        lp = _log_prob(log_prob, x)
        (grad,) = torch.autograd.grad(lp.sum(), x)
    return lp.detach(), grad


def _accept(log_alpha: Tensor, generator: torch.Generator | None) -> Tensor:
    """Accept with probability min(1, e^log_alpha); NaN (e.g. both densities zero) rejects."""
    u = torch.rand(log_alpha.shape, dtype=log_alpha.dtype, device=log_alpha.device, generator=generator)
    return torch.log(u) < log_alpha


def _run(kernel: Callable, state: tuple, steps: int, burn_in: int, thin: int) -> MCMCResult:
    x0 = state[0]
    accepted = torch.zeros(x0.shape[0], dtype=torch.int64, device=x0.device)  # exact counts on any device
    kept = []
    for t in range(burn_in + steps):
        state, acc = kernel(state)
        if t >= burn_in:
            accepted += acc
            if (t - burn_in + 1) % thin == 0:
                kept.append(state[0].detach().clone())
    rate_dtype = x0.dtype if x0.is_floating_point() else torch.get_default_dtype()
    return MCMCResult(torch.stack(kept), accepted.to(rate_dtype) / steps)


def random_walk_proposal(step_size: float | Tensor = 0.5) -> Proposal:
    """Gaussian random walk x' = x + step_size * N(0, I) (Metropolis et al. 1953); symmetric, so
    log q(x|x') - log q(x'|x) = 0."""

    def propose(x: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        eps = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator)
        return x + step_size * eps, torch.zeros(x.shape[0], dtype=x.dtype, device=x.device)

    return propose


def uniform_categorical_proposal(num_states: int) -> Proposal:
    """For integer states in {0, ..., K-1}: each coordinate moves to one of the other K - 1 states uniformly,
    x' = (x + s) mod K with s ~ U{1, ..., K-1}. Symmetric, so the log proposal ratio is 0 (Hastings 1970)."""
    if num_states < 2:
        raise ValueError(f"num_states must be at least 2, got {num_states}")

    def propose(x: Tensor, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
        shift = torch.randint(1, num_states, x.shape, device=x.device, generator=generator)
        return (x + shift) % num_states, torch.zeros(x.shape[0], dtype=torch.get_default_dtype(), device=x.device)

    return propose


def metropolis_hastings(
    log_prob: LogProb,
    x0: Tensor,
    steps: int,
    step_size: float | Tensor = 0.5,
    burn_in: int = 0,
    thin: int = 1,
    proposal: Proposal | None = None,
    generator: torch.Generator | None = None,
) -> MCMCResult:
    """Metropolis-Hastings (Metropolis et al. 1953; Hastings 1970). From x, propose x' ~ q(.|x) and accept with

        alpha = min(1, [pi(x') q(x | x')] / [pi(x) q(x' | x)])

    The default proposal is the Gaussian random walk x' = x + step_size * N(0, I). A custom `proposal(x, generator)`
    returns `(x', log q(x | x') - log q(x' | x))` per chain; it can act on integer states, e.g.
    `uniform_categorical_proposal(K)` for a target over K states (x0 an int64 (chains, dim) tensor).
    """
    _check_x0(x0, steps, burn_in, thin)
    propose = proposal if proposal is not None else random_walk_proposal(step_size)

    def kernel(state):
        x, lp = state
        x_new, log_ratio = propose(x, generator)
        lp_new = _log_prob(log_prob, x_new)
        acc = _accept((lp_new - lp + log_ratio).to(lp.dtype), generator)
        mask = acc.view(-1, *([1] * (x.dim() - 1)))
        return (torch.where(mask, x_new, x), torch.where(acc, lp_new, lp)), acc

    with torch.no_grad():
        return _run(kernel, (x0, _log_prob(log_prob, x0)), steps, burn_in, thin)


def langevin(
    log_prob: LogProb,
    x0: Tensor,
    steps: int,
    step_size: float,
    burn_in: int = 0,
    thin: int = 1,
    metropolis: bool = False,
    generator: torch.Generator | None = None,
) -> MCMCResult:
    """Langevin dynamics with step h: x' = x + h grad log pi(x) + sqrt(2h) xi, xi ~ N(0, I).

    With `metropolis=False` this is the unadjusted Langevin algorithm (ULA): every move is accepted and the chain
    samples a distribution whose bias vanishes as h -> 0 (Roberts & Tweedie 1996; Durmus & Moulines 2017).
    With `metropolis=True` it is MALA: the move is a proposal with q(x'|x) = N(x'; x + h grad log pi(x), 2h I),
    accepted by the Metropolis-Hastings rule, which makes pi exactly invariant (Roberts & Tweedie 1996).
    """
    _check_x0(x0, steps, burn_in, thin)
    noise_scale = math.sqrt(2.0 * step_size)

    def log_q(x_to: Tensor, x_from: Tensor, grad_from: Tensor) -> Tensor:
        return -(x_to - x_from - step_size * grad_from).pow(2).sum(-1) / (4.0 * step_size)

    def kernel(state):
        x, lp, grad = state
        xi = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator)
        x_new = x + step_size * grad + noise_scale * xi
        lp_new, grad_new = _lp_grad(log_prob, x_new)
        if not metropolis:
            return (x_new, lp_new, grad_new), torch.ones_like(lp_new, dtype=torch.bool)
        log_alpha = lp_new - lp + log_q(x, x_new, grad_new) - log_q(x_new, x, grad)
        acc = _accept(log_alpha, generator)
        m = acc.unsqueeze(-1)
        return (torch.where(m, x_new, x), torch.where(acc, lp_new, lp), torch.where(m, grad_new, grad)), acc

    return _run(kernel, (x0.detach(), *_lp_grad(log_prob, x0)), steps, burn_in, thin)


def hmc(
    log_prob: LogProb,
    x0: Tensor,
    steps: int,
    step_size: float,
    n_leapfrog: int = 10,
    burn_in: int = 0,
    thin: int = 1,
    generator: torch.Generator | None = None,
) -> MCMCResult:
    """Hamiltonian Monte Carlo with identity mass matrix (Duane et al. 1987; Neal 2011, "MCMC using Hamiltonian
    dynamics", sec. 5.3). Draw momentum r ~ N(0, I), run `n_leapfrog` leapfrog steps of size h on
    H(x, r) = -log pi(x) + |r|^2 / 2:

        r <- r + h/2 grad log pi(x);  x <- x + h r;  r <- r + h/2 grad log pi(x)

    and accept the end point with probability min(1, exp(H(x, r) - H(x', r'))).
    """
    _check_x0(x0, steps, burn_in, thin)
    if n_leapfrog < 1:
        raise ValueError(f"n_leapfrog must be at least 1, got {n_leapfrog}")

    def kernel(state):
        x, lp, grad = state
        r = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator)
        h0 = -lp + 0.5 * r.pow(2).sum(-1)
        x_new, r_new, grad_new = x, r + 0.5 * step_size * grad, grad
        for i in range(n_leapfrog):
            x_new = x_new + step_size * r_new
            lp_new, grad_new = _lp_grad(log_prob, x_new)
            r_new = r_new + (step_size if i < n_leapfrog - 1 else 0.5 * step_size) * grad_new
        h1 = -lp_new + 0.5 * r_new.pow(2).sum(-1)
        acc = _accept(h0 - h1, generator)
        m = acc.unsqueeze(-1)
        return (torch.where(m, x_new, x), torch.where(acc, lp_new, lp), torch.where(m, grad_new, grad)), acc

    return _run(kernel, (x0.detach(), *_lp_grad(log_prob, x0)), steps, burn_in, thin)


Energy = Callable[[Tensor], Tensor]


def sgld(
    energy: Energy,
    x0: Tensor,
    steps: int,
    step_size: float,
    noise: float | None = None,
    clip: tuple[float, float] | None = None,
    generator: torch.Generator | None = None,
) -> Tensor:
    """Stochastic-gradient Langevin dynamics on an energy E (Welling & Teh 2011; as used to sample energy-based
    models by Du & Mordatch 2019, eq. 2, and Grathwohl et al. 2019, eq. 11), `steps` iterations of

        x <- clip( x - (step_size / 2) dE/dx + noise * xi ),   xi ~ N(0, I)

    from x0 (N, ...), E mapping (N, ...) to (N,). With noise = sqrt(step_size) (the default, noise=None) this is
    the Euler-Maruyama discretisation of the Langevin diffusion dx = -1/2 grad E dt + dW, whose stationary density is
    exp(-E) / Z (the unadjusted Langevin algorithm with h = step_size / 2; bias O(step_size)). Energy models are
    usually sampled with the two decoupled, e.g. step_size 1 with noise 0.01 (Du & Mordatch 2019, sec. 3.2): a
    faster, colder sampler that no longer targets exp(-E). `clip` (lo, hi) projects every iterate onto the box
    (images: the data range [0, 1]). Gradients flow neither into the start nor out of the result: the returned
    tensor is detached, and only dE/dx is taken (parameters of E get no .grad). Runs under torch.enable_grad().
    """
    if steps < 0 or step_size <= 0:
        raise ValueError(f"need steps >= 0 and step_size > 0; got steps={steps}, step_size={step_size}")
    scale = math.sqrt(step_size) if noise is None else float(noise)
    x = x0.detach()
    for _ in range(steps):
        with torch.enable_grad():
            xg = x.requires_grad_(True)
            e = energy(xg)
            if e.shape != x.shape[:1]:
                raise ValueError(f"energy must map (N, ...) to (N,), got shape {tuple(e.shape)}")
            (grad,) = torch.autograd.grad(e.sum(), xg)
        xi = torch.randn(x.shape, dtype=x.dtype, device=x.device, generator=generator)
        x = (x.detach() - 0.5 * step_size * grad + scale * xi).detach()
        if clip is not None:
            x = x.clamp(clip[0], clip[1])
    return x
