"""The 2-D Ising model: L x L square lattice, periodic boundaries, J = 1, k_B = 1 (Onsager 1944).

    E(s) = - sum_<ij> s_i s_j,   s_i in {-1, +1},   p(s) = exp(-E(s) / T) / Z(T),   N = L^2 spins

<ij> runs over the 2N nearest-neighbour bonds of the torus (each site's right and lower neighbour). Observables
per spin: e = E / N, m = M / N with M = sum_i s_i, and

    C   = (<E^2> - <E>^2) / (N T^2)            specific heat per spin
    chi = N (<m^2> - <|m|>^2) / T               susceptibility per spin (from |m|: <m> = 0 on a finite lattice)

The infinite lattice orders below T_c = 2 / ln(1 + sqrt 2) = 2.269 (Kramers and Wannier 1941). Onsager's energy per
spin (Onsager 1944; Huang, "Statistical Mechanics", 2nd ed., eq. 15.136-15.137), with beta = 1 / T,
k = 2 sinh(2 beta) / cosh^2(2 beta) and K the complete elliptic integral of the first kind:

    u(T) = - coth(2 beta) [1 + (2 / pi) (2 tanh^2(2 beta) - 1) K(k)]        (-sqrt 2 at T_c)

and the spontaneous magnetisation (Yang 1952) m(T) = (1 - sinh(2 beta)^-4)^(1/8) below T_c, 0 above.

Samplers (all vectorised over independent chains, seeded through numpy's Generator):
- `metropolis`: single-spin flips on the two checkerboard sublattices in turn (the sites of one colour have no
  neighbour of that colour, so they update at once); a flip changing the energy by dE is accepted with probability
  min(1, exp(-dE / T)) (Metropolis et al. 1953), or 1 / (1 + exp(dE / T)) (Glauber 1963, `rule="glauber"`).
- `swendsen_wang`: bonds between equal neighbours are kept with probability p = 1 - exp(-2 / T); every cluster
  of the kept bonds flips with probability 1/2 (Swendsen and Wang 1987).
- `wolff`: one cluster grown from a random site over equal neighbours, each bond added with the same p, and
  flipped (Wolff 1989). Both cluster moves satisfy detailed balance and decorrelate near T_c, where single-spin
  flips slow down (critical slowing down: dynamic exponent z ~ 2.2 against z < 0.3 for clusters).
Each returns `n` configurations (n, L, L) int8 in chain-major order: chain 0's samples in time order, then chain 1's,
..., after `burn_in` discarded updates and keeping every `thin`-th update, so `observables` can bin the series.

Small lattices are exact: `exact_observables(L, T)` sums over all 2^(L^2) states (65,536 for L = 4).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import lru_cache
from typing import NamedTuple

import numpy as np

from genzoo.physics.timeseries import DEFAULT_BINS, binning_error, jackknife

T_C = 2.0 / math.log(1.0 + math.sqrt(2.0))  # 2.269185...
EXACT_MAX_L = 4
Rule = Callable[[np.ndarray, float], np.ndarray]  # (dE, T) -> acceptance probability


class Measurement(NamedTuple):
    value: float
    error: float


# ---- configurations -----------------------------------------------------------------------------------------
def _spins(spins) -> np.ndarray:
    """numpy or torch spins in {-1, +1} of shape (..., L, L) -> an int64 numpy array."""
    if hasattr(spins, "detach"):  # a torch tensor
        spins = spins.detach().cpu().numpy()
    s = np.asarray(spins)
    if s.ndim < 2 or s.shape[-1] != s.shape[-2]:
        raise ValueError(f"spins must have shape (..., L, L), got {s.shape}")
    s = s.astype(np.int64)
    if s.size and not np.all(np.abs(s) == 1):
        raise ValueError("spins must be -1 or +1 (map {0, 1} images with spins_from_image)")
    return s


def energy(spins) -> np.ndarray:
    """E = -sum over the 2N bonds of s_i s_j, per configuration: (..., L, L) -> (...,) int64 (periodic lattice)."""
    s = _spins(spins)
    return -(s * (np.roll(s, -1, axis=-1) + np.roll(s, -1, axis=-2))).sum(axis=(-2, -1))


def magnetization(spins) -> np.ndarray:
    """M = sum_i s_i, per configuration: (..., L, L) -> (...,) int64."""
    return _spins(spins).sum(axis=(-2, -1))


def spins_from_image(x) -> np.ndarray:
    """Images in {0, 1} of shape (n, 1, L, L) or (n, L, L) (numpy or torch) -> spins 2 x - 1 (n, L, L) int8."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    x = np.asarray(x)
    if x.ndim == 4:
        if x.shape[1] != 1:
            raise ValueError(f"Ising images have one channel, got shape {x.shape}")
        x = x[:, 0]
    if x.size and not np.all((x == 0) | (x == 1)):
        raise ValueError("Ising images must hold 0 or 1 (spin -1 or +1)")
    return (2 * x.astype(np.int8) - 1).astype(np.int8)


