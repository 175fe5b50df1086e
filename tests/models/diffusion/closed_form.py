"""Closed-form Gaussian-mixture data: for x_t | x_0 ~ N(m x_0, s^2 I) and x_0 ~ sum_j w_j N(mu_j, Sigma_j), the
marginal is sum_j w_j N(m mu_j, m^2 Sigma_j + s^2 I), so the true score and the optimal denoiser E[x_0 | x_t] are
known exactly. The tests plug them into every sampler and likelihood."""

from __future__ import annotations

import math

import torch
from torch import Tensor


class GaussianMixture:
    def __init__(self, mus, covs, weights=None):
        self.mus = torch.as_tensor(mus, dtype=torch.float64)
        self.covs = torch.as_tensor(covs, dtype=torch.float64)
        j = self.mus.shape[0]
        self.w = torch.full((j,), 1.0 / j, dtype=torch.float64) if weights is None else torch.as_tensor(
            weights, dtype=torch.float64)
        self.d = self.mus.shape[1]

    @property
    def mean(self) -> Tensor:
        return (self.w[:, None] * self.mus).sum(0)

    @property
    def cov(self) -> Tensor:
        mu = self.mean
        second = (self.w[:, None, None] * (self.covs + self.mus[:, :, None] * self.mus[:, None, :])).sum(0)
        return second - mu[:, None] * mu[None, :]

    def sample(self, n: int, generator=None) -> Tensor:
        idx = torch.multinomial(self.w, n, replacement=True, generator=generator)
        L = torch.linalg.cholesky(self.covs)
        z = torch.randn(n, self.d, dtype=torch.float64, generator=generator)
        return self.mus[idx] + (L[idx] @ z[:, :, None])[..., 0]

    def _parts(self, x: Tensor, m, s):
        """Per component j: log w_j N(x; m mu_j, C_j) and C_j^{-1} (x - m mu_j), C_j = m^2 Sigma_j + s^2 I.
        m, s: scalars or one value per row of x (a batch at one time shares C_j, computed once)."""
        x = x.to(torch.float64)
        n = x.shape[0]
        m = torch.as_tensor(m, dtype=torch.float64).reshape(-1)
        s = torch.as_tensor(s, dtype=torch.float64).reshape(-1)
        if bool((m == m[0]).all() and (s == s[0]).all()):
            m, s = m[:1], s[:1]  # one C_j for the whole batch
        eye = torch.eye(self.d, dtype=torch.float64)
        C = m[:, None, None, None] ** 2 * self.covs[None] + s[:, None, None, None] ** 2 * eye  # (1 or N, J, d, d)
        diff = x[:, None, :] - m.expand(n)[:, None, None] * self.mus[None]  # (N, J, d)
        Cinv = torch.linalg.inv(C)
        sol = (Cinv * diff[:, :, None, :]).sum(-1)  # (N, J, d)
        logdet = torch.logdet(C)
        logp = torch.log(self.w)[None] - 0.5 * (self.d * math.log(2 * math.pi) + logdet + (diff * sol).sum(-1))
        return logp, sol

    def log_prob(self, x: Tensor, m=1.0, s=0.0) -> Tensor:
        logp, _ = self._parts(x, m, s)
        return torch.logsumexp(logp, dim=1)

    def score(self, x: Tensor, m=1.0, s=0.0) -> Tensor:
        logp, sol = self._parts(x, m, s)
        r = torch.softmax(logp, dim=1)
        return -(r[..., None] * sol).sum(1).to(x.dtype)

    def denoiser(self, x: Tensor, m, s) -> Tensor:
        """E[x_0 | x_t] (Tweedie): (x + s^2 score) / m."""
        m64 = torch.as_tensor(m, dtype=torch.float64).reshape(-1, 1)
        s64 = torch.as_tensor(s, dtype=torch.float64).reshape(-1, 1)
        return ((x.to(torch.float64) + s64**2 * self.score(x, m, s).to(torch.float64)) / m64).to(x.dtype)


def gaussian(mu=(1.0, -0.5), cov=((0.6, 0.25), (0.25, 0.4))) -> GaussianMixture:
    return GaussianMixture([list(mu)], [list(map(list, cov))])


def moment_errors(x: Tensor, data: GaussianMixture) -> tuple[float, float]:
    """Max |mean error| and max |cov error|, each in units of its Monte Carlo standard error (normal theory)."""
    n = x.shape[0]
    mu, S = data.mean, data.cov
    x = x.to(torch.float64)
    mean_z = ((x.mean(0) - mu) / torch.sqrt(torch.diag(S) / n)).abs().max()
    C = torch.cov(x.T)
    se = torch.sqrt((torch.diag(S)[:, None] * torch.diag(S)[None, :] + S**2) / n)
    cov_z = ((C - S) / se).abs().max()
    return float(mean_z), float(cov_z)
