"""Manifold learning and intrinsic dimension, on data or on latent codes.

Embeddings (scikit-learn): PCA, t-SNE (van der Maaten & Hinton 2008), Isomap (Tenenbaum et al. 2000) and LLE
(Roweis & Saul 2000) of points (N, D) or images (N, C, H, W) flattened to (N, C*H*W), optionally on a seeded
subsample; `plot_embeddings` draws one panel per method, coloured by label, into one PNG.

Intrinsic dimension, from the distances T_1 <= T_2 <= ... of each point to its nearest neighbours:
- `levina_bickel`: the maximum-likelihood estimator of Levina & Bickel (2005), with the points' estimates combined
  by averaging their inverses (MacKay & Ghahramani 2005), then averaged over k = k1..k2;
- `two_nn`: TwoNN (Facco, d'Errico, Rodriguez & Laio 2017), from mu = T_2 / T_1 alone;
- `pca_dimension`: the number of principal components that explain a given fraction of the variance (a linear
  dimension: it sees a curved 2-D sheet as 3-D).
Duplicate points (T_1 = 0, which would make log(T_k / T_1) infinite) are dropped explicitly before the
neighbour search, so each distinct point counts once.
"""

from __future__ import annotations

import inspect
import io
import os
from dataclasses import dataclass

import numpy as np

from genzoo.errors import ConfigError, DataError, unknown_name

EMBEDDINGS = ("pca", "tsne", "isomap", "lle")
ESTIMATORS = ("levina_bickel", "two_nn", "pca")


@dataclass(frozen=True)
class Embedding:
    """An embedding of the rows `index` of the input: `coords` (len(index), n_components); for PCA also the
    explained-variance ratio of each kept component."""

    method: str
    coords: np.ndarray
    index: np.ndarray
    explained_variance_ratio: np.ndarray | None = None


def as_points(x, name: str = "x") -> np.ndarray:
    """x (N, ...) as float64 points (N, D): images (N, C, H, W) are flattened; a torch tensor is detached.
    DataError on fewer than 2 dimensions, no rows, or NaN / inf."""
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    try:
        a = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as e:
        raise DataError(f"{name}: expected a numeric array (N, D) or images (N, C, H, W), got {type(x).__name__} "
                        f"({e})") from None
    if a.ndim < 2 or a.shape[0] == 0:
        raise DataError(f"{name}: expected points (N, D) or images (N, C, H, W) with N >= 1, got shape {a.shape}")
    a = a.reshape(a.shape[0], -1)
    if not np.isfinite(a).all():
        raise DataError(f"{name}: {int((~np.isfinite(a)).any(1).sum())} of {a.shape[0]} rows contain NaN or inf")
    return a


def subsample_index(n_total: int, n: int | None, seed: int = 0) -> np.ndarray:
    """Sorted indices of a uniform subsample of `n` of `n_total` rows without replacement (all rows when n is
    None or >= n_total), drawn by numpy's default_rng(seed)."""
    if n is None or n >= n_total:
        return np.arange(n_total)
    if n < 1:
        raise ConfigError(f"subsample must be >= 1, got {n}")
    return np.sort(np.random.default_rng(seed).choice(n_total, size=n, replace=False))


# ---------------------------------------------------------------------------------------------------- embeddings

def embed(x, method: str = "pca", n_components: int = 2, seed: int = 0, subsample: int | None = None,
          n_neighbors: int = 10, **kwargs) -> Embedding:
    """Embed the rows of x (N, D) or images (N, C, H, W) in `n_components` dimensions with scikit-learn.

    method: "pca" (sklearn.decomposition.PCA; coords = (x - mean) V_m, V_m the top right-singular vectors),
    "tsne" (sklearn.manifold.TSNE, PCA initialisation, perplexity min(30, (n - 1) / 3)), "isomap"
    (sklearn.manifold.Isomap: classical MDS of graph-geodesic distances, Tenenbaum et al. 2000) or "lle"
    (sklearn.manifold.LocallyLinearEmbedding, Roweis & Saul 2000); the two graph methods use `n_neighbors`.
    `subsample` rows are drawn with `seed` (`Embedding.index` says which); `seed` also seeds t-SNE / LLE.
    Extra keyword arguments go to the scikit-learn estimator.
    """
    if method not in EMBEDDINGS:
        raise unknown_name("embedding method", method, EMBEDDINGS)
    pts = as_points(x)
    index = subsample_index(pts.shape[0], subsample, seed)
    pts = pts[index]
    n, dim = pts.shape
    if not 1 <= n_components <= min(n - 1, dim):
        raise ConfigError(f"{method}: n_components must be in [1, min(N - 1, D)] = [1, {min(n - 1, dim)}], "
                          f"got {n_components}")
    if method in ("isomap", "lle") and not 1 <= n_neighbors < n:
        raise ConfigError(f"{method}: n_neighbors must be in [1, N - 1] = [1, {n - 1}], got {n_neighbors}")
    ratio = None
    if method == "pca":
        from sklearn.decomposition import PCA

        est = PCA(n_components=n_components, svd_solver="full", **kwargs)
        coords = est.fit_transform(pts)
        ratio = est.explained_variance_ratio_
    elif method == "tsne":
        from sklearn.manifold import TSNE

        kwargs.setdefault("perplexity", min(30.0, (n - 1) / 3))
        kwargs.setdefault("init", "pca")
        coords = TSNE(n_components=n_components, random_state=seed, **kwargs).fit_transform(pts)
    elif method == "isomap":
        from sklearn.manifold import Isomap

        coords = Isomap(n_neighbors=n_neighbors, n_components=n_components, **kwargs).fit_transform(pts)
    else:
        from sklearn.manifold import LocallyLinearEmbedding

        coords = LocallyLinearEmbedding(n_neighbors=n_neighbors, n_components=n_components, random_state=seed,
                                        **kwargs).fit_transform(pts)
    return Embedding(method, np.asarray(coords, dtype=np.float64), index, ratio)


