"""RBM math checked against enumeration: free energy, partition function, AIS, CD gradients, Gibbs marginals.

The "exact" values here never call the code under test: they enumerate the 2^D x 2^H joint states of E(v, h)
written out from the formula (or integrate numerically in the Gaussian case).
"""

from __future__ import annotations

import math

import pytest
import torch

from genzoo.math import annealed_importance_sampling, geometric_betas, log_mean_exp_stderr
from genzoo.models import create
from genzoo.models.energy import RBMLayer


def states(n: int) -> torch.Tensor:
    """All 2^n binary vectors, (2^n, n) float64."""
    return ((torch.arange(2**n)[:, None] >> torch.arange(n)) & 1).double()


def random_layer(d: int, h: int, scale: float = 0.5, kind: str = "bernoulli", sigma: float = 1.0, seed: int = 0):
    torch.manual_seed(seed)
    layer = RBMLayer(d, h, kind=kind, sigma=sigma).double()
    with torch.no_grad():
        layer.W.normal_(0, scale)
        layer.b.normal_(0, scale)
        layer.c.normal_(0, scale)
    return layer


def joint_energy(layer, v, h):
    """E(v, h) for every pair, (len(v), len(h)), from the formula."""
    W, b, c = layer.W.detach(), layer.b.detach(), layer.c.detach()
    if layer.kind == "gaussian":
        s = layer.sigma
        return ((v - b) ** 2).sum(1, keepdim=True) / (2 * s**2) - (h @ c)[None] - (v / s) @ W @ h.T
    return -(v @ b)[:, None] - (h @ c)[None] - v @ W @ h.T


def exact_log_p(layer):
    """log p(v) of every binary v by enumerating (v, h), (2^D,)."""
    v, h = states(layer.visible), states(layer.hidden)
    log_joint = -joint_energy(layer, v, h)
    unnorm = torch.logsumexp(log_joint, 1)
    return unnorm - torch.logsumexp(unnorm, 0)


# ---- free energy and partition function -------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["bernoulli", "gaussian"])
def test_free_energy_equals_marginalising_the_hidden_units(kind):
    layer = random_layer(5, 4, scale=0.8, kind=kind, sigma=0.7)
    g = torch.Generator().manual_seed(1)
    v = states(5)[torch.randint(0, 32, (20,), generator=g)] if kind == "bernoulli" else torch.randn(20, 5, generator=g,
                                                                                                 dtype=torch.float64)
    brute = -torch.logsumexp(-joint_energy(layer, v, states(4)), 1)
    with torch.no_grad():
        f = layer.free_energy(v)
        assert torch.allclose(f, brute, atol=1e-10)
        # the energy method agrees with the formula too, and a wrong sign of the bilinear term does not match
        h = states(4)
        assert torch.allclose(layer.energy(v[:16], h), joint_energy(layer, v[:16], h).diagonal(), atol=1e-10)
        layer.W.neg_()
        assert not torch.allclose(layer.free_energy(v), brute, atol=1e-3)


def test_exact_log_partition_bernoulli_by_both_enumerations():
    layer = random_layer(12, 10)
    v = states(12)
    with torch.no_grad():
        by_visibles = float(torch.logsumexp(-layer.free_energy(v), 0))
    by_joint = float(torch.logsumexp(-joint_energy(layer, v, states(10)).flatten(), 0))
    assert abs(by_visibles - by_joint) < 1e-9
    assert abs(layer.exact_log_partition() - by_joint) < 1e-9


def test_exact_log_partition_gaussian_against_numerical_integration():
    layer = random_layer(2, 3, scale=0.6, kind="gaussian", sigma=0.8)
    grid = torch.linspace(-8, 8, 801, dtype=torch.float64)
    dx = float(grid[1] - grid[0])
    v = torch.cartesian_prod(grid, grid)
    with torch.no_grad():
        numeric = float(torch.logsumexp(-layer.free_energy(v), 0)) + 2 * math.log(dx)
    assert abs(layer.exact_log_partition() - numeric) < 1e-6
    layer.sigma = 1.0  # the closed form depends on sigma: a mismatch is detected
    assert abs(layer.exact_log_partition() - numeric) > 0.1


# ---- AIS ---------------------------------------------------------------------------------------------------------
def _with_data_base_rate(layer, n=500, seed=0):
    """Base-rate statistics from n exact samples of the RBM itself (as training data would give)."""
    g = torch.Generator().manual_seed(seed)
    v = states(layer.visible)
    idx = torch.multinomial(exact_log_p(layer).exp(), n, replacement=True, generator=g)
    layer.base_sum.copy_(v[idx].sum(0))
    layer.base_count.fill_(n)
    return v[idx]


