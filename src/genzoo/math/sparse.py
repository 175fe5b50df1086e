"""Sparse coding: the L1 proximal operator, ISTA and FISTA for the lasso, the Laplace prior and sparsity measures.

The lasso (Tibshirani 1996) of a signal x (..., d) in a dictionary D (d, K) of K atoms (columns) is

    F(z) = 1/2 ||x - D z||^2 + lam ||z||_1,

a smooth term f with gradient D^T (D z - x), Lipschitz with L = ||D||_2^2 (the largest eigenvalue of D^T D), plus
the non-smooth g = lam ||.||_1 whose proximal operator is soft thresholding. Proximal gradient descent (ISTA,
Daubechies, Defrise & De Mol 2004) iterates z <- S_{lam/L}(z - D^T (D z - x) / L) and reaches
F(z_k) - F* <= L ||z_0 - z*||^2 / (2 k); FISTA (Beck & Teboulle 2009) extrapolates and reaches
F(z_k) - F* <= 2 L ||z_0 - z*||^2 / (k + 1)^2 (Beck & Teboulle 2009, theorems 3.1 and 4.4).

A Laplace prior p(z) = prod_i exp(-|z_i| / b) / (2 b) turns the lasso into a MAP problem (the penalty is its
negative log-density); a Gaussian q = N(mu, s^2) has a closed-form KL to it through the folded-normal mean E|z|.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor

_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_LOG_2PI_E = math.log(2.0 * math.pi * math.e)


class SparseCode(NamedTuple):
    """The result of `ista` / `fista`: codes `z` (..., K), the lasso objective at `z` (...,), the number of
    iterations run, and (with `trace=True`) the objective after every iteration, (iterations + 1, ...) with the
    starting point first; None otherwise."""

    z: Tensor
    objective: Tensor
    iterations: int
    history: Tensor | None


def soft_threshold(v: Tensor, t: Tensor | float) -> Tensor:
    """The proximal operator of t ||.||_1: prox(v) = argmin_z 1/2 (z - v)^2 + t |z| = sign(v) max(|v| - t, 0),
    elementwise, t >= 0 (Donoho 1995; Parikh & Boyd 2014, sec. 6.5.2)."""
    t = torch.as_tensor(t, dtype=v.dtype, device=v.device)
    if (t < 0).any():
        raise ValueError("soft_threshold: the threshold t must be >= 0")
    return torch.sign(v) * torch.clamp(v.abs() - t, min=0.0)


def lasso_objective(x: Tensor, dictionary: Tensor, z: Tensor, lam: Tensor | float) -> Tensor:
    """F(z) = 1/2 ||x - D z||^2 + lam ||z||_1 per signal (Tibshirani 1996): x (..., d), D (d, K), z (..., K)
    -> (...,). `lam` broadcasts against z (a number, per signal (..., 1) or per atom (K,))."""
    lam = torch.as_tensor(lam, dtype=z.dtype, device=z.device)
    residual = x - z @ dictionary.T
    return 0.5 * residual.pow(2).sum(-1) + (lam * z.abs()).sum(-1)


def lipschitz(dictionary: Tensor) -> Tensor:
    """L = ||D||_2^2 = the largest eigenvalue of D^T D, the Lipschitz constant of z -> D^T (D z - x)
    (Beck & Teboulle 2009, sec. 2)."""
    return torch.linalg.matrix_norm(dictionary, ord=2).pow(2)


def _proximal_gradient(x, dictionary, lam, n_iter, step, z0, tol, trace, accelerated) -> SparseCode:
    if dictionary.dim() != 2 or x.shape[-1] != dictionary.shape[0]:
        raise ValueError(f"x (..., d) and a dictionary (d, K) expected, got {tuple(x.shape)} and "
                         f"{tuple(dictionary.shape)}")
    if n_iter < 0 or tol < 0:
        raise ValueError(f"n_iter and tol must be >= 0, got {n_iter} and {tol}")
    lam = torch.as_tensor(lam, dtype=x.dtype, device=x.device)
    if (lam < 0).any():
        raise ValueError("lam must be >= 0")
    step = 1.0 / lipschitz(dictionary) if step is None else torch.as_tensor(step, dtype=x.dtype, device=x.device)
    gram = dictionary.T @ dictionary  # gradient at z: z G - D^T x, one (K, K) product per iteration
    xd = x @ dictionary
    z = torch.zeros(*x.shape[:-1], dictionary.shape[1], dtype=x.dtype, device=x.device) if z0 is None else z0.clone()
    y, t = z, 1.0
    history = [lasso_objective(x, dictionary, z, lam)] if trace else None
    it = 0
    for it in range(1, n_iter + 1):
        z_new = soft_threshold(y - step * (y @ gram - xd), step * lam)
        if accelerated:  # Beck & Teboulle 2009, eq. 4.1-4.3
            t_new = 0.5 * (1.0 + math.sqrt(1.0 + 4.0 * t * t))
            y = z_new + ((t - 1.0) / t_new) * (z_new - z)
            t = t_new
        else:
            y = z_new
        done = tol > 0 and (z.numel() == 0 or bool((z_new - z).abs().max() <= tol))
        z = z_new
        if trace:
            history.append(lasso_objective(x, dictionary, z, lam))
        if done:
            break
    return SparseCode(z, lasso_objective(x, dictionary, z, lam), it, torch.stack(history) if trace else None)


def ista(x: Tensor, dictionary: Tensor, lam: Tensor | float, n_iter: int = 100, step: float | None = None,
         z0: Tensor | None = None, tol: float = 0.0, trace: bool = False) -> SparseCode:
    """ISTA for min_z 1/2 ||x - D z||^2 + lam ||z||_1 (Daubechies, Defrise & De Mol 2004):

        z_{k+1} = S_{lam eta}(z_k - eta D^T (D z_k - x)),   eta = 1 / L,  L = ||D||_2^2,

    S the soft threshold. F(z_k) - F* <= L ||z_0 - z*||^2 / (2 k) (Beck & Teboulle 2009, theorem 3.1).
    x (..., d), D (d, K); z0 the start (zeros by default); stops early when no code moves by more than `tol`
    (0: never). Returns SparseCode(z, objective, iterations, history)."""
    return _proximal_gradient(x, dictionary, lam, n_iter, step, z0, tol, trace, accelerated=False)


def fista(x: Tensor, dictionary: Tensor, lam: Tensor | float, n_iter: int = 100, step: float | None = None,
          z0: Tensor | None = None, tol: float = 0.0, trace: bool = False) -> SparseCode:
    """FISTA (Beck & Teboulle 2009, sec. 4): the ISTA step taken at an extrapolated point y_k,

        z_k = S_{lam / L}(y_k - D^T (D y_k - x) / L),   t_{k+1} = (1 + sqrt(1 + 4 t_k^2)) / 2,
        y_{k+1} = z_k + ((t_k - 1) / t_{k+1}) (z_k - z_{k-1}),   y_1 = z_0, t_1 = 1,

    with F(z_k) - F* <= 2 L ||z_0 - z*||^2 / (k + 1)^2 (theorem 4.4). Arguments and result as `ista`."""
    return _proximal_gradient(x, dictionary, lam, n_iter, step, z0, tol, trace, accelerated=True)


def folded_normal_mean(mu: Tensor, std: Tensor) -> Tensor:
    """E|z| for z ~ N(mu, s^2): E|z| = s sqrt(2 / pi) exp(-mu^2 / (2 s^2)) + mu erf(mu / (s sqrt 2)), elementwise
    (the folded normal, Leone, Nelson & Nottingham 1961)."""
    return std * _SQRT_2_OVER_PI * torch.exp(-0.5 * (mu / std).pow(2)) + mu * torch.erf(mu / (std * math.sqrt(2.0)))


def laplace_log_prob(z: Tensor, scale: Tensor | float = 1.0) -> Tensor:
    """log prod_i Laplace(z_i; 0, b) = sum_i [-log(2 b) - |z_i| / b], summed over the last dimension
    (Laplace 1774; the lasso's prior, Tibshirani 1996, sec. 5)."""
    b = torch.as_tensor(scale, dtype=z.dtype, device=z.device)
    return (-torch.log(2.0 * b) - z.abs() / b).sum(-1)


def laplace_kl(mu: Tensor, logvar: Tensor, scale: Tensor | float = 1.0) -> Tensor:
    """KL(N(mu, diag s^2) || prod_i Laplace(0, b)), s^2 = e^logvar, summed over the last dimension:

        KL = E_q log q - E_q log p = sum_i [ log(2 b) - 1/2 log(2 pi e s_i^2) + E_q|z_i| / b ],

    with the folded-normal mean E_q|z_i| = s_i sqrt(2/pi) exp(-mu_i^2 / (2 s_i^2)) + mu_i erf(mu_i / (s_i sqrt 2))
    (Gaussian entropy, Cover & Thomas 2006, sec. 8.4; folded normal, Leone et al. 1961)."""
    b = torch.as_tensor(scale, dtype=mu.dtype, device=mu.device)
    std = torch.exp(0.5 * logvar)
    return (torch.log(2.0 * b) - 0.5 * (_LOG_2PI_E + logvar) + folded_normal_mean(mu, std) / b).sum(-1)


def hoyer_sparsity(z: Tensor) -> Tensor:
    """Hoyer's measure over the last dimension (n entries): (sqrt(n) - ||z||_1 / ||z||_2) / (sqrt(n) - 1),
    1 for a one-hot vector, 0 for a constant one (Hoyer 2004, eq. 1). The zero vector counts as 1 (no entry is
    non-zero). n = 1 gives 1."""
    n = z.shape[-1]
    l1, l2 = z.abs().sum(-1), z.pow(2).sum(-1).sqrt()
    if n == 1:
        return torch.ones_like(l1)
    nonzero = l2 > 0
    ratio = torch.where(nonzero, l1 / torch.where(nonzero, l2, torch.ones_like(l2)), torch.ones_like(l1))
    return (math.sqrt(n) - ratio) / (math.sqrt(n) - 1.0)


def near_zero_fraction(z: Tensor, threshold: float = 0.0) -> Tensor:
    """The fraction of entries with |z_i| <= threshold over the last dimension: (1/n) sum_i 1[|z_i| <= t]
    (the l0^epsilon count of Hurley & Rickard 2009, sec. II, as a fraction; t = 0 counts exact zeros)."""
    return (z.abs() <= threshold).to(z.dtype if z.is_floating_point() else torch.float32).mean(-1)
