"""Two-sample divergences between sample sets: MMD, 1-D and sliced Wasserstein, nearest-neighbour KL.

Samples are (n, ...) tensors; everything after the first dim is flattened into a feature vector.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor


def _flat(x: Tensor, name: str) -> Tensor:
    x = torch.as_tensor(x)
    if x.dim() == 1:
        x = x.unsqueeze(-1)
    if x.dim() < 2 or x.shape[0] < 2:
        raise ValueError(f"{name} must be (n, ...) with n >= 2 samples, got shape {tuple(x.shape)}")
    x = x.flatten(1)
    return x if x.is_floating_point() else x.double()


def _center(x: Tensor, y: Tensor) -> tuple[Tensor, Tensor]:
    """Both samples shifted by their pooled mean. Distances are unchanged, but the matrix-product form of
    torch.cdist (|a|^2 + |b|^2 - 2 a.b, used for large inputs) no longer cancels catastrophically when the data sit
    far from the origin (in float32 an offset of 100 already turns nearest-neighbour distances into noise)."""
    c = torch.cat([x, y]).mean(0, keepdim=True)
    return x - c, y - c


def median_bandwidth(x: Tensor, y: Tensor, max_points: int = 1000) -> Tensor:
    """Median heuristic: h = median_{i<j} |z_i - z_j|, the pairwise Euclidean distances within the pooled sample z,
    from at most `max_points` points of each set (Gretton et al. 2012, sec. 8)."""
    x, y = _flat(x, "x")[:max_points], _flat(y, "y")[:max_points]
    dtype = torch.promote_types(x.dtype, y.dtype)
    x, y = _center(x.to(dtype), y.to(dtype))
    z = torch.cat([x, y])
    d = torch.cdist(z, z)
    iu = torch.triu_indices(len(z), len(z), offset=1, device=z.device)
    return d[iu[0], iu[1]].median()


def mmd(x: Tensor, y: Tensor, kernel: str = "rbf", bandwidth: float | Tensor | None = None) -> Tensor:
    """Unbiased estimate of the squared maximum mean discrepancy (Gretton et al. 2012, eq. 3):

        MMD^2_u = 1/(m(m-1)) sum_{i!=j} k(x_i, x_j) + 1/(n(n-1)) sum_{i!=j} k(y_i, y_j) - 2/(mn) sum_{i,j} k(x_i, y_j)

    Kernels (h = `bandwidth`, by default the median pairwise distance of the pooled sample, treated as a constant:
    no gradient flows through the heuristic):
      "rbf":  k = exp(-|x - y|^2 / (2 h^2))
      "imq":  k = (1 + |x - y|^2 / h^2)^(-1/2)  (inverse multiquadric; Gorham & Mackey 2017)
      "poly": k = (x . y / d + 1)^3, d the feature dimension; KID's kernel (Binkowski et al. 2018), no bandwidth.
    Unbiased, so it can be slightly negative when both samples come from the same distribution.
    """
    x, y = _flat(x, "x"), _flat(y, "y")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same feature size, got {x.shape[1]} and {y.shape[1]}")
    dtype = torch.promote_types(x.dtype, y.dtype)
    x, y = x.to(dtype), y.to(dtype)
    if kernel == "poly":
        d = x.shape[1]

        def k(a: Tensor, b: Tensor) -> Tensor:
            return (a @ b.T / d + 1.0).pow(3)
    elif kernel in ("rbf", "imq"):
        x, y = _center(x, y)  # translation-invariant kernels: exact same value, better float32 distances
        if bandwidth is None:
            h = median_bandwidth(x.detach(), y.detach())
        else:
            h = torch.as_tensor(bandwidth, dtype=x.dtype, device=x.device)
        h2 = (h * h).clamp_min(torch.finfo(x.dtype).tiny)

        def k(a: Tensor, b: Tensor) -> Tensor:
            d2 = torch.cdist(a, b).pow(2)
            return torch.exp(-d2 / (2 * h2)) if kernel == "rbf" else torch.rsqrt(1.0 + d2 / h2)
    else:
        raise ValueError(f'unknown kernel "{kernel}"; valid kernels: imq, poly, rbf')
    m, n = len(x), len(y)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    sxx = (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
    syy = (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
    return sxx + syy - 2 * kxy.mean()


def wasserstein_1d(x: Tensor, y: Tensor, p: float = 1.0) -> Tensor:
    """p-Wasserstein distance between the empirical distributions of two 1-D samples along the last dim
    (sizes may differ; leading dims are a batch), through the quantile functions (Villani 2009, remark 2.19):

        W_p(mu, nu)^p = int_0^1 | F^{-1}(u) - G^{-1}(u) |^p du

    computed exactly on the merged grid of the two empirical CDFs' jump points. With p = 1 this is
    `scipy.stats.wasserstein_distance(x, y)`.
    """
    x, y = torch.as_tensor(x), torch.as_tensor(y)
    if x.shape[-1] < 1 or y.shape[-1] < 1:
        raise ValueError("x and y must each hold at least one sample")
    dtype = torch.promote_types(torch.promote_types(x.dtype, y.dtype), torch.float32)
    x, y = torch.sort(x.to(dtype), dim=-1).values, torch.sort(y.to(dtype), dim=-1).values
    n, m = x.shape[-1], y.shape[-1]
    if n == m:  # equal sizes: the quantile functions step together, W_p^p = 1/n sum_i |x_(i) - y_(i)|^p
        wp = (x - y).abs().pow(p).mean(-1)
        return wp if p == 1 else wp.pow(1.0 / p)
    dev = x.device
    u = torch.cat([torch.arange(1, n + 1, device=dev, dtype=torch.float64) / n,
                   torch.arange(1, m + 1, device=dev, dtype=torch.float64) / m]).sort().values
    du = torch.diff(u, prepend=u.new_zeros(1))
    mid = u - du / 2
    ix = (mid * n).floor().long().clamp_(0, n - 1)  # F^{-1}(u) = x_(ceil(u n)) for u in the interval's interior
    iy = (mid * m).floor().long().clamp_(0, m - 1)
    diff = (x[..., ix] - y[..., iy]).abs()
    wp = (diff.pow(p) * du.to(dtype)).sum(-1)
    return wp if p == 1 else wp.pow(1.0 / p)


def sliced_wasserstein(
    x: Tensor, y: Tensor, n_proj: int = 128, p: float = 2.0, generator: torch.Generator | None = None
) -> Tensor:
    """Sliced p-Wasserstein distance (Rabin et al. 2011; Bonneel et al. 2015; Kolouri et al. 2019):

        SW_p(mu, nu)^p = E_{theta ~ U(S^{d-1})} W_p^p(theta # mu, theta # nu)

    estimated with `n_proj` random directions; each 1-D distance is exact (`wasserstein_1d`). For
    N(0, I) versus N(delta, I) in d dims, SW_2 = |delta| / sqrt(d).
    """
    x, y = _flat(x, "x"), _flat(y, "y")
    dtype = torch.promote_types(x.dtype, y.dtype)
    x, y = x.to(dtype), y.to(dtype)
    theta = torch.randn(n_proj, x.shape[1], dtype=dtype, device=x.device, generator=generator)
    theta = theta / theta.norm(dim=1, keepdim=True)
    w = wasserstein_1d((x @ theta.T).T, (y @ theta.T).T, p=p)  # (n_proj,)
    return w.pow(p).mean().pow(1.0 / p)


def knn_kl(x: Tensor, y: Tensor, k: int = 1, chunk: int = 2048) -> Tensor:
    """k-nearest-neighbour estimate of KL(P || Q) from x ~ P (n points) and y ~ Q (m points) in d dims
    (Wang, Kulkarni & Verdu 2009, eq. 5):

        KL ~= d/n sum_i log( nu_k(i) / rho_k(i) ) + log( m / (n - 1) )

    rho_k(i): distance from x_i to its k-th nearest neighbour among the other x's; nu_k(i): to its k-th nearest
    y. Consistent as n, m -> infinity; needs continuous data: a point with k exact duplicates among the x's has
    rho = 0 and raises ValueError. Distances are computed exactly (no matrix-product shortcut) after centring,
    so float32 data far from the origin is safe.
    """
    x, y = _flat(x, "x"), _flat(y, "y")
    dtype = torch.promote_types(x.dtype, y.dtype)
    x, y = x.to(dtype), y.to(dtype)
    n, d = x.shape
    m = y.shape[0]
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x and y must have the same feature size, got {x.shape[1]} and {y.shape[1]}")
    if not 1 <= k < n or k > m:
        raise ValueError(f"k must satisfy 1 <= k < n and k <= m, got k={k}, n={n}, m={m}")
    x, y = _center(x, y)
    exact = "donot_use_mm_for_euclid_dist"
    log_rho, log_nu = [], []
    for s in range(0, n, chunk):
        xs = x[s:s + chunk]
        # exclude each point itself: its k-th neighbour among the others is the (k+1)-th smallest distance
        log_rho.append(torch.cdist(xs, x, compute_mode=exact).topk(k + 1, dim=1, largest=False).values[:, k].log())
        log_nu.append(torch.cdist(xs, y, compute_mode=exact).topk(k, dim=1, largest=False).values[:, k - 1].log())
    log_rho, log_nu = torch.cat(log_rho), torch.cat(log_nu)
    if torch.isinf(log_rho).any():
        raise ValueError(f"knn_kl: {int(torch.isinf(log_rho).sum())} point(s) of x have {k} or more exact duplicates "
                         f"(k-th neighbour distance 0); the estimator needs continuous data (raise k or add jitter)")
    if torch.isinf(log_nu).any():
        raise ValueError(f"knn_kl: {int(torch.isinf(log_nu).sum())} point(s) of x coincide with {k} or more points of "
                         f"y (distance 0); the estimator needs continuous data (raise k or add jitter)")
    return d * (log_nu - log_rho).mean() + math.log(m / (n - 1))