@pytest.mark.parametrize("base", ["data", "zero"])
def test_ais_log_z_within_a_tenth_of_a_nat_and_its_stderr_covers_the_error(base):
    """12 visible x 10 hidden, weights N(0, 0.5^2): AIS with 1,000 betas and 100 runs, four seeds."""
    layer = random_layer(12, 10)
    _with_data_base_rate(layer)
    exact = layer.exact_log_partition()
    for seed in range(4):
        r = layer.ais(betas=1000, runs=100, base=base, seed=seed)
        err = r["log_z"] - exact
        assert abs(err) < 0.1, (seed, err)
        assert abs(err) <= 3 * r["stderr"] + 1e-3, (seed, err, r["stderr"])
        assert r["lower"] <= r["log_z"]  # Jensen, for every set of weights
        assert abs(r["reverse"] - exact) < 0.1


def test_ais_with_a_wrong_transition_is_caught():
    """The other side: a transition that ignores beta (Gibbs of the target at every temperature) breaks the
    invariance, and its estimate misses by far more than 0.1 nats."""
    layer = random_layer(12, 10, scale=1.0)
    exact = layer.exact_log_partition()
    a = torch.zeros(12, dtype=torch.float64)
    log_f, good = layer._path(a)
    bad = lambda v, beta, g: good(v, 1.0, g)  # noqa: E731
    g = torch.Generator().manual_seed(0)
    x0 = torch.bernoulli(torch.full((100, 12), 0.5, dtype=torch.float64), generator=g)
    r_bad = annealed_importance_sampling(x0, log_f, bad, geometric_betas(100), g)
    r_good = annealed_importance_sampling(x0, log_f, good, geometric_betas(100), g)
    log_z0 = layer.base_log_partition(a)
    assert abs(float(r_bad.log_ratio) + log_z0 - exact) > 0.3
    assert abs(float(r_good.log_ratio) + log_z0 - exact) < 0.3


def test_reverse_ais_from_exact_samples_brackets_log_z():
    """Forward AIS underestimates log Z in expectation, reverse AIS from exact samples overestimates it. With few
    betas (10) and runs (5) the biases are visible: averaged over 200 repeats (measured 29.01 +- 0.08 and
    30.28 +- 0.07 around the exact 29.56), forward < exact < reverse by more than 3 standard errors."""
    layer = random_layer(12, 10, scale=1.0)
    exact = layer.exact_log_partition()
    a = torch.zeros(12, dtype=torch.float64)
    log_f, step = layer._path(a)
    log_z0 = layer.base_log_partition(a)
    g = torch.Generator().manual_seed(0)
    p = exact_log_p(layer).exp()
    fwd, rev = [], []
    for _ in range(200):
        x0 = torch.bernoulli(torch.full((5, 12), 0.5, dtype=torch.float64), generator=g)
        fwd.append(float(annealed_importance_sampling(x0, log_f, step, geometric_betas(10), g).log_ratio) + log_z0)
        xt = states(12)[torch.multinomial(p, 5, replacement=True, generator=g)]
        r = annealed_importance_sampling(xt, log_f, step, geometric_betas(10).flip(0), g)
        rev.append(log_z0 - float(r.log_ratio))
    f, r = torch.tensor(fwd), torch.tensor(rev)
    assert float(f.mean() + 3 * f.std() / math.sqrt(200)) < exact < float(r.mean() - 3 * r.std() / math.sqrt(200))


def test_gaussian_ais_against_the_closed_form():
    layer = random_layer(6, 8, scale=0.4, kind="gaussian", sigma=1.0)
    layer.base_sum.copy_(3.0 * layer.b.detach())
    layer.base_count.fill_(3)
    exact = layer.exact_log_partition()
    r = layer.ais(betas=500, runs=100, base="data", seed=0)
    assert abs(r["log_z"] - exact) < 0.1 and abs(r["log_z"] - exact) <= 3 * r["stderr"] + 1e-3


def test_log_mean_exp_stderr_is_the_delta_method():
    g = torch.Generator().manual_seed(0)
    log_w = torch.randn(1000, generator=g, dtype=torch.float64) * 0.5 + 40.0
    w = (log_w - 40).exp()
    est, se = log_mean_exp_stderr(log_w)
    assert abs(float(est) - (40 + math.log(float(w.mean())))) < 1e-10
    assert abs(float(se) - float(w.std() / (math.sqrt(1000) * w.mean()))) < 1e-10
    betas = geometric_betas(14500)
    assert len(betas) == 14501 and float(betas[500]) == pytest.approx(0.5) and float(betas[4500]) == pytest.approx(0.9)
    assert bool((betas[1:] > betas[:-1]).all()) and float(betas[-1]) == 1.0


# ---- CD gradient and Gibbs sampling ------------------------------------------------------------------------------
def _exact_gradient(layer, data):
    """d/dtheta of the mean exact log-likelihood of `data`, by enumeration (autograd through log Z)."""
    layer.zero_grad()
    log_z = torch.logsumexp(-layer.free_energy(states(layer.visible)), 0)
    (-(-layer.free_energy(data).mean() - log_z)).backward()  # gradient of the NLL, like the surrogate loss
    return torch.cat([p.grad.flatten().clone() for p in (layer.W, layer.b, layer.c)])