def image_from_spins(spins) -> np.ndarray:
    """Spins (n, L, L) in {-1, +1} -> float32 images (n, 1, L, L) in {0, 1}: 0 -> -1, 1 -> +1."""
    return ((_spins(spins)[:, None] + 1) // 2).astype(np.float32)


# ---- exact results ------------------------------------------------------------------------------------------
@lru_cache(maxsize=4)
def density_of_states(L: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(E, |M|, count) over all 2^(L^2) states of the L x L torus, L <= 4: the distinct (energy, |magnetisation|)
    pairs and how many states have each."""
    if not 2 <= L <= EXACT_MAX_L:
        raise ValueError(f"exact enumeration needs 2 <= L <= {EXACT_MAX_L} (2^(L^2) states), got L={L}")
    n = L * L
    states = np.arange(2**n, dtype=np.int64)
    s = (2 * ((states[:, None] >> np.arange(n)) & 1) - 1).astype(np.int8).reshape(-1, L, L)
    pairs, counts = np.unique(np.stack([energy(s), np.abs(magnetization(s))], axis=1), axis=0, return_counts=True)
    return pairs[:, 0], pairs[:, 1], counts


def boltzmann_weights(E: np.ndarray, T: float) -> np.ndarray:
    """exp(-E / T) normalised over the given energies (shifted by min E so nothing overflows)."""
    w = np.exp(-(E - E.min()) / T)
    return w / w.sum()


def exact_observables(L: int, T: float) -> dict[str, Measurement]:
    """Energy per spin, <|m|>, C and chi of the L x L lattice at temperature T, exact by enumeration (error 0)."""
    E, M, g = density_of_states(L)
    n = L * L
    p = g * boltzmann_weights(E, T)
    p /= p.sum()
    mean = lambda f: float(np.sum(p * f))
    e1, e2 = mean(E), mean(E.astype(np.float64) ** 2)
    m1, m2 = mean(M / n), mean((M / n) ** 2)
    return {"energy": Measurement(e1 / n, 0.0), "magnetization": Measurement(m1, 0.0),
            "specific_heat": Measurement((e2 - e1**2) / (n * T**2), 0.0),
            "susceptibility": Measurement(n * (m2 - m1**2) / T, 0.0)}


def onsager_energy(T):
    """Onsager's exact energy per spin of the infinite lattice, -coth(2b) [1 + (2/pi) (2 tanh^2(2b) - 1) K(k)],
    b = 1/T, k = 2 sinh(2b) / cosh^2(2b) (scipy's ellipk takes m = k^2). -sqrt 2 at T_c, -> -2 as T -> 0."""
    from scipy.special import ellipk

    b = 1.0 / np.asarray(T, dtype=np.float64)
    m = np.minimum((2.0 * np.sinh(2 * b) / np.cosh(2 * b) ** 2) ** 2, np.nextafter(1.0, 0.0))  # K(1) = inf at T_c
    u = -1.0 / np.tanh(2 * b) * (1.0 + 2.0 / np.pi * (2.0 * np.tanh(2 * b) ** 2 - 1.0) * ellipk(m))
    return float(u) if u.ndim == 0 else u


def onsager_magnetization(T):
    """Yang's spontaneous magnetisation per spin, (1 - sinh(2/T)^-4)^(1/8) for T < T_c, 0 for T >= T_c."""
    t = np.asarray(T, dtype=np.float64)
    with np.errstate(divide="ignore"):
        m = np.where(t < T_C, np.clip(1.0 - np.sinh(2.0 / t) ** -4.0, 0.0, None) ** 0.125, 0.0)
    return float(m) if m.ndim == 0 else m


# ---- observables of samples ---------------------------------------------------------------------------------
def observables(spins, T: float, n_bins: int = DEFAULT_BINS) -> dict[str, Measurement]:
    """Energy per spin, <|m|>, C and chi of sampled configurations (n, L, L) at temperature T, each with an error:
    binning for the two means, the jackknife over the same bins for C and chi. The samples are a time series
    (chains end to end, as the samplers return them); for independent samples any order is fine."""
    s = _spins(spins)
    if s.ndim != 3:
        raise ValueError(f"observables need configurations (n, L, L), got shape {s.shape}")
    n = s.shape[-1] ** 2
    E = energy(s).astype(np.float64)
    m = np.abs(magnetization(s)) / n
    c = lambda e: float(e.var() / (n * T**2))
    chi = lambda a: float(n * a.var() / T)
    return {"energy": Measurement(float(E.mean() / n), binning_error(E / n, n_bins)),
            "magnetization": Measurement(float(m.mean()), binning_error(m, n_bins)),
            "specific_heat": Measurement(*jackknife(c, E, n_bins=n_bins)),
            "susceptibility": Measurement(*jackknife(chi, m, n_bins=n_bins))}


# ---- samplers -----------------------------------------------------------------------------------------------
def _rng(seed) -> np.random.Generator:
    return seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)


def _start(L: int, chains: int, start, rng: np.random.Generator) -> np.ndarray:
    if isinstance(start, str):
        if start == "random":
            return (2 * rng.integers(0, 2, size=(chains, L, L)) - 1).astype(np.int8)
        if start == "up":
            return np.ones((chains, L, L), dtype=np.int8)
        raise ValueError(f'start must be "random", "up" or an array of spins, got {start!r}')
    s = np.array(_spins(start), dtype=np.int8)
    return np.broadcast_to(s, (chains, L, L)).copy()


def _run(update, L: int, T: float, n: int, chains: int, burn_in: int, thin: int, seed, start) -> np.ndarray:
    if L < 2 or n < 1 or chains < 1 or burn_in < 0 or thin < 1 or not T > 0:
        raise ValueError(f"need L >= 2, n >= 1, chains >= 1, burn_in >= 0, thin >= 1, T > 0; got L={L}, n={n}, "
                         f"chains={chains}, burn_in={burn_in}, thin={thin}, T={T}")
    rng = _rng(seed)
    s = _start(L, chains, start, rng)
    per_chain = -(-n // chains)
    for _ in range(burn_in):
        update(s, T, rng)
    kept = np.empty((per_chain, chains, L, L), dtype=np.int8)
    for k in range(per_chain):
        for _ in range(thin):
            update(s, T, rng)
        kept[k] = s
    return kept.transpose(1, 0, 2, 3).reshape(-1, L, L)[:n].copy()


def _neighbour_sum(s: np.ndarray) -> np.ndarray:
    return (np.roll(s, 1, -1) + np.roll(s, -1, -1) + np.roll(s, 1, -2) + np.roll(s, -1, -2)).astype(np.int64)


def metropolis_rule(dE: np.ndarray, T: float) -> np.ndarray:
    """min(1, exp(-dE / T))."""
    return np.exp(-np.maximum(dE, 0) / T)


def glauber_rule(dE: np.ndarray, T: float) -> np.ndarray:
    """1 / (1 + exp(dE / T)) (heat bath)."""
    return 0.5 * (1.0 - np.tanh(dE / (2.0 * T)))


RULES: dict[str, Rule] = {"metropolis": metropolis_rule, "glauber": glauber_rule}


def checkerboard_flip_probability(spins, T: float, colour: int, rule: str | Rule = "metropolis") -> np.ndarray:
    """Probability that each spin of sublattice `colour` ((i + j) % 2 == colour) flips in one half-sweep of
    `metropolis`: rule(dE, T) with dE = 2 s_i sum_neighbours s_j; 0 on the other sublattice. (..., L, L), L even."""
    s = _spins(spins)
    L = s.shape[-1]
    if L % 2:
        raise ValueError(f"the checkerboard update needs an even L, got {L}")
    rule = RULES[rule] if isinstance(rule, str) else rule
    on = (np.add.outer(np.arange(L), np.arange(L)) % 2) == colour
    return np.where(on, rule(2 * s * _neighbour_sum(s), T), 0.0)


def metropolis(L: int, T: float, n: int, *, chains: int = 16, burn_in: int = 100, thin: int = 1, seed=None,
               start="random", rule: str | Rule = "metropolis") -> np.ndarray:
    """`n` configurations by checkerboard single-spin updates; `thin` and `burn_in` count sweeps (both colours).
    `rule` "metropolis" min(1, e^{-dE/T}), "glauber" 1 / (1 + e^{dE/T}), or a callable (dE, T) -> probability."""
    if isinstance(rule, str) and rule not in RULES:
        raise ValueError(f"rule must be one of {', '.join(RULES)} or a callable, got {rule!r}")

    def sweep(s, T, rng):
        for colour in (0, 1):
            p = checkerboard_flip_probability(s, T, colour, rule)
            s[rng.random(s.shape) < p] *= -1

    return _run(sweep, L, T, n, chains, burn_in, thin, seed, start)


def bond_probability(T: float) -> float:
    """p = 1 - exp(-2 / T): the probability that a bond between two equal neighbours joins a cluster."""
    return -math.expm1(-2.0 / T)


def _swendsen_wang_update(s: np.ndarray, T: float, rng: np.random.Generator) -> None:
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    p = bond_probability(T)
    idx = np.arange(s.size).reshape(s.shape)
    rows, cols = [], []
    for axis in (-1, -2):
        bond = (s == np.roll(s, -1, axis)) & (rng.random(s.shape) < p)
        rows.append(idx[bond])
        cols.append(np.roll(idx, -1, axis)[bond])
    r, c = np.concatenate(rows), np.concatenate(cols)
    graph = coo_matrix((np.ones(r.size, dtype=np.int8), (r, c)), shape=(s.size, s.size))
    k, label = connected_components(graph, directed=False)
    flip = rng.random(k) < 0.5
    s[flip[label].reshape(s.shape)] *= -1


def swendsen_wang(L: int, T: float, n: int, *, chains: int = 16, burn_in: int = 100, thin: int = 1, seed=None,
                  start="random") -> np.ndarray:
    """`n` configurations by Swendsen-Wang cluster updates (each update visits every spin); the clusters of all
    chains are labelled at once (scipy's connected components on one sparse graph)."""
    return _run(_swendsen_wang_update, L, T, n, chains, burn_in, thin, seed, start)


def _wolff_update(s: np.ndarray, T: float, rng: np.random.Generator) -> None:
    """One Wolff cluster per chain, grown breadth-first in every chain at once: each bond from the newest sites
    (the frontier) to an equal spin outside the cluster is tried once, with probability p."""
    p = bond_probability(T)
    chains, L, _ = s.shape
    c, i, j = np.arange(chains), rng.integers(0, L, chains), rng.integers(0, L, chains)
    aligned = s == s[c, i, j][:, None, None]
    cluster = np.zeros(s.shape, dtype=bool)
    cluster[c, i, j] = True
    frontier = cluster.copy()
    while frontier.any():
        new = np.zeros_like(cluster)
        for shift, axis in ((1, -1), (-1, -1), (1, -2), (-1, -2)):
            new |= np.roll(frontier, shift, axis) & (rng.random(s.shape) < p)
        new &= aligned & ~cluster
        cluster |= new
        frontier = new
    s[cluster] *= -1


def wolff(L: int, T: float, n: int, *, chains: int = 16, burn_in: int = 100, thin: int = 1, seed=None,
          start="random") -> np.ndarray:
    """`n` configurations by Wolff single-cluster updates; `burn_in` and `thin` count cluster flips (a cluster
    holds <|C|> = N <m^2> spins on average above T_c, a few at high T: thin more there)."""
    return _run(_wolff_update, L, T, n, chains, burn_in, thin, seed, start)


SAMPLERS = {"swendsen-wang": swendsen_wang, "wolff": wolff, "metropolis": metropolis}
