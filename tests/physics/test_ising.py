"""The 2-D Ising model: energies by hand, exact enumeration on 4 x 4, the samplers against it (and wrong samplers
failing), detailed balance on 2 x 2, Onsager's solution against its free energy and large-lattice Monte Carlo, and
the "ising" data set (shape, values, seeding, caching, labels)."""

import itertools
import math

import numpy as np
import pytest
import torch

import genzoo.data as gd
from genzoo.data import ising as data_ising
from genzoo.errors import ConfigError
from genzoo.physics import (
    T_C,
    bond_probability,
    checkerboard_flip_probability,
    density_of_states,
    energy,
    exact_observables,
    image_from_spins,
    magnetization,
    metropolis,
    observables,
    onsager_energy,
    onsager_magnetization,
    spins_from_image,
    swendsen_wang,
    wolff,
)
from genzoo.physics import ising as ising_mod

TEMPERATURES = (1.8, T_C, 3.0)
KEYS = ("energy", "magnetization", "specific_heat", "susceptibility")


# ---- configurations ---------------------------------------------------------------------------------------
def test_energy_and_magnetisation_by_hand():
    up = np.ones((4, 4), dtype=np.int8)
    assert energy(up) == -32 and magnetization(up) == 16  # 2N bonds, all satisfied
    neel = np.fromfunction(lambda i, j: 1 - 2 * ((i + j) % 2), (4, 4)).astype(np.int8)
    assert energy(neel) == 32 and magnetization(neel) == 0
    one = up.copy()
    one[1, 2] = -1
    assert energy(one) == -32 + 8 and magnetization(one) == 14  # four broken bonds
    stripe = up.copy()
    stripe[:, 0] = -1  # a vertical stripe: two walls of 4 broken bonds each, wrapping around the torus
    assert energy(stripe) == -32 + 16
    batch = torch.from_numpy(np.stack([up, neel, one]))
    assert energy(batch).tolist() == [-32, 32, -24] and magnetization(batch).tolist() == [16, 0, 14]
    with pytest.raises(ValueError, match="-1 or \\+1"):
        energy(np.zeros((4, 4)))


def test_image_maps_round_trip():
    s = np.random.default_rng(0).choice(np.array([-1, 1], dtype=np.int8), size=(5, 6, 6))
    x = image_from_spins(s)
    assert x.shape == (5, 1, 6, 6) and x.dtype == np.float32 and set(np.unique(x)) <= {0.0, 1.0}
    assert np.array_equal(x[:, 0] == 1, s == 1)  # 1 -> +1, 0 -> -1
    assert np.array_equal(spins_from_image(torch.from_numpy(x)), s)
    with pytest.raises(ValueError, match="0 or 1"):
        spins_from_image(np.full((1, 1, 4, 4), 0.5))


# ---- exact results ----------------------------------------------------------------------------------------
def test_enumeration_of_the_4x4_lattice():
    E, M, g = density_of_states(4)
    assert g.sum() == 2**16
    assert g[E == -32].sum() == 2 and g[E == -24].sum() == 32  # ground states, one flipped spin
    assert g[E == -28].sum() == 0  # E changes in steps of 4 on the torus
    assert np.all(E % 4 == 0) and np.all(M % 2 == 0)
    assert (g * E).sum() == 0  # symmetric about E = 0 (the bipartite lattice's sublattice flip maps E -> -E)
    cold, hot = exact_observables(4, 0.2), exact_observables(4, 1e6)
    assert cold["energy"].value == pytest.approx(-2.0, abs=1e-6) and cold["magnetization"].value > 0.999999
    assert hot["energy"].value == pytest.approx(-2 / 1e6, rel=1e-3)  # high-T series: u = -2 tanh(1/T) + ...


@pytest.mark.parametrize("T", [1.5, 2.269, 3.0])
def test_exact_specific_heat_is_the_derivative_of_the_energy(T):
    """C = d<e>/dT (fluctuation-dissipation) holds for the enumerated 4 x 4 lattice; C from dE/dT of a wrong
    energy (without the 1/T in the weights) would not."""
    h = 1e-5
    de = (exact_observables(4, T + h)["energy"].value - exact_observables(4, T - h)["energy"].value) / (2 * h)
    assert exact_observables(4, T)["specific_heat"].value == pytest.approx(de, rel=1e-6)


def _z(a, b):
    return abs(a.value - b.value) / math.hypot(a.error, b.error)