def _cd_gradient(layer, data, k, repeats, seed=0):
    layer.zero_grad()
    g = torch.Generator().manual_seed(seed)
    out = layer.cd_loss(data.repeat(repeats, 1), "cd", k, g, update_chains=False)
    out["loss"].backward()
    return torch.cat([p.grad.flatten().clone() for p in (layer.W, layer.b, layer.c)])


def test_cd_gradient_agrees_in_sign_with_the_exact_gradient():
    """CD-1 and CD-5 (averaged over 100 chains per data point) against the enumerated likelihood gradient on a
    12 x 10 RBM (weights N(0, 1)): measured sign agreement 94% (CD-1) and 100% (CD-5) of the 142 parameters; a
    gradient whose negative phase ignores the model (uniform random v) agrees on 77% only."""
    target = random_layer(12, 10, scale=1.0, seed=1)
    data = _with_data_base_rate(target, n=200, seed=3)
    layer = random_layer(12, 10, scale=1.0, seed=2)
    exact = _exact_gradient(layer, data)
    for k, need in ((1, 0.9), (5, 0.95)):
        cd = _cd_gradient(layer, data, k, repeats=100)
        agree = float((torch.sign(cd) == torch.sign(exact)).double().mean())
        assert agree >= need, (k, agree)
    layer.zero_grad()
    noise = torch.bernoulli(torch.full((20000, 12), 0.5, dtype=torch.float64))
    (layer.free_energy(data).mean() - layer.free_energy(noise).mean()).backward()
    wrong = torch.cat([p.grad.flatten() for p in (layer.W, layer.b, layer.c)])
    assert float((torch.sign(wrong) == torch.sign(exact)).double().mean()) < 0.85


def test_gibbs_sampling_reaches_the_exact_marginals():
    """4,000 independent chains, 300 sweeps: p(v_i = 1) within 4 standard errors of the enumerated marginals (and
    the test notices a chain that is not run: the start distribution is 4+ SE off)."""
    layer = random_layer(12, 10, scale=1.0)
    p = exact_log_p(layer).exp()
    marg = (p[:, None] * states(12)).sum(0)
    g = torch.Generator().manual_seed(0)
    v0 = torch.bernoulli(torch.full((4000, 12), 0.5, dtype=torch.float64), generator=g)
    se = (marg * (1 - marg) / 4000).sqrt()
    assert float(((v0.mean(0) - marg).abs() / se).max()) > 4
    v = layer.gibbs(v0, 300, g)
    z = (v.mean(0) - marg).abs() / se
    assert float(z.max()) < 4, z


# ---- the model ---------------------------------------------------------------------------------------------------
def _tiny(**kw):
    torch.manual_seed(0)
    cfg = dict(data_shape=(8,), hidden=6, chains=16, ais_betas=500, ais_runs=50, init_std=0.5)
    return create("rbm", **{**cfg, **kw})


def test_log_prob_is_normalised_over_all_binary_inputs():
    m = _tiny()
    x = states(8).float()
    total = float(torch.logsumexp(m.log_prob(x).double(), 0))
    log_z, se = m.log_partition()
    assert abs(total) < 0.1 and abs(total) <= 3 * se + 1e-3
    assert abs(log_z - m.layer.exact_log_partition()) < 0.1
    assert m.bits_per_dim(x[:2]).shape == (2,) and m.bpd_bins == 1


def test_log_z_is_recomputed_after_training_and_loading_never_stale():
    m = _tiny()
    first = m.partition_summary()
    assert m.partition_summary() is first  # cached for the same parameters
    opt = torch.optim.SGD(m.parameters(), lr=0.5)
    x = torch.bernoulli(torch.full((32, 8), 0.8))
    m.train()
    m.loss(type("B", (), {"x": x, "y": None})())["loss"].backward()
    opt.step()
    after = m.partition_summary()
    assert after is not first and abs(after["log_z"] - m.layer.exact_log_partition()) < 0.1
    other = _tiny(init_std=1.0)
    m.load_state_dict(other.state_dict())
    loaded = m.partition_summary()
    assert loaded is not after and abs(loaded["log_z"] - other.layer.exact_log_partition()) < 0.1


def test_pcd_chains_and_base_rate_are_model_state():
    m = _tiny()
    from genzoo.models import Batch

    x = torch.bernoulli(torch.full((16, 8), 0.7))
    m.train()
    m.loss(Batch(x))
    assert bool(m.layer.ready)  # data-dependent init done (visible biases, chains from the batch)
    chains = m.layer.chains.clone()
    m.eval()
    with torch.no_grad():
        m.loss(Batch(x))  # evaluation leaves the chains and the statistics alone
    assert torch.equal(chains, m.layer.chains) and float(m.layer.base_count) == 16
    m.train()
    m.loss(Batch(x))
    assert not torch.equal(chains, m.layer.chains)
    assert torch.allclose(torch.sigmoid(m.base_rate()), (2 * x.sum(0) / 32).double().clamp(1e-3, 1 - 1e-3))