def _categorical(labels: np.ndarray, values: np.ndarray) -> bool:
    """Labels drawn with a legend: at most 20 distinct values, each an integer (or a string)."""
    if len(values) > 20:
        return False
    if labels.dtype.kind in "iubUSO":
        return True
    return labels.dtype.kind == "f" and bool(np.all(np.mod(values, 1) == 0))


def _label_text(v) -> str:
    return str(int(v)) if isinstance(v, (float, np.floating)) and float(v).is_integer() else str(v)


_TITLES = {"pca": "PCA", "tsne": "t-SNE", "isomap": "Isomap", "lle": "LLE"}


def plot_embeddings(x, labels, path: str | os.PathLike, methods=EMBEDDINGS, subsample: int | None = 2000,
                    seed: int = 0, title: str | None = None, n_neighbors: int = 10,
                    label_name: str = "label") -> dict[str, Embedding]:
    """Write one PNG with a 2-D embedding per method (one panel each, the same seeded subsample of rows),
    coloured by `labels` (N,): a legend for integer labels with at most 20 values, a colour bar otherwise, one
    colour when labels is None; `label_name` titles the legend / colour bar. Written atomically
    (genzoo.io.atomic_write_bytes). Returns the embeddings."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    from genzoo.io import atomic_write_bytes

    methods = tuple(methods)
    if not methods:
        raise ConfigError("plot_embeddings: methods is empty; choose from " + ", ".join(EMBEDDINGS))
    for m in methods:
        if m not in EMBEDDINGS:
            raise unknown_name("embedding method", m, EMBEDDINGS)
    pts = as_points(x)
    lab = None
    if labels is not None:
        lab = np.asarray(labels.detach().cpu() if hasattr(labels, "detach") else labels).reshape(-1)
        if lab.shape[0] != pts.shape[0]:
            raise DataError(f"labels: {lab.shape[0]} labels for {pts.shape[0]} points")
    index = subsample_index(pts.shape[0], subsample, seed)
    pts, lab = pts[index], (None if lab is None else lab[index])
    embs = {m: embed(pts, m, 2, seed=seed, n_neighbors=n_neighbors) for m in methods}
    embs = {m: Embedding(e.method, e.coords, index, e.explained_variance_ratio) for m, e in embs.items()}

    values = None if lab is None else np.unique(lab)
    discrete = values is not None and _categorical(lab, values)
    if lab is not None and not discrete and lab.dtype.kind not in "iuf":  # many names: colour by their rank
        lab = np.unique(lab, return_inverse=True)[1]
    fig, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods) + (1.2 if lab is not None else 0), 4.2),
                             squeeze=False)
    cmap = plt.get_cmap("tab10" if discrete and len(values) <= 10 else "tab20")
    sc = None
    for ax, m in zip(axes[0], methods):
        c = embs[m].coords
        if lab is None:
            ax.scatter(c[:, 0], c[:, 1], s=4, alpha=0.7)
        elif discrete:
            for i, v in enumerate(values):
                sel = lab == v
                ax.scatter(c[sel, 0], c[sel, 1], s=4, alpha=0.7, color=cmap(i % cmap.N), label=_label_text(v))
        else:
            sc = ax.scatter(c[:, 0], c[:, 1], s=4, alpha=0.7, c=lab, cmap="viridis")
        name = _TITLES[m]
        if m == "pca":
            name += f" ({100 * embs[m].explained_variance_ratio.sum():.0f}% of variance)"
        ax.set_title(name)
        ax.set_xticks([])
        ax.set_yticks([])
    if discrete:
        axes[0, -1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), markerscale=3, frameon=False,
                           title=label_name)
    elif sc is not None:
        fig.colorbar(sc, ax=axes[0].tolist(), shrink=0.85, label=label_name)
    fig.suptitle(title or f"{len(index)} points, {pts.shape[1]} dimensions")
    if sc is None:
        fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return embs


# ------------------------------------------------------------------------------------------ intrinsic dimension

def pca_dimension(x, threshold: float = 0.95) -> int:
    """The smallest m with sum_{i<=m} lambda_i / sum_i lambda_i >= threshold, lambda_i the eigenvalues of the
    sample covariance (PCA's explained variance; Jolliffe 2002, sec. 6.1). A linear count: data on a 3-D
    subspace give 3, a curved 2-D surface gives more than 2."""
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"threshold must be in (0, 1], got {threshold}")
    pts = as_points(x)
    if pts.shape[0] < 2:
        raise DataError(f"pca_dimension needs at least 2 points, got {pts.shape[0]}")
    s = np.linalg.svd(pts - pts.mean(0), compute_uv=False)
    var = s**2
    if var.sum() <= 0:
        raise DataError("pca_dimension: all points are equal (zero variance)")
    cum = np.cumsum(var) / var.sum()
    return int(np.searchsorted(cum, threshold - 1e-12) + 1)


def _distinct(x, metric: str) -> np.ndarray:
    """The input with duplicate points removed (the first copy kept): rows of a feature array, or rows and columns
    of a square distance matrix (metric "precomputed") whose off-diagonal entry is 0."""
    if metric == "precomputed":
        d = np.asarray(x.detach().cpu() if hasattr(x, "detach") else x, dtype=np.float64)
        if d.ndim != 2 or d.shape[0] != d.shape[1]:
            raise DataError(f"metric 'precomputed' needs a square distance matrix, got shape {d.shape}")
        if not np.isfinite(d).all() or (d < 0).any():
            raise DataError("metric 'precomputed': distances must be finite and >= 0")
        dup = np.triu(d == 0, 1).any(0)  # j equals some i < j
        keep = ~dup
        return d[np.ix_(keep, keep)]
    pts = as_points(x)
    _, first = np.unique(pts, axis=0, return_index=True)
    return pts[np.sort(first)]


def neighbour_distances(x, k: int, metric: str = "euclidean") -> np.ndarray:
    """(n, k): the distances T_1 <= ... <= T_k from each distinct point to its k nearest other points
    (sklearn.neighbors.NearestNeighbors; `metric` as there, "precomputed" for a square distance matrix).
    Duplicate points are removed first, so T_1 > 0; a DataError if k >= the number of distinct points."""
    pts = _distinct(x, metric)
    n = pts.shape[0]
    if k >= n:
        raise DataError(f"k = {k} nearest neighbours need at least {k + 1} distinct points, got {n}")
    from sklearn.neighbors import NearestNeighbors

    dist, _ = NearestNeighbors(n_neighbors=k, metric=metric).fit(pts).kneighbors()  # self excluded
    if (dist[:, 0] <= 0).any():
        raise DataError(f"{int((dist[:, 0] <= 0).sum())} distinct points are at distance 0 from another under "
                        f"metric {metric!r}; drop them or choose a metric that separates them")
    return dist


def levina_bickel(x, k1: int = 10, k2: int = 20, metric: str = "euclidean", average: str = "inverse") -> float:
    """Maximum-likelihood intrinsic dimension (Levina & Bickel 2005, eq. 8) averaged over k = k1..k2.

    For point x_i with neighbour distances T_1 <= ... <= T_k (a Poisson process of dimension m in a small ball):
        m_k(x_i) = [ 1/(k-1) sum_{j=1}^{k-1} log(T_k(x_i) / T_j(x_i)) ]^{-1}.
    average="inverse" (the default; MacKay & Ghahramani 2005): m_k = [ (1/n) sum_i m_k(x_i)^{-1} ]^{-1}. The inner
    bracket is a mean of k-1 Exp(m) variables, so its inverse is unbiased for 1/m, while averaging m_k(x_i)
    itself (average="mean", the paper's m_k = (1/n) sum_i m_k(x_i)) is biased up by (k-1)/(k-2).
    Returns (1 / (k2 - k1 + 1)) sum_{k=k1}^{k2} m_k. Duplicate points are dropped first (see
    `neighbour_distances`). (Some implementations, e.g. the code of Pope et al. 2021, divide by k-2 and then
    average inverses: their figure is this one times (k-2)/(k-1).)
    """
    _check_ks(k1, k2)
    if average not in ("inverse", "mean"):
        raise unknown_name("average", average, ("inverse", "mean"))
    return levina_bickel_from_distances(neighbour_distances(x, k2, metric), k1, k2, average)


def _check_ks(k1: int, k2: int) -> None:
    if not 2 <= k1 <= k2:
        raise ConfigError(f"levina_bickel needs 2 <= k1 <= k2, got k1 = {k1}, k2 = {k2}")


def levina_bickel_from_distances(t, k1: int = 10, k2: int = 20, average: str = "inverse") -> float:
    """`levina_bickel` from neighbour distances t (n, >= k2), sorted along each row and all > 0 (e.g. from
    `neighbour_distances`, or from any exact k-nearest-neighbour search)."""
    _check_ks(k1, k2)
    if average not in ("inverse", "mean"):
        raise unknown_name("average", average, ("inverse", "mean"))
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 2 or t.shape[1] < k2 or not (t > 0).all() or (np.diff(t, axis=1) < 0).any():
        raise DataError(f"neighbour distances must be (n, >= {k2}), positive and sorted along rows; got {t.shape}")
    logt = np.log(t)
    est = []
    for k in range(k1, k2 + 1):
        inv = (logt[:, k - 1 : k] - logt[:, : k - 1]).sum(1) / (k - 1)  # m_k(x_i)^{-1}
        if average == "inverse":
            est.append(1.0 / inv.mean())
        else:
            with np.errstate(divide="ignore"):
                est.append(float(np.mean(1.0 / inv)))
    return float(np.mean(est))


def two_nn(x, discard: float = 0.1, metric: str = "euclidean") -> float:
    """TwoNN intrinsic dimension (Facco, d'Errico, Rodriguez & Laio 2017, Sci. Rep. 7:12140).

    mu_i = T_2(x_i) / T_1(x_i) follows the Pareto law F(mu) = 1 - mu^{-d} (density locally constant up to the
    second neighbour), so -log(1 - F(mu)) = d log mu. With the mu_i sorted ascending and the empirical
    F(mu_(i)) = i / N, the fraction `discard` of the largest mu (the outliers) is left out (the largest always is:
    its F = 1), and d is the least-squares slope through the origin:
        d = sum_i x_i y_i / sum_i x_i^2,   x_i = log mu_(i),   y_i = -log(1 - i / N).
    Duplicate points (T_1 = 0, mu infinite) are dropped first (see `neighbour_distances`).
    """
    if not 0.0 <= discard < 1.0:
        raise ConfigError(f"discard must be in [0, 1), got {discard}")
    return two_nn_from_distances(neighbour_distances(x, 2, metric), discard)


def two_nn_from_distances(t, discard: float = 0.1) -> float:
    """`two_nn` from neighbour distances t (n, >= 2), sorted along each row and all > 0."""
    if not 0.0 <= discard < 1.0:
        raise ConfigError(f"discard must be in [0, 1), got {discard}")
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 2 or t.shape[1] < 2 or not (t[:, :2] > 0).all() or (t[:, 1] < t[:, 0]).any():
        raise DataError(f"neighbour distances must be (n, >= 2), positive and sorted along rows; got {t.shape}")
    mu = np.sort(t[:, 1] / t[:, 0])
    n = mu.shape[0]
    keep = min(int(np.floor(n * (1.0 - discard))), n - 1)
    if keep < 2:
        raise DataError(f"two_nn: {n} distinct points leave {keep} after discarding {discard:.0%}; need >= 2")
    lx = np.log(mu[:keep])
    ly = -np.log1p(-np.arange(1, keep + 1) / n)
    if lx @ lx <= 0:
        raise DataError("two_nn: every point has its two nearest neighbours at the same distance (mu = 1)")
    return float(lx @ ly / (lx @ lx))


_ESTIMATOR_FNS = {"levina_bickel": levina_bickel, "two_nn": two_nn, "pca": pca_dimension}


def intrinsic_dimension(x, method: str = "levina_bickel", **kwargs) -> float:
    """The intrinsic dimension of x by `method`: "levina_bickel" (k1, k2, metric, average), "two_nn" (discard,
    metric) or "pca" (threshold; `pca_dimension`)."""
    if method not in _ESTIMATOR_FNS:
        raise unknown_name("intrinsic-dimension method", method, ESTIMATORS)
    fn = _ESTIMATOR_FNS[method]
    valid = [p for p in inspect.signature(fn).parameters if p != "x"]
    for key in kwargs:
        if key not in valid:
            from genzoo.errors import suggest

            raise ConfigError(f"{method}: unknown option {key!r}.{suggest(key, valid)} Valid options: "
                              f"{', '.join(valid)}")
    return float(fn(x, **kwargs))