SAMPLERS = {
    "swendsen-wang": lambda T, seed: swendsen_wang(4, T, 8000, chains=40, burn_in=30, seed=seed),
    "wolff": lambda T, seed: wolff(4, T, 8000, chains=80, burn_in=30, thin=3, seed=seed),
    "metropolis": lambda T, seed: metropolis(4, T, 8000, chains=40, burn_in=50, seed=seed),
    "glauber": lambda T, seed: metropolis(4, T, 8000, chains=40, burn_in=50, seed=seed, rule="glauber"),
}


@pytest.mark.parametrize("T", TEMPERATURES)
@pytest.mark.parametrize("sampler", list(SAMPLERS))
def test_samplers_agree_with_exact_enumeration(sampler, T):
    est, exact = observables(SAMPLERS[sampler](T, 7), T), exact_observables(4, T)
    for k in KEYS:
        assert est[k].error > 0
        assert _z(est[k], exact[k]) < 4, (k, est[k], exact[k])


@pytest.mark.parametrize("T", [1.8, 3.0])
def test_wrong_acceptance_rules_fail_the_exact_check(T):
    """exp(-dE) without the 1/T samples T = 1; accepting every flip samples nothing at all."""
    exact = exact_observables(4, T)
    for wrong in (lambda dE, T: np.exp(-np.maximum(dE, 0)), lambda dE, T: np.ones_like(dE, dtype=float)):
        est = observables(metropolis(4, T, 8000, chains=40, burn_in=50, seed=7, rule=wrong), T)
        assert max(_z(est[k], exact[k]) for k in ("energy", "magnetization")) > 10


# ---- detailed balance on the 2 x 2 torus (16 states) --------------------------------------------------------
STATES = np.array(list(itertools.product((-1, 1), repeat=4)), dtype=np.int8).reshape(16, 2, 2)


def _boltzmann(T):
    w = np.exp(-energy(STATES) / T)
    return w / w.sum()


def _index(s):
    return (((s.reshape(len(s), 4) + 1) // 2) * (2 ** np.arange(3, -1, -1))).sum(axis=1)


def _half_sweep_matrix(T, colour, rule="metropolis"):
    """The exact transition matrix of one checkerboard half-sweep, from the sampler's own flip probabilities."""
    p = checkerboard_flip_probability(STATES, T, colour, rule).reshape(16, 4)
    differ = STATES.reshape(16, 1, 4) != STATES.reshape(1, 16, 4)
    return np.prod(np.where(differ, p[:, None, :], 1.0 - p[:, None, :]), axis=2)


@pytest.mark.parametrize("rule", ["metropolis", "glauber"])
def test_checkerboard_half_sweeps_satisfy_detailed_balance(rule):
    T = 2.0
    pi = _boltzmann(T)
    P0, P1 = _half_sweep_matrix(T, 0, rule), _half_sweep_matrix(T, 1, rule)
    for P in (P0, P1):
        assert P.sum(axis=1) == pytest.approx(np.ones(16))
        flow = pi[:, None] * P
        assert flow == pytest.approx(flow.T, abs=1e-15)  # pi_a P_ab = pi_b P_ba
    sweep = P0 @ P1
    assert pi @ sweep == pytest.approx(pi, abs=1e-15)
    reach = np.linalg.matrix_power(np.eye(16) + sweep, 15) > 0
    # Glauber's chain is irreducible; Metropolis flips every spin with dE <= 0 for sure, and on the 2 x 2 torus
    # (doubled bonds) that makes whole sets of states unreachable: pi is stationary but not the unique limit
    assert np.all(reach) == (rule == "glauber")
    assert np.all(np.diag(sweep) > 0) == (rule == "glauber")  # Glauber's is aperiodic too
    wrong = _half_sweep_matrix(T, 0, lambda dE, T: np.exp(-np.maximum(dE, 0)))  # no 1/T
    assert np.abs(pi[:, None] * wrong - (pi[:, None] * wrong).T).max() > 1e-3


def _pair_counts(update, T_update, T, n, seed):
    """n start states drawn exactly from the Boltzmann distribution at T, one update each at T_update: the counts
    N_ab of (start a, end b). Detailed balance pi_a P_ab = pi_b P_ba makes the expected N symmetric."""
    rng = np.random.default_rng(seed)
    a = rng.choice(16, size=n, p=_boltzmann(T))
    s = STATES[a].copy()
    update(s, T_update, rng)
    counts = np.zeros((16, 16))
    np.add.at(counts, (a, _index(s)), 1)
    return counts


def _asymmetry(counts):
    """max over pairs of |N_ab - N_ba| / sqrt(N_ab + N_ba): given N_ab + N_ba, N_ab ~ Binomial(., 1/2) under
    detailed balance."""
    total = counts + counts.T
    return np.max(np.abs(counts - counts.T)[total > 0] / np.sqrt(total[total > 0]))


@pytest.mark.parametrize("update", ["swendsen-wang", "wolff"])
def test_cluster_updates_satisfy_detailed_balance(update):
    """One update of 100,000 Boltzmann-distributed 2 x 2 states: the (start, end) counts are symmetric within
    binomial error, every state is reached, and updates at the wrong temperature (bond probability of 2T) are not
    symmetric."""
    fn = {"swendsen-wang": ising_mod._swendsen_wang_update, "wolff": ising_mod._wolff_update}[update]
    T, n = 2.0, 100_000
    counts = _pair_counts(fn, T, T, n, seed=0)
    assert _asymmetry(counts) < 4.5
    P = counts / counts.sum(axis=1, keepdims=True)
    assert np.all(np.linalg.matrix_power(np.eye(16) + P, 15) > 0)  # irreducible: every state reaches every state
    assert _asymmetry(_pair_counts(fn, 2 * T, T, n, seed=0)) > 8


def test_bond_probability():
    assert bond_probability(2.0) == pytest.approx(1 - math.exp(-1))
    assert bond_probability(1e-3) == pytest.approx(1.0) and bond_probability(1e6) == pytest.approx(2e-6)


# ---- Onsager ------------------------------------------------------------------------------------------------
def _minus_beta_f(beta):
    """Onsager's free energy, -beta f = ln 2 + 1/(2 pi^2) int_0^pi int_0^pi ln[cosh^2 2b - sinh 2b (cos t + cos u)]."""
    from scipy.integrate import dblquad

    c2, s2 = math.cosh(2 * beta) ** 2, math.sinh(2 * beta)
    val, _ = dblquad(lambda u, t: math.log(c2 - s2 * (math.cos(t) + math.cos(u))), 0, math.pi, 0, math.pi,
                     epsabs=1e-12, epsrel=1e-12)
    return math.log(2) + val / (2 * math.pi**2)


@pytest.mark.parametrize("T", [1.5, 2.0, 3.0, 4.0])
def test_onsager_energy_is_the_derivative_of_the_free_energy(T):
    """u = -d(-beta f)/d(beta), by a central difference of Onsager's double integral."""
    b, h = 1 / T, 1e-4
    u = -(_minus_beta_f(b + h) - _minus_beta_f(b - h)) / (2 * h)
    assert onsager_energy(T) == pytest.approx(u, abs=1e-6)
    if T != 2.0:  # the check can fail: a sign error in the elliptic term is far off (at T = 2 that term is ~0)
        from scipy.special import ellipk

        bb = 1 / T
        k2 = (2 * math.sinh(2 * bb) / math.cosh(2 * bb) ** 2) ** 2
        wrong = -1 / math.tanh(2 * bb) * (1 - 2 / math.pi * (2 * math.tanh(2 * bb) ** 2 - 1) * ellipk(k2))
        assert abs(wrong - u) > 1e-2


def test_onsager_limits_and_critical_point():
    assert T_C == pytest.approx(2.269185314213022, rel=1e-12)
    assert onsager_energy(T_C) == pytest.approx(-math.sqrt(2), abs=1e-9)
    assert onsager_energy(T_C * (1 + 1e-9)) == pytest.approx(-math.sqrt(2), abs=1e-6)  # continuous through T_c
    assert onsager_energy(0.3) == pytest.approx(-2.0, abs=1e-5)
    assert onsager_energy(1000.0) == pytest.approx(-2 * math.tanh(1e-3), rel=1e-3)
    assert np.allclose(onsager_energy(np.array([1.5, 3.0])), [onsager_energy(1.5), onsager_energy(3.0)])
    m = onsager_magnetization(np.array([0.5, 2.0, T_C, 3.0]))
    assert m[0] == pytest.approx(1.0, abs=1e-6) and m[2] == 0 and m[3] == 0
    assert m[1] == pytest.approx((1 - math.sinh(1.0) ** -4) ** 0.125)
    assert 0 < onsager_magnetization(T_C * (1 - 1e-12)) < 0.1  # m ~ (T_c - T)^(1/8) vanishes continuously


@pytest.mark.parametrize("T", [2.0, 3.0])
def test_large_lattice_approaches_onsager(T):
    """L = 32 by Swendsen-Wang: e within 4 standard errors + 0.002 of Onsager's e (away from T_c the finite-size
    correction is ~exp(-L / xi), xi < 3: negligible), and |m| at T = 2.0 within the same of Yang's m."""
    s = swendsen_wang(32, T, 1600, chains=16, burn_in=50, seed=3)
    est = observables(s, T)
    assert abs(est["energy"].value - onsager_energy(T)) < 4 * est["energy"].error + 0.002
    if T < T_C:
        assert abs(est["magnetization"].value - onsager_magnetization(T)) < 4 * est["magnetization"].error + 0.002
    other = 2.269 if T == 2.0 else 2.6  # the check can fail: Onsager's energy at another temperature is far off
    assert abs(est["energy"].value - onsager_energy(other)) > 10 * est["energy"].error


def test_samplers_are_seeded_and_check_arguments():
    a, b = wolff(4, 2.0, 50, seed=1), wolff(4, 2.0, 50, seed=1)
    assert np.array_equal(a, b) and a.shape == (50, 4, 4) and a.dtype == np.int8
    assert not np.array_equal(a, wolff(4, 2.0, 50, seed=2))
    up = swendsen_wang(8, 1.0, 3, chains=1, burn_in=0, start="up", seed=0)
    assert np.abs(magnetization(up)).min() > 40  # ordered at T = 1: a cold start stays ordered
    with pytest.raises(ValueError, match="even L"):
        metropolis(5, 2.0, 10)
    with pytest.raises(ValueError, match="thin >= 1"):
        swendsen_wang(4, 2.0, 10, thin=0)
    with pytest.raises(ValueError, match="rule"):
        metropolis(4, 2.0, 10, rule="glauberr")


# ---- the data set -----------------------------------------------------------------------------------------
@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    return tmp_path / "genzoo" / "ising"


def test_data_set_shape_values_and_physics(cache):
    ds = gd.get("ising", L=4, T=T_C, n=2000)
    assert ds.kind == "image" and ds.x.shape == (2000, 1, 4, 4) and ds.x.dtype == torch.float32 and ds.y is None
    assert set(ds.x.unique().tolist()) == {0.0, 1.0}
    assert ds.meta["n_bins"] == 2 and ds.meta["L"] == 4 and ds.meta["spins"] == "0 -> -1, 1 -> +1"
    est, exact = observables(spins_from_image(ds.x), T_C), exact_observables(4, T_C)
    for k in KEYS:  # the cached sampler's burn-in and thinning give equilibrium configurations
        assert _z(est[k], exact[k]) < 4, (k, est[k], exact[k])
    assert gd.get_info("ising").shape == (1, 16, 16) and "ising" in gd.names()


def test_data_set_seeding_and_cache(cache, monkeypatch):
    tr = gd.get("ising", L=6, T=2.5, n=300)
    files = list(cache.glob("*.safetensors"))
    assert len(files) == 1 and "L6" in files[0].name and "n300" in files[0].name
    monkeypatch.setattr(data_ising, "_generate", lambda *a: pytest.fail("regenerated a cached set"))
    assert torch.equal(gd.get("ising", L=6, T=2.5, n=300).x, tr.x)  # read back from the cache
    monkeypatch.undo()
    monkeypatch.setenv("XDG_CACHE_HOME", str(cache.parents[1]))
    files[0].write_bytes(b"not a safetensors file")
    assert torch.equal(gd.get("ising", L=6, T=2.5, n=300).x, tr.x)  # a corrupt file is regenerated, same seed
    assert not torch.equal(gd.get("ising", "test", L=6, T=2.5, n=300).x, tr.x)  # test: another stream
    assert not torch.equal(gd.get("ising", L=6, T=2.5, n=300, seed=1).x, tr.x)
    assert torch.equal(gd.get("ising", L=6, T=2.5, n=300, cache=False).x, tr.x)


def test_data_set_temperature_list_gives_labels(cache):
    ds = gd.get("ising", L=4, T=[1.8, 3.0], n=100)
    assert ds.x.shape == (200, 1, 4, 4) and ds.meta["num_classes"] == 2 and ds.meta["temperatures"] == [1.8, 3.0]
    assert ds.y.tolist() == [0] * 100 + [1] * 100
    assert torch.equal(ds.x[100:], gd.get("ising", L=4, T=3.0, n=100).x)  # each temperature is its own set
    e = energy(spins_from_image(ds.x)) / 16
    assert e[:100].mean() < e[100:].mean() - 0.5  # colder is more ordered


@pytest.mark.parametrize("bad", [{"L": 1}, {"T": -1.0}, {"T": []}, {"T": "hot"}, {"n": 0}, {"seed": 1.5},
                                 {"cache": "no"}, {"size": 4}])
def test_data_set_rejects_bad_options(bad, cache):
    with pytest.raises(ConfigError):
        gd.get("ising", **bad)


def test_default_cache_folder(monkeypatch, tmp_path):
    monkeypatch.delenv("XDG_CACHE_HOME", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert data_ising.cache_folder() == tmp_path / ".cache" / "genzoo" / "ising"
